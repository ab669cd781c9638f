"""The owner's budgets: `daily_budget` and `monthly_budget` in dollars, checked before a call
to a model is started. A call already in flight when a budget is reached may finish, so two
workers reaching it at once spend past it by at most the calls they had under way.

Past a budget, `budget_action` says what customers get (see webapp/replies/pipeline.py);
everything else that would spend (flows, Try it, Compare, transcriptions, embeddings) is
refused with `budget_exceeded`.
"""

from dataclasses import dataclass
from decimal import Decimal

from .. import settings
from ..clients.openrouter_errors import OpenRouterError
from ..display.money import exact_dollars
from ..extensions import db
from ..troubleshooting import ErrorKind
from . import spending

NEAR = 0.8  # the share of a budget at which the owner is told
# What customers get once a budget is spent, by `budget_action`, in the owner's words.
ACTIONS = {
    "cheapest": "customers are answered by the cheapest model of your table",
    "fallback_reply": "customers get the fallback reply and are handed over to you",
    "handoff": "customers get the handoff reply and are handed over to you",
}
SETTINGS = ("daily_budget", "monthly_budget", "budget_action")


def plain(value: float) -> str:
    """A cost as a message's plain text (no HTML): $12.50, or every digit under a cent."""
    return exact_dollars(value) if 0 < value < 0.01 else f"${value:,.2f}"


def dollars(value) -> float | None:
    """A `dollars` setting's amount, or None when it is empty (no budget, no limit)."""
    text = str(value or "").strip()
    return float(Decimal(text)) if text else None


@dataclass(frozen=True)
class Budget:
    """The budgets in force and what was spent against them, looked at once."""

    daily: float | None
    monthly: float | None
    spent_today: float
    spent_month: float
    action: str  # budget_action: cheapest, fallback_reply, handoff

    def _periods(self):
        yield "daily", self.daily, self.spent_today
        yield "monthly", self.monthly, self.spent_month

    @property
    def spent(self) -> str | None:
        """ "daily" or "monthly" when that budget is spent (the month's first), else None."""
        found = [name for name, limit, used in self._periods()
                 if limit is not None and used >= limit]  # fmt: skip
        return found[-1] if found else None

    @property
    def near(self) -> str | None:
        """ "daily" or "monthly" when that budget is at NEAR or more of its amount."""
        found = [name for name, limit, used in self._periods()
                 if limit is not None and used >= NEAR * limit]  # fmt: skip
        return found[-1] if found else None

    def of(self, period: str) -> tuple[float | None, float]:
        """The budget of `period` ("daily" or "monthly") and what was spent in it."""
        return next((limit, used) for name, limit, used in self._periods() if name == period)

    def share(self, period: str) -> float | None:
        """What part of the budget of `period` is spent (1.0 = all; past it, more)."""
        limit, used = self.of(period)
        if limit is None:
            return None
        return used / limit if limit else (1.0 if used >= 0 else 0.0)

    def words(self) -> str:
        """The budget that is spent, in the owner's words (empty when none is)."""
        period = self.spent
        if period is None:
            return ""
        limit, used = self.of(period)
        when = "today" if period == "daily" else "this month"
        return f"The {period} budget of {plain(limit)} is spent ({plain(used)} {when})."


def look(snap) -> Budget:
    """The budgets of `snap` against what the log says was spent (two sums of the log, in a
    transaction ended at once: none is held while the model answers; none when no budget is
    set)."""
    daily, monthly = dollars(snap["daily_budget"]), dollars(snap["monthly_budget"])
    today = month = 0.0
    if daily is not None or monthly is not None:
        today, month = spending.spent_today_and_month()
        db.session.commit()
    return Budget(daily, monthly, today, month, str(snap["budget_action"]))


def exceeded(budget: Budget) -> OpenRouterError:
    return OpenRouterError(
        ErrorKind.BUDGET_EXCEEDED,
        f"{budget.words()} Nothing was sent to the model. Raise the budget on the Settings "
        "page, or wait for the next day or month.",
    )


def check(snap) -> Budget:
    """The budget as it stands, or OpenRouterError(budget_exceeded) when one is spent: for
    what is refused past the budget. Customers' turns look first and act (`budget_action`)."""
    budget = look(snap)
    if budget.spent is not None:
        raise exceeded(budget)
    return budget


def refusal(what: str) -> str | None:
    """Why `what` (Try it, a comparison) cannot start now, in the owner's words: a budget is
    spent. None when it can. Reads the settings as they are now."""
    looked = look({name: settings.get(name) for name in SETTINGS})
    if looked.spent is None:
        return None
    period = "day" if looked.spent == "daily" else "month"
    return (
        f"{looked.words()} {what} starts nothing past it: raise the budget on the Settings page "
        f"(Money), or wait for the next {period}."
    )

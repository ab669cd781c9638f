"""The cost card: what the assistant cost in one of the owner's months, as the dashboard and
`flask --app wsgi costs` show it."""

import re
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from .. import settings, state
from ..display import times
from ..display.money import CENT, exact_dollars
from ..extensions import db
from ..models import RequestLog, WhatsAppCharge, utcnow
from . import budget, spending

RL = RequestLog
META_PRICING = "https://developers.facebook.com/docs/whatsapp/pricing"
MONTH = re.compile(r"\d{4}-\d{2}")
# Like the dashboard's other figures (webapp/stats.py): summed at each view while that is
# quick; on a big log, the sums the worker keeps (every minute) while they are this fresh.
# The budgets' bars and banner are read at each view whatever the size: a change shows at once.
KEPT_AS = "cost_card"
KEPT_FOR = timedelta(minutes=3)
QUICK_ENOUGH_MS = 200


def parse_month(text: str) -> date:
    """A month written YYYY-MM, or ValueError saying how to write it."""
    raw = (text or "").strip()
    try:
        if not MONTH.fullmatch(raw):
            raise ValueError
        month = datetime.strptime(raw + "-01", "%Y-%m-%d").date()
    except ValueError:
        raise ValueError(
            f"'{raw}' is not a month: write it as YYYY-MM, for example 2026-01."
        ) from None
    if not 1970 <= month.year <= 9998:  # the moments of the month must be writable in UTC
        raise ValueError(f"'{raw}' is too far off: choose a month from 1970 to 9998.")
    return month


def plain(value: float) -> str:
    """Dollars as plain text (a page escapes it, a terminal prints it): under a cent, exactly."""
    if 0 < value < CENT:
        return f"< $0.01 ({exact_dollars(value)})"
    return f"${value:,.2f}"


@dataclass(frozen=True)
class Bar:
    """One budget against what was spent in its period."""

    period: str  # daily, monthly
    amount: float
    spent: float
    share: float  # 1.0 = all of it

    @property
    def percent(self) -> int:
        return int(self.share * 100)

    def words(self) -> str:
        when = "today" if self.period == "daily" else "this month"
        return (
            f"{plain(self.spent)} of the {self.period} budget of "
            f"{plain(self.amount)} spent {when} ({self.percent} %)."
        )


@dataclass
class Card:
    month: date  # its first day
    current: bool
    total: float
    projection: float | None  # to the month's end, at the pace so far; the current month only
    elapsed: float  # the share of the month gone by (1.0 for a past month)
    by_channel: list[tuple[str, str, float]]  # (name in SPENT_ON, the owner's words, dollars)
    by_model: list[tuple[str, float, int]]  # (model, dollars, calls)
    bars: list[Bar] = field(default_factory=list)
    meta: list[tuple[bool, str, int]] = field(default_factory=list)  # (billable, category, n)
    computed_at: datetime | None = None
    took_ms: int = 0

    @property
    def label(self) -> str:
        return self.month.strftime("%B %Y")

    @property
    def key(self) -> str:
        return self.month.strftime("%Y-%m")

    @property
    def meta_billable(self) -> int:
        return sum(n for billable, _, n in self.meta if billable)

    @property
    def meta_free(self) -> int:
        return sum(n for billable, _, n in self.meta if not billable)

    def projection_words(self) -> str:
        if self.projection is None:
            return "A past month: nothing to project."
        return (
            f"About {plain(self.projection)} by the end of {self.label}, if the "
            f"pace so far ({int(self.elapsed * 100)} % of the month gone) goes on."
        )


def _by_model(start, end) -> list[tuple[str, float, int]]:
    model = func.coalesce(RL.model_used, RL.model_requested)
    cost = func.coalesce(func.sum(RL.cost), 0.0)
    query = (
        select(model, cost, func.count())
        .where(RL.created_at >= start, RL.created_at < end, model.is_not(None))
        .group_by(model)
        .order_by(cost.desc(), model)
    )
    return [(name, float(dollars), calls) for name, dollars, calls in db.session.execute(query)]


def _by_channel(start, end) -> list[tuple[str, str, float]]:
    where = spending.spent_on()
    query = (
        select(where, func.coalesce(func.sum(RL.cost), 0.0))
        .where(RL.created_at >= start, RL.created_at < end)
        .group_by(where)
    )
    found = {name: float(dollars) for name, dollars in db.session.execute(query)}
    return [(name, words, found.get(name, 0.0)) for name, words in spending.SPENT_ON.items()]


def _meta(start, end) -> list[tuple[bool, str, int]]:
    W = WhatsAppCharge
    category = func.coalesce(W.category, "unknown")
    query = (
        select(W.billable, category, func.count())
        .where(W.created_at >= start, W.created_at < end)
        .group_by(W.billable, category)
        .order_by(W.billable.desc(), category)
    )
    return [(bool(b), c, n) for b, c, n in db.session.execute(query)]


def banner(look: budget.Budget) -> str:
    """The dashboard's warning when a budget is spent or at 80 % or more (empty otherwise)."""
    if look.spent:
        action = budget.ACTIONS[look.action]
        return (
            f"{look.words()} Until it is raised or the period ends, {action}; flows, Try it "
            "and Compare are refused."
        )
    if look.near:
        amount = look.monthly if look.near == "monthly" else look.daily
        when = "this month's" if look.near == "monthly" else "today's"
        percent = int((look.share(look.near) or 0) * 100)
        return f"You have used {percent} % of {when} budget of {plain(amount)}."
    return ""


def bars(look: budget.Budget) -> list[Bar]:
    """The budgets set, each with its share spent (none when no budget is set)."""
    found = []
    for period, amount, used in (
        ("monthly", look.monthly, look.spent_month),
        ("daily", look.daily, look.spent_today),
    ):
        if amount is not None:
            found.append(Bar(period, amount, used, look.share(period) or 0.0))
    return found


def figures(month: date | None = None, look: budget.Budget | None = None) -> Card:
    """The card of `month` (the owner's current month when None); `look` is the budget as
    the caller already read it (read here when None)."""
    started = datetime.now(UTC)
    this_month = spending.month_of(times.today())
    month = spending.month_of(month or this_month)
    start, end = spending.month_bounds(month)
    total = spending.spent(start, end)
    current = month == this_month
    elapsed, projection = 1.0, None
    if current:
        elapsed = min(1.0, max((utcnow() - start) / (end - start), 1e-6))
        projection = total / elapsed
    card = Card(
        month, current, total, projection, elapsed, _by_channel(start, end), _by_model(start, end)
    )
    card.meta = _meta(start, end)
    card.computed_at = started
    card.took_ms = int((datetime.now(UTC) - started).total_seconds() * 1000)
    if current:
        card.bars = bars(look or budget.look(settings.read()))
    return card


def refresh() -> None:
    """Sum this month's card and keep it, for the dashboard of a big log (a worker's job)."""
    found = asdict(figures(look=budget.Budget(None, None, 0.0, 0.0, "")))
    found.update(month=found["month"].isoformat(), computed_at=found["computed_at"].isoformat())
    found.pop("bars")
    state.put(KEPT_AS, found)


def latest(look: budget.Budget) -> Card:
    """This month's card for the dashboard: summed now when that is quick, else the one the
    worker keeps while it is fresh; its budgets always as `look` has them now."""
    kept = state.get(KEPT_AS)
    this_month = spending.month_of(times.today())
    if kept and kept.get("took_ms", 0) >= QUICK_ENOUGH_MS:
        at = datetime.fromisoformat(kept["computed_at"])
        if date.fromisoformat(kept["month"]) == this_month and utcnow() - at < KEPT_FOR:
            return Card(
                month=this_month, current=True, total=kept["total"],
                projection=kept["projection"], elapsed=kept["elapsed"],
                by_channel=[tuple(row) for row in kept["by_channel"]],
                by_model=[tuple(row) for row in kept["by_model"]], bars=bars(look),
                meta=[tuple(row) for row in kept["meta"]], computed_at=at,
                took_ms=kept["took_ms"],
            )  # fmt: skip
    return figures(look=look)

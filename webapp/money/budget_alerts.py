"""The owner told that a budget is nearly (budget.NEAR) or fully spent: once per period and
level, however many workers and turns find it at once.

Each alert claims an app_state row named for its budget, period and level with one
conditional insert in the transaction that queues it, so only the first claim queues one.
Checked by the worker's `budget` job and at once by a customer's turn that finds it spent.
"""

from flask import current_app
from sqlalchemy import func, select

from ..display import times
from ..extensions import db, dialect_insert
from ..models import AppState, utcnow
from ..people import alerts
from ..snapshot import Snapshot
from . import budget

PREFIX = "budget_alert:"
LEVELS = (("spent", 1.0), ("near", budget.NEAR))  # the highest first


def claim_name(period: str, level: str) -> str:
    """The app_state row that says this level of this period's budget was told."""
    today = times.today()
    when = today.isoformat() if period == "daily" else today.strftime("%Y-%m")
    return f"{PREFIX}{period}:{when}:{level}"


def _claimed(name: str) -> bool:
    # RETURNING, not rowcount: an ORM insert on PostgreSQL does not count its rows.
    inserted = db.session.execute(
        dialect_insert(AppState)
        .values(name=name, value="{}", updated_at=utcnow())
        .on_conflict_do_nothing()
        .returning(AppState.name)
    ).first()
    return inserted is not None


def tell_owner(looked: budget.Budget, snap) -> list[str]:
    """Queue the owner's alert for each budget at a level not told yet in this period, in the
    caller's transaction; returns the messages queued. Reaching 100 % at once claims 80 % too,
    and only the 100 % alert is sent."""
    told = []
    for period in ("daily", "monthly"):
        share = looked.share(period)
        if share is None:
            continue
        reached = [level for level, at in LEVELS if share >= at]
        # Every level reached is claimed (no 80 % alert after the 100 % one); the highest speaks.
        fresh = [level for level in reached if _claimed(claim_name(period, level))]
        if fresh and fresh[0] == reached[0]:
            words = message(looked, period, reached[0])
            alerts.queue_note(words, snap)
            told.append(words)
    return told


def message(looked: budget.Budget, period: str, level: str) -> str:
    """The alert's whole text, in the owner's words."""
    limit, used = looked.of(period)
    when = "today" if period == "daily" else "this month"
    spent = f"{budget.plain(used)} of the {period} budget of {budget.plain(limit)}"
    if level == "near":
        return (f"Switchboard has spent {spent} {when} ({int(budget.NEAR * 100)} % or more). "
                "At 100 % 'When the budget is spent' applies.")  # fmt: skip
    action = budget.ACTIONS[looked.action]
    return (f"Switchboard has spent {spent} {when}: the budget is spent. Until the next "
            f"{'day' if period == 'daily' else 'month'} or a higher budget (Settings), {action}; "
            "flows, Try it, Compare, transcriptions and embeddings are refused.")  # fmt: skip


def check() -> int:
    """The worker's job: look at the budgets and tell the owner what is new. Returns how many
    alerts were queued."""
    snap = Snapshot.load(current_app.config)
    looked = budget.look(snap)
    told = tell_owner(looked, snap) if looked.near is not None else []
    db.session.commit()
    return len(told)


def told_names() -> list[str]:
    """The budget alerts claimed so far (for tests and the CLI)."""
    return list(db.session.scalars(
        select(AppState.name).where(func.substr(AppState.name, 1, len(PREFIX)) == PREFIX)
    ))  # fmt: skip

"""What was spent: the sum of the request log's costs over the owner's days and months.

The log is the one record of spending: every call Switchboard pays for is a row with its cost
(`usage.cost`, or the catalog's prices). A day and a month are the owner's (`timezone`).
"""

import threading
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select

from ..display import times
from ..extensions import db
from ..models import PLAYGROUND, RequestLog, utcnow

RL = RequestLog
# The channels of the cost card, in its order, with the owner's name for each. Reading files
# and making vectors (transcriptions, document readings, embeddings) count apart from the
# chats they served, whichever channel asked.
FILES_AND_VECTORS = ("transcription", "reading", "embedding")
SPENT_ON = {
    "customers": "Customers on WhatsApp",
    "flows": "Flows",
    "testing": "Try it and Compare",
    "media": "Voice notes, documents and knowledge",
}
# Rows logged before the moment they were counted, at most: a row's time is taken before its
# transaction commits. A day is only cached once it ended longer ago than this.
SETTLED_AFTER = timedelta(minutes=1)


def spent_on():
    """Which of SPENT_ON a log row's cost counts for, as a SQL expression."""
    return case(
        (RL.operation.in_(FILES_AND_VECTORS), "media"),
        (RL.channel == "knowledge", "media"),
        (RL.channel == PLAYGROUND, "testing"),
        (RL.channel == "flow", "flows"),
        else_="customers",
    )


def is_spent_on(name: str):
    """The SQL condition for the rows of one of SPENT_ON (the log's filter uses it)."""
    return spent_on() == name


def month_of(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """The owner's month as moments in UTC: its first midnight and the next month's."""
    return times.day_start(month), times.day_start(next_month(month))


def spent(since: datetime, until: datetime | None = None, *conditions) -> float:
    """Dollars the log's rows from `since` to `until` (excluded) cost."""
    query = select(func.coalesce(func.sum(RL.cost), 0.0)).where(RL.created_at >= since, *conditions)
    if until is not None:
        query = query.where(RL.created_at < until)
    return float(db.session.scalar(query) or 0.0)


_earlier: dict[tuple, float] = {}  # (database, month, today) → the month's earlier days
_lock = threading.Lock()


def spent_today_and_month() -> tuple[float, float]:
    """Dollars spent today and this month so far, in the owner's zone. Today's rows are summed
    at each call; the month's earlier days once a day per process (they no longer change)."""
    today = times.today()
    today_start = times.day_start(today)
    now_spent = spent(today_start)
    month = month_of(today)
    if month == today:
        return now_spent, now_spent
    key = (str(db.engine.url), month, today)
    with _lock:
        earlier = _earlier.get(key)
    if earlier is None:
        earlier = spent(times.day_start(month), today_start)
        if utcnow() - today_start > SETTLED_AFTER:
            with _lock:
                _earlier.clear()
                _earlier[key] = earlier
    return now_spent, now_spent + earlier


def forget() -> None:
    """Drop the cached sum of earlier days (tests write log rows into past days)."""
    with _lock:
        _earlier.clear()

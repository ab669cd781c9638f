"""Figures for the dashboard, computed from messages and the request log, kept for a minute."""

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import case, func, select

from . import state
from .display import times
from .extensions import db
from .models import PLAYGROUND, Message, RequestLog
from .states import SENT

DAYS = 14
# Customers' messages only: the Try it page's are the owner's own (its calls are still counted
# in the log's figures, like every call to a model).
CUSTOMERS = Message.channel != PLAYGROUND
# The worker refreshes the figures every minute; older than this, the page computes them itself
# (and does not keep them: only the worker writes them).
SNAPSHOT_MAX_AGE = timedelta(minutes=3)
QUICK_ENOUGH_MS = 200  # figures that take less are computed for every page view
# The owner's own tests (Compare, Try it) cost money too, but they are not what answering
# customers costs: their cost is counted apart.
TESTING = RequestLog.channel == "playground"


@dataclass
class Figures:
    messages_in: int = 0
    replies_out: int = 0
    attempts: int = 0
    errors: int = 0
    median_ms: int | None = None
    p95_ms: int | None = None
    tokens: int = 0
    cost: float = 0.0  # answering customers, on WhatsApp and through flows
    test_cost: float = 0.0  # the owner's tests

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.attempts if self.attempts else None


@dataclass
class Day:
    day: date
    messages_in: int = 0
    replies_out: int = 0
    errors: dict[str, int] = field(default_factory=dict)


@dataclass
class ModelRow:
    model: str
    requests: int
    ok: int
    median_ms: int | None
    cost: float
    test_cost: float = 0.0

    @property
    def success_rate(self) -> float:
        return self.ok / self.requests if self.requests else 0.0


def start_of_day(day: date) -> datetime:
    """The owner's midnight: their days, not UTC's, are the dashboard's days."""
    return times.day_start(day)


def today() -> date:
    return times.today()


def window(days: int) -> datetime:
    return start_of_day(today() - timedelta(days=days - 1))


def figures(since: datetime) -> Figures:
    out = Figures()
    out.messages_in, out.replies_out = _message_counts(since)
    ok = RequestLog.status == "ok"
    row = db.session.execute(
        select(
            func.count(),
            func.sum(case((ok, 0), else_=1)),
            func.sum(
                func.coalesce(RequestLog.prompt_tokens, 0)
                + func.coalesce(RequestLog.completion_tokens, 0)
            ),
            *_costs(),
        ).where(RequestLog.created_at >= since)
    ).one()
    out.attempts, out.errors = row[0] or 0, row[1] or 0
    out.tokens, out.cost, out.test_cost = int(row[2] or 0), float(row[3] or 0), float(row[4] or 0)
    model_calls = (RequestLog.created_at >= since, ok, RequestLog.upstream == "openrouter")
    out.median_ms = latency_percentile(0.5, *model_calls)
    out.p95_ms = latency_percentile(0.95, *model_calls)
    return out


def _costs() -> tuple:
    """Customers' cost and the owner's testing cost, as two sums of one query."""
    cost = func.coalesce(RequestLog.cost, 0.0)
    return func.sum(case((TESTING, 0.0), else_=cost)), func.sum(case((TESTING, cost), else_=0.0))


def _message_counts(since: datetime) -> tuple[int, int]:
    replies = (Message.direction == "out") & Message.state.in_(SENT)
    row = db.session.execute(
        select(
            func.sum(case((Message.direction == "in", 1), else_=0)),
            func.sum(case((replies, 1), else_=0)),
        ).where(Message.created_at >= since, CUSTOMERS)
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def latency_percentile(share: float, *conditions) -> int | None:
    """The latency below which `share` of the matching attempts finished (nearest rank)."""
    count = db.session.scalar(select(func.count()).where(*conditions).select_from(RequestLog))
    if not count:
        return None
    rank = min(count - 1, int(share * count))
    query = (
        select(RequestLog.latency_ms)
        .where(*conditions, RequestLog.latency_ms.is_not(None))
        .order_by(RequestLog.latency_ms)
        .offset(rank)
        .limit(1)
    )
    return db.session.scalar(query)


def _day_of(column, starts: list[datetime]):
    """Which of the owner's days a moment falls on, as an index into `starts` (the days'
    midnights in UTC, and the next day's after the last): -1 for one after the last day.
    Compared with each midnight rather than shifted by one offset, so a day that changes to
    or from summer time is counted whole."""
    ends = [(column < start, index) for index, start in enumerate(starts[1:])]
    return case(*ends, else_=-1).label("day_index")


def per_day(days: int = DAYS) -> list[Day]:
    first = today() - timedelta(days=days - 1)
    entries = [Day(first + timedelta(days=n)) for n in range(days)]
    starts = [start_of_day(entry.day) for entry in entries]
    starts.append(start_of_day(first + timedelta(days=days)))
    day_of = _day_of(Message.created_at, starts)
    replies = (Message.direction == "out") & Message.state.in_(SENT)
    for index, inbound, outbound in db.session.execute(
        select(
            day_of,
            func.sum(case((Message.direction == "in", 1), else_=0)),
            func.sum(case((replies, 1), else_=0)),
        )
        .where(Message.created_at >= starts[0], CUSTOMERS)
        .group_by("day_index")
    ):
        if index >= 0:
            entries[index].messages_in = int(inbound or 0)
            entries[index].replies_out = int(outbound or 0)
    log_day = _day_of(RequestLog.created_at, starts)
    for index, kind, count in db.session.execute(
        select(log_day, RequestLog.error_kind, func.count())
        .where(RequestLog.created_at >= starts[0], RequestLog.status == "error")
        .group_by("day_index", RequestLog.error_kind)
    ):
        if index >= 0:
            entries[index].errors[kind or "unknown"] = count
    return entries


def top_errors(since: datetime, limit: int = 5) -> list[tuple[str, int]]:
    query = (
        select(RequestLog.error_kind, func.count().label("n"))
        .where(RequestLog.created_at >= since, RequestLog.status == "error")
        .group_by(RequestLog.error_kind)
        .order_by(func.count().desc())
        .limit(limit)
    )
    return [(kind or "unknown", count) for kind, count in db.session.execute(query)]


def per_model(since: datetime) -> list[ModelRow]:
    model = func.coalesce(RequestLog.model_used, RequestLog.model_requested)
    query = (
        select(
            model,
            func.count(),
            func.sum(case((RequestLog.status == "ok", 1), else_=0)),
            *_costs(),
        )
        .where(RequestLog.created_at >= since, RequestLog.upstream == "openrouter")
        .group_by(model)
        .order_by(func.count().desc())
    )
    rows = []
    for name, requests, ok, cost, test_cost in db.session.execute(query):
        median = latency_percentile(
            0.5,
            RequestLog.created_at >= since,
            RequestLog.status == "ok",
            model == name,
        )
        spent = float(cost or 0.0), float(test_cost or 0.0)
        rows.append(ModelRow(name or "—", requests, int(ok or 0), median, *spent))
    return rows


@dataclass
class Snapshot:
    """Everything the dashboard shows, computed at once (seconds of work at a million rows)."""

    computed_at: datetime
    today: Figures
    fortnight: Figures
    days: list[Day]
    top_errors: list[tuple[str, int]]
    models: list[ModelRow]
    took_ms: int = 0


def compute() -> Snapshot:
    since, started = window(DAYS), datetime.now(UTC)
    snap = Snapshot(
        computed_at=started,
        today=figures(window(1)),
        fortnight=figures(since),
        days=per_day(),
        top_errors=top_errors(since),
        models=per_model(since),
    )
    snap.took_ms = int((datetime.now(UTC) - started).total_seconds() * 1000)
    return snap


def refresh() -> Snapshot:
    """Compute the figures and keep them, so the dashboard itself only reads them."""
    snap = compute()
    state.put("dashboard", _to_json(snap))
    return snap


def latest(max_age: timedelta = SNAPSHOT_MAX_AGE) -> Snapshot:
    """Figures computed now when that is quick; on a big database, the ones the worker keeps
    (refreshed every minute) while they are fresh. Only reads: a page that wrote would fail
    while another process holds the database's write lock."""
    stored = state.get("dashboard")
    if stored:
        snap = _from_json(stored)
        slow = snap.took_ms >= QUICK_ENOUGH_MS
        if slow and datetime.now(UTC) - snap.computed_at < max_age:
            return snap
    return compute()


def _to_json(snap: Snapshot) -> dict:
    data = asdict(snap)
    data["computed_at"] = snap.computed_at.isoformat()
    for day in data["days"]:
        day["day"] = day["day"].isoformat()
    return data


def _from_json(data: dict) -> Snapshot:
    return Snapshot(
        computed_at=datetime.fromisoformat(data["computed_at"]),
        today=Figures(**data["today"]),
        fortnight=Figures(**data["fortnight"]),
        days=[
            Day(date.fromisoformat(d["day"]), d["messages_in"], d["replies_out"], d["errors"])
            for d in data["days"]
        ],
        top_errors=[tuple(pair) for pair in data["top_errors"]],
        models=[ModelRow(**row) for row in data["models"]],
        took_ms=data.get("took_ms", 0),
    )

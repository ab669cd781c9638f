"""Reads the request log for the log page and the CSV: filters, keyset pages, batches, details."""

import json
import re
from collections import namedtuple
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta

from sqlalchemy import Select, and_, exists, func, or_, select, union

from .. import state
from ..contacts import normalise_number
from ..display import times
from ..extensions import db
from ..models import Contact, Message, RequestLog
from ..money import card, spending
from ..troubleshooting import TROUBLES, ErrorKind

PAGE_SIZE = 50
BATCH_SIZE = 2000  # CSV rows read per query: memory stays flat whatever the export's size
# A text search reads the customer's message and the reply of this many log rows per page at
# most, so a word that is rare (or absent) costs one bounded scan instead of the whole log.
SCAN_LIMIT = 20_000
CHANNELS = ("whatsapp", "flow", "playground", "knowledge")  # knowledge: embedding it
STATUSES = ("ok", "error")
TEXT_FILTERS = ("model", "contact", "q")
# A call that is neither a chat nor a send, in the owner's words.
OPERATIONS = {
    "media": "Media download",
    "transcription": "Transcription",
    "reading": "Document reading",
    "embedding": "Embedding",
    "echo": "Sent from the Business app",
}
SECRET = re.compile(r"(sk-or-)[\w\-]+|(Bearer\s+)[^\s\"',]+", re.IGNORECASE)

RL = RequestLog
LOG_FIELDS = [
    "id", "created_at", "channel", "upstream", "operation", "message_id", "attempt",
    "model_requested", "model_used", "status", "http_status", "error_kind", "latency_ms",
    "prompt_tokens", "completion_tokens", "cost",
]  # fmt: skip
CONTACT_FIELDS = ["customer_id", "phone", "profile_name", "username", "saved_name"]
ROW_COLUMNS = [getattr(RL, n) for n in LOG_FIELDS] + [getattr(Contact, n) for n in CONTACT_FIELDS]
# Rows as plain named tuples: the CSV reads a dozen fields of 100,000s of rows, and a
# namedtuple's attributes cost a tenth of a SQLAlchemy Row's.
LogRow = namedtuple("LogRow", LOG_FIELDS + CONTACT_FIELDS)


@dataclass
class Filters:
    """What the owner asked to see; `errors` holds a message per filter that made no sense."""

    since: date | None = None
    until: date | None = None
    month: date | None = None  # its first day: the owner's month, within since and until
    spent_on: str | None = None  # one of spending.SPENT_ON: what the cost card counts it for
    channel: str | None = None
    model: str | None = None
    status: str | None = None
    kind: str | None = None
    contact: str | None = None
    q: str | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def args(self) -> dict[str, str]:
        """The filters as a query string, for links that keep them (Older, CSV)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "errors"}
        if self.month:
            values["month"] = self.month.strftime("%Y-%m")
        return {name: str(value) for name, value in values.items() if value}


def _day(args: Mapping[str, str], name: str, errors: dict[str, str]) -> date | None:
    raw = (args.get(name) or "").strip()
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError:
        errors[name] = f"'{raw}' is not a date: write it as YYYY-MM-DD, for example 2026-01-31."
        return None
    if not 1970 <= day.year <= 9998:  # the day after it must be writable as a moment too
        errors[name] = f"'{raw}' is too far off: choose a day from 1970 to 9998."
        return None
    return day


def _month(args: Mapping[str, str], errors: dict[str, str]) -> date | None:
    raw = (args.get("month") or "").strip()
    if not raw:
        return None
    try:
        return card.parse_month(raw)
    except ValueError as exc:
        errors["month"] = str(exc)
        return None


def _choice(args, name: str, allowed, what: str, errors: dict[str, str]) -> str | None:
    raw = (args.get(name) or "").strip()
    if raw and raw not in allowed:
        choices = f"one of {', '.join(allowed)}" if len(allowed) < 5 else "one from the list"
        errors[name] = f"'{raw}' is not {what}: choose {choices}."
        return None
    return raw or None


def filters_from(args: Mapping[str, str]) -> Filters:
    """Read and check the filters of a query string; every bad value gets a message."""
    errors: dict[str, str] = {}
    found = Filters(
        since=_day(args, "since", errors),
        until=_day(args, "until", errors),
        month=_month(args, errors),
        spent_on=_choice(args, "spent_on", list(spending.SPENT_ON), "what costs are for", errors),
        channel=_choice(args, "channel", CHANNELS, "a channel", errors),
        status=_choice(args, "status", STATUSES, "a status", errors),
        kind=_choice(args, "kind", [str(k) for k in ErrorKind], "an error kind", errors),
        errors=errors,
    )
    for name in TEXT_FILTERS:
        raw = (args.get(name) or "").strip()
        if len(raw) > 200:
            errors[name] = "Search for at most 200 characters."
        else:
            setattr(found, name, raw or None)
    if found.since and found.until and found.since > found.until:
        errors["until"] = "The end date is before the start date."
    return found


def _contact_ids(text: str) -> Select:
    number = normalise_number(text)
    wanted = [
        Contact.customer_id.icontains(text, autoescape=True),
        Contact.profile_name.icontains(text, autoescape=True),
        Contact.username.icontains(text, autoescape=True),
        Contact.saved_name.icontains(text, autoescape=True),
    ]
    if number.isdigit():
        wanted.append(Contact.phone.contains(number, autoescape=True))
    return select(Contact.id).where(or_(*wanted))


def _conditions(filters: Filters, cursor, ascending: bool) -> list:
    """Every filter but the model and the text (those need a query of their own shape)."""
    start = filters.since and times.day_start(filters.since)  # the owner's days
    end = filters.until and times.day_start(filters.until + timedelta(days=1))
    if filters.month:  # both bounds hold: the later start, the earlier end
        first, after = spending.month_bounds(filters.month)
        start, end = max(start or first, first), min(end or after, after)
    # SQLite walks an index between one lower and one upper bound. A date the cursor has
    # already passed is left out, so each page (or CSV batch) starts at the cursor instead of
    # walking again from the date to the cursor.
    if cursor and ascending and start and cursor[0] >= start:
        start = None
    if cursor and not ascending and end and cursor[0] < end:
        end = None
    found = [_after(cursor, ascending)] if cursor else []
    if start:
        found.append(RL.created_at >= start)
    if end:
        found.append(RL.created_at < end)
    for column, value in (
        (RL.channel, filters.channel),
        (RL.status, filters.status),
        (RL.error_kind, filters.kind),
    ):
        if value:
            found.append(column == value)
    if filters.spent_on:
        found.append(spending.is_spent_on(filters.spent_on))
    if filters.contact:
        found.append(RL.contact_id.in_(_contact_ids(filters.contact)))
    return found


def _after(key: tuple[datetime, int], ascending: bool):
    """Rows past `key` in the page order; the first half alone lets an index range do the work."""
    moment, row_id = key
    if ascending:
        return and_(RL.created_at >= moment, or_(RL.created_at > moment, RL.id > row_id))
    return and_(RL.created_at <= moment, or_(RL.created_at < moment, RL.id < row_id))


def _order(columns, ascending: bool) -> list:
    return [c.asc() if ascending else c.desc() for c in columns]


def _first(query, key: tuple, ascending: bool, limit: int):
    return query.order_by(*_order(key, ascending)).limit(limit).subquery()


def _candidates(filters: Filters, cursor, ascending: bool, limit: int):
    """The next `limit` rows past `cursor` that pass the filters: (created_at, id[, message_id])."""
    where = _conditions(filters, cursor, ascending)
    # message_id only for the text search: without it the indexes alone answer, no row is read.
    columns = [RL.created_at, RL.id] + ([RL.message_id] if filters.q else [])
    if not filters.model:
        return _first(select(*columns).where(*where), (RL.created_at, RL.id), ascending, limit)
    # One ordered branch per model column, each walking its own index; an OR would sort them all.
    branches = [
        _first(select(*columns).where(*where, column == filters.model), (RL.created_at, RL.id),
               ascending, limit)
        for column in (RL.model_requested, RL.model_used)
    ]  # fmt: skip
    both = union(*(select(*branch.c) for branch in branches)).subquery()
    return _first(select(*both.c), (both.c.created_at, both.c.id), ascending, limit)


def _mentions(message_id, text: str):
    """The customer's message or a part of the reply to it contains `text`."""
    return or_(
        exists().where(Message.id == message_id, Message.text.icontains(text, autoescape=True)),
        exists().where(
            Message.reply_to_id == message_id, Message.text.icontains(text, autoescape=True)
        ),
    )


def _keys(filters: Filters, cursor, ascending: bool, limit: int):
    """Up to `limit` (created_at, id) keys past `cursor`, and where a capped text search stopped."""
    if not filters.q:
        sub = _candidates(filters, cursor, ascending, limit)
        query = select(sub.c.created_at, sub.c.id).order_by(
            *_order((sub.c.created_at, sub.c.id), ascending)
        )
        return [tuple(r) for r in db.session.execute(query)], None
    window = _candidates(filters, cursor, ascending, SCAN_LIMIT)
    query = (
        select(window.c.created_at, window.c.id)
        .where(_mentions(window.c.message_id, filters.q))
        .order_by(*_order((window.c.created_at, window.c.id), ascending))
        .limit(limit)
    )
    keys = [tuple(r) for r in db.session.execute(query)]
    if len(keys) == limit:
        return keys, None
    last = select(window.c.created_at, window.c.id).order_by(
        *_order((window.c.created_at, window.c.id), not ascending)
    )
    scanned = db.session.execute(select(func.count()).select_from(window)).scalar_one()
    edge = tuple(db.session.execute(last.limit(1)).one()) if scanned == SCAN_LIMIT else None
    return keys, edge


def _rows(keys: list[tuple[datetime, int]]) -> list:
    """The log rows for `keys`, with their contacts, in the order of `keys`."""
    if not keys:
        return []
    query = (
        select(*ROW_COLUMNS)
        .outerjoin(Contact, Contact.id == RL.contact_id)
        .where(RL.id.in_([row_id for _, row_id in keys]))
    )
    found = {row.id: LogRow(*row) for row in db.session.execute(query)}
    return [found[row_id] for _, row_id in keys if row_id in found]


def _cursor(row_id: int | None) -> tuple[datetime, int] | None:
    if row_id is None:
        return None
    moment = db.session.scalar(select(RL.created_at).where(RL.id == row_id))
    if moment is None:
        raise LookupError("That place in the log no longer exists; showing the newest rows.")
    return moment, row_id


@dataclass
class Page:
    rows: list
    newer: int | None = None  # link to ?after=<id>
    older: int | None = None  # link to ?before=<id>
    capped: bool = False  # the text search stopped after SCAN_LIMIT rows; Older goes on
    scanned_to: datetime | None = None


def page(filters: Filters, before: int | None = None, after: int | None = None, limit=PAGE_SIZE):
    """One page of the log, newest first: the rows before (older than) or after a row id."""
    ascending = after is not None
    keys, edge = _keys(filters, _cursor(after if ascending else before), ascending, limit + 1)
    more = len(keys) > limit
    keys = keys[:limit]
    if ascending:
        keys.reverse()
    found = Page(_rows(keys), capped=edge is not None, scanned_to=edge and edge[0])
    past = keys[0 if ascending else -1][1] if more else edge and edge[1]
    if ascending:
        found.newer = past
        found.older = keys[-1][1] if keys else None
    else:
        found.older = past
        found.newer = keys[0][1] if keys and before is not None else None
    return found


def rows_for_csv(filters: Filters, batch: int = BATCH_SIZE) -> Iterator:
    """Every matching row, newest first, read `batch` rows at a time along the keyset."""
    cursor = None
    while True:
        keys, edge = _keys(filters, cursor, False, batch)
        yield from _rows(keys)
        cursor = keys[-1] if len(keys) == batch else edge
        if cursor is None:
            return


def redact(text: str | None) -> str | None:
    """Hide anything shaped like a key or a bearer token, though none should ever be stored."""
    return None if text is None else SECRET.sub(lambda m: (m[1] or m[2]) + "…", text)


def pretty(body: str | None) -> str | None:
    """A stored body, indented when it is JSON, with anything secret-looking hidden."""
    if not body:
        return body
    # An HTML error page or a body cut off at the size limit is shown as it came.
    with suppress(ValueError):
        body = json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    return redact(body)


def detail(row: RequestLog) -> dict:
    """What the detail page shows besides the row: the other attempts, the texts, suggestions."""
    attempts, inbound, reply = [], None, []
    if row.message_id is not None:
        query = select(*ROW_COLUMNS).outerjoin(Contact, Contact.id == RL.contact_id)
        attempts = db.session.execute(
            query.where(RL.message_id == row.message_id).order_by(RL.created_at, RL.id)
        ).all()
        inbound = db.session.get(Message, row.message_id)
        reply = db.session.scalars(
            select(Message).where(Message.reply_to_id == row.message_id).order_by(Message.part)
        ).all()
    suggestions = None
    check = state.get("catalog_check")
    if row.error_kind == ErrorKind.MODEL_NOT_FOUND and check and check.get("ok"):
        suggestions = check.get("missing", {}).get(row.model_requested)
    return {
        "trouble": TROUBLES.get(row.error_kind) if row.status == "error" else None,
        "attempts": attempts,
        "inbound": inbound,
        "reply": reply,
        "contact": db.session.get(Contact, row.contact_id) if row.contact_id else None,
        "suggestions": suggestions,
        "request_body": pretty(row.request_body),
        "response_body": pretty(row.response_body),
        "error_message": redact(row.error_message),
    }

"""Outbound messages: parts stored before they are sent, sends whose outcome may be unknown,
the team's own replies, Send again.

A part moves queued → sending → sent → delivered → read, or to failed, or to unknown: the
request reached WhatsApp but no answer said whether it was taken, so it may have arrived.
Unknown parts are never sent again by themselves; the owner can press Send again.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from sqlalchemy import bindparam, exists, insert, or_, select, update

from .. import requestlog
from ..clients.retry import Deadline, Retry, with_retries
from ..clients.whatsapp import SendResult, WhatsAppClient, split_message
from ..clients.whatsapp_errors import WhatsAppError
from ..extensions import db
from ..models import Contact, Message, Turn, utcnow
from ..requestlog import Origin
from ..states import SENT, MessageState, PartState, TurnState
from ..troubleshooting import ErrorKind
from . import leases, statuses
from .leases import Lease

ABANDONED_AFTER = timedelta(minutes=5)  # far longer than any send with its retries
INTERRUPTED = (
    "Switchboard stopped while sending this message, so it is not known whether the customer "
    "got it. It was not sent again, to avoid a double answer."
)
NOT_SENT = "Not sent: the part before it could not be sent."
# A flow's question is answered while its request waits: longer than 'Answer within' can be
# (10 minutes at most), and the request that was waiting is gone.
FLOW_ABANDONED_AFTER = timedelta(minutes=15)
FLOW_INTERRUPTED = (
    "Switchboard stopped while the flow waited for this answer; the flow got an error, not a "
    "reply, and may ask again."
)


class Part(NamedTuple):
    id: int
    text: str


M, C = Message.__table__.c, Contact.__table__.c
STORE_PART = (
    insert(Message.__table__)
    .values(
        contact_id=bindparam("contact"),
        turn_id=bindparam("turn"),
        direction="out",
        author=bindparam("new_author"),
        type="text",
        text=bindparam("new_text"),
        state=bindparam("new_state"),
        reply_to_id=bindparam("reply_to"),
        part=bindparam("new_part"),
        channel=bindparam("new_channel"),
        created_at=bindparam("at"),
        updated_at=bindparam("at"),
    )
    .returning(M.id)
)
MARK_SENT = (
    update(Message.__table__)
    .where(M.id == bindparam("part_id"), M.state == PartState.SENDING)
    .values(state=PartState.SENT, wa_message_id=bindparam("wa_id"), updated_at=bindparam("at"))
)


@dataclass
class Sent:
    """How sending a reply went: every part sent, or the failure that stopped it."""

    ok: bool
    error: WhatsAppError | None = None


def store_parts(
    contact_id: int,
    texts: list[str],
    author: str,
    turn_id: int | None = None,
    reply_to_id: int | None = None,
    *,
    channel: str = "whatsapp",
    state: PartState | None = None,
) -> list[Part]:
    """Store a message as its parts (`split_message`: at most 4096 characters each) before
    anything is sent, the first already marked sending; a crash from here on is never
    answered twice. Runs in the caller's transaction. With `state`, every part is stored in
    it: a reply for the Try it page, which nothing sends."""
    parts = []
    for index, text_part in enumerate(texts):
        values = {
            "contact": contact_id,
            "turn": turn_id,
            "new_author": author,
            "new_text": text_part,
            "new_state": state or (PartState.QUEUED if index else PartState.SENDING),
            "reply_to": reply_to_id,
            "new_part": index,
            "new_channel": channel,
            "at": utcnow(),
        }
        parts.append(Part(db.session.scalar(STORE_PART, values), text_part))
    return parts


def send_parts(
    parts: list[Part],
    client: WhatsAppClient,
    to: str,
    origin: Origin,
    retry: Retry,
    deadline: Deadline,
    *,
    quoted: str | None = None,
    lease: Lease | None = None,
    after_last: Callable[[], None] | None = None,
    send_one: Callable[[Part, float], SendResult] | None = None,
    logged: dict | None = None,
) -> Sent:
    """Send stored parts in order, each after the one before arrived at WhatsApp.

    A failure that reached nothing (a refused connection, 429, a Graph code saying the message
    was not taken) is retried; a send whose outcome is unknown (a timeout, a 5xx without such
    a code) is not. The first part that fails stops the rest. `after_last` runs in the same
    transaction as recording the last part sent (a turn ends there). `send_one(part, timeout)`
    replaces the text send (a template's); `logged` names the send in its log rows
    (`operation`, and `body` for the row's request body).
    """
    logged = logged or {}
    for index, part in enumerate(parts):
        if index:
            with leases.writing(lease):
                _move(part.id, PartState.QUEUED, state=PartState.SENDING)

        def call(attempt: int, left: float, part=part, index=index):
            timeout = min(client.timeout, left)
            if send_one is not None:
                return attempt, send_one(part, timeout)
            reply_to = quoted if index == 0 else None
            return attempt, client.send_text(to, part.text, reply_to=reply_to, timeout=timeout)

        def log_failure(attempt: int, exc: WhatsAppError, latency_ms: int) -> None:
            with leases.writing(lease):
                requestlog.add_error(origin, attempt, exc, upstream="whatsapp",
                                     latency_ms=latency_ms, **logged)  # fmt: skip

        try:
            attempt, result = with_retries(call, log_failure, retry, deadline, _out_of_time, lease)
        except WhatsAppError as exc:
            with leases.writing(lease):
                _record_failure(part.id, exc)
                for later in parts[index + 1 :]:
                    _move(later.id, PartState.QUEUED, state=PartState.FAILED, error_detail=NOT_SENT)
            return Sent(False, exc)
        row = requestlog.send_ok(origin, attempt, result, **logged)
        with leases.writing(lease):
            values = {"part_id": part.id, "wa_id": result.message_id, "at": utcnow()}
            db.session.execute(MARK_SENT, values)
            requestlog.insert(row)
            statuses.apply_pending(result.message_id)
            if after_last is not None and index == len(parts) - 1:
                after_last()
    return Sent(True)


def _out_of_time() -> WhatsAppError:
    return WhatsAppError(
        ErrorKind.WHATSAPP_UNAVAILABLE, "WhatsApp could not be reached in time; not sent."
    )


def _move(message_id: int, from_state: str, **values) -> bool:
    moved = db.session.execute(
        update(Message.__table__)
        .where(M.id == message_id, M.state == from_state)
        .values(updated_at=utcnow(), **values)
    ).rowcount
    return moved == 1


def _record_failure(part_id: int, exc: WhatsAppError) -> None:
    unknown = exc.kind == ErrorKind.WHATSAPP_UNKNOWN
    _move(
        part_id,
        PartState.SENDING,
        state=PartState.UNKNOWN if unknown else PartState.FAILED,
        error_kind=str(exc.kind),
        error_code=exc.code,
        error_detail=exc.message,
    )


def interrupted(parts) -> tuple[int, int]:
    """Settle the parts of a reply whose sending a crash cut short: the one being sent is
    unknown, the ones not started failed; nothing is sent again. Returns (sent, total)."""
    sent = 0
    for part in parts:
        if part.state in SENT:
            sent += 1
        elif part.state == PartState.SENDING:
            _move(part.id, PartState.SENDING, state=PartState.UNKNOWN,
                  error_kind=str(ErrorKind.WHATSAPP_UNKNOWN), error_detail=INTERRUPTED)  # fmt: skip
        elif part.state == PartState.QUEUED:
            _move(part.id, PartState.QUEUED, state=PartState.FAILED, error_detail=NOT_SENT)
    return sent, len(parts)


def mark_read(client: WhatsAppClient, wa_message_id: str, origin: Origin, lease: Lease) -> None:
    """Blue ticks and "typing…" for the customer; a failure is logged and changes nothing else."""
    lease.check()
    started = time.monotonic()
    try:
        client.mark_read(wa_message_id, typing=True)
    except WhatsAppError as exc:
        latency_ms = int((time.monotonic() - started) * 1000)
        with leases.fenced(lease):
            requestlog.add_error(origin, 1, exc, upstream="whatsapp", latency_ms=latency_ms)
    else:
        latency_ms = int((time.monotonic() - started) * 1000)
        with leases.fenced(lease):
            requestlog.add(origin, upstream="whatsapp", status="ok", http_status=200,
                           latency_ms=latency_ms)  # fmt: skip


def send_human(
    contact: Contact, text: str, client: WhatsAppClient, retry: Retry, sent_by: str | None = None
) -> Sent:
    """The team's own message, in parts, stopping at a failed part, stored as written by
    `sent_by` (an admin's username, a team number). It answers no particular message, so it
    quotes nothing; the caller starts any hold (webapp/people/takeover.py)."""
    parts = store_parts(contact.id, split_message(text), "human")
    if sent_by:
        ids = [part.id for part in parts]
        db.session.execute(update(Message).where(Message.id.in_(ids)).values(sent_by=sent_by))
    db.session.commit()
    to = contact.phone or contact.customer_id
    return send_parts(parts, client, to, Origin("whatsapp", contact.id), retry, Deadline(120))


class CannotSendAgain(Exception):
    """Only a message that failed, or whose outcome is unknown, is sent again."""


def send_again(message_id: int, client: WhatsAppClient, retry: Retry) -> Sent:
    """The owner's Send again: the same text, to the same customer, as a new attempt."""
    again = db.session.execute(
        update(Message.__table__)
        .where(M.id == message_id, M.direction == "out",
               M.state.in_((PartState.FAILED, PartState.UNKNOWN)))
        .values(state=PartState.SENDING, error_kind=None, error_code=None, error_detail=None,
                updated_at=utcnow())
        .returning(M.contact_id, M.text)
    ).first()  # fmt: skip
    if again is None:  # sent meanwhile (a second click), or it never failed
        db.session.rollback()
        raise CannotSendAgain("This message is not waiting to be sent again.")
    phone, customer_id = db.session.execute(
        select(C.phone, C.customer_id).where(C.id == again.contact_id)
    ).one()
    db.session.commit()
    origin = Origin("whatsapp", again.contact_id)
    part = Part(message_id, again.text)
    return send_parts([part], client, phone or customer_id, origin, retry, Deadline(120))


def sweep() -> dict[str, int]:
    """The worker's periodic tidying: statuses that can apply now, sends and flow questions a
    crash abandoned. A part left sending or queued is settled once no run can still be sending
    it: a person's message, a Send again (the web server stopped during the call), a reply
    whose turn ended. A part of an open turn is left to that turn's next run."""
    applied = statuses.apply_pending()
    stale = utcnow() - ABANDONED_AFTER
    open_turn = exists().where(Turn.id == Message.turn_id, Turn.state == TurnState.OPEN)
    run_over = or_(Message.turn_id.is_(None), ~open_turn)
    team = Message.direction == "out", run_over, Message.updated_at < stale
    unknown = db.session.execute(
        update(Message)
        .where(*team, Message.state == PartState.SENDING)
        .values(state=PartState.UNKNOWN, error_kind=str(ErrorKind.WHATSAPP_UNKNOWN),
                error_detail=INTERRUPTED, updated_at=utcnow())
    ).rowcount  # fmt: skip
    db.session.execute(
        update(Message)
        .where(*team, Message.state == PartState.QUEUED)
        .values(state=PartState.FAILED, error_detail=NOT_SENT, updated_at=utcnow())
    )
    db.session.execute(
        update(Message)
        .where(Message.channel == "flow", Message.state == MessageState.PROCESSING,
               Message.updated_at < utcnow() - FLOW_ABANDONED_AFTER)
        .values(state=MessageState.FAILED, error_kind=str(ErrorKind.INTERNAL),
                error_detail=FLOW_INTERRUPTED, updated_at=utcnow())
    )  # fmt: skip
    dropped = statuses.drop_unmatched()
    db.session.commit()
    return {"statuses_applied": applied, "sends_unknown": unknown, "statuses_dropped": dropped}

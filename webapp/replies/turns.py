"""A customer's turn: what it takes (every waiting message, in order) and how it ends.

The messages table is the queue: a customer message waits as `received` until a turn takes it.
At most one turn per customer is open (a unique partial index), so one customer's messages are
answered one turn at a time, in order, and different customers in parallel. Who may write to a
turn is decided in `leases`; everything here runs inside its fence.
"""

import math
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update

from ..extensions import database_now, db
from ..models import Contact, Message, Turn, utcnow
from ..states import MessageState
from .leases import Lease, fenced

T, M, C = Turn.__table__.c, Message.__table__.c, Contact.__table__.c
WAITING = (M.direction == "in", M.state == MessageState.RECEIVED)
NEWEST_WAITING = (
    select(M.created_at, M.wa_message_id, C.paused)
    .join(Contact.__table__, C.id == M.contact_id)
    .where(M.contact_id == bindparam("contact"), *WAITING)
    .order_by(M.created_at.desc(), M.id.desc())
    .limit(1)
)
TAKE_WAITING = (
    update(Message.__table__)
    .where(M.contact_id == bindparam("contact"), *WAITING)
    .values(state=MessageState.PROCESSING, turn_id=bindparam("turn"))
)
INBOUND = (M.id, M.wa_message_id, M.type, M.text, M.media_file, M.media_mime, M.media_name,
           M.media_text, M.raw)  # fmt: skip
TAKEN = (
    select(*INBOUND, C.phone, C.customer_id, C.paused, C.channel)
    .join(Contact.__table__, C.id == M.contact_id)
    .where(M.turn_id == bindparam("turn"), M.direction == "in")
    .order_by(M.created_at, M.id)
)
PARTS = (
    select(M.id, M.part, M.text, M.state)
    .where(M.turn_id == bindparam("turn"), M.direction == "out")
    .order_by(M.part, M.id)
)
CLOSE_MESSAGES = (
    update(Message.__table__)
    .where(M.turn_id == bindparam("turn"), M.direction == "in")
    .values(
        state=bindparam("new_state"), error_kind=bindparam("kind"), error_detail=bindparam("detail")
    )
)
CLOSE_TURN = (
    update(Turn.__table__)
    .where(T.id == bindparam("turn"))
    .values(
        state=bindparam("new_state"),
        token=None,
        error_kind=bindparam("kind"),
        error_detail=bindparam("detail"),
        finished_at=bindparam("at"),
    )
)


@dataclass(frozen=True)
class Inbound:
    id: int
    wa_message_id: str | None
    type: str
    text: str | None
    media_file: str | None = None  # a photo's, voice note's… stored file, once fetched
    media_mime: str | None = None
    media_name: str | None = None
    media_text: str | None = None
    raw: str | None = None  # the message as WhatsApp sent it (JSON): where its media ID is


@dataclass(frozen=True)
class OutPart:
    id: int
    part: int
    text: str
    state: str


@dataclass
class Batch:
    """What a turn answers: the customer, their messages in order, and any reply parts a
    crashed earlier run of the same turn already stored."""

    contact_id: int
    to: str  # the phone number, or the user id of a customer known only by username
    paused: bool
    messages: list[Inbound] = field(default_factory=list)
    parts: list[OutPart] = field(default_factory=list)
    channel: str = "whatsapp"  # or playground: a test customer of the Try it page

    @property
    def last(self) -> Inbound:
        """The message the reply quotes: the customer's latest."""
        return self.messages[-1]


def newest_waiting(contact_id: int) -> tuple[datetime, str | None, bool] | None:
    """When the customer's latest message not yet taken by a turn arrived, its id, and
    whether the customer is paused."""
    newest = db.session.execute(NEWEST_WAITING, {"contact": contact_id}).first()
    db.session.commit()  # no connection is held while the turn waits
    return None if newest is None else tuple(newest)


def wait_for_quiet(
    lease: Lease, window: float, stopping=None, on_newest=None, until: float = math.inf
) -> None:
    """Wait until the customer has sent nothing for `window` seconds: a burst is one turn;
    but not past `until` (time.monotonic()). `on_newest(wa_message_id)` hears of each newest
    message (to show "typing…" on it), unless a person took the conversation over (the
    customer is paused)."""
    while window > 0 or on_newest is not None:
        newest = newest_waiting(lease.contact_id)
        if newest is None:
            return
        arrived, wa_message_id, paused = newest
        if on_newest is not None and not paused:
            on_newest(wa_message_id)
        left = (arrived + timedelta(seconds=window) - utcnow()).total_seconds()
        left = min(left, until - time.monotonic())
        if left <= 0:
            return
        lease.check()
        if stopping is not None and stopping.wait(left):
            return  # shutting down: answer what has arrived instead of waiting longer
        if stopping is None:
            time.sleep(left)


def take(lease: Lease) -> Batch:
    """Take every waiting message of the customer into this turn, in order.

    A run after a crash also gets the messages its turn took before; if that run had already
    stored reply parts, nothing new is taken: those parts decide how the turn ends.
    """
    with fenced(lease):
        # A turn's first run cannot have stored parts: that look is for later runs only.
        turn = {"turn": lease.turn_id}
        parts = [OutPart(*row) for row in db.session.execute(PARTS, turn)] if lease.runs > 1 else []
        return _taken(lease, parts)


def take_claimed(lease: Lease) -> Batch:
    """`take` for a turn claimed in the transaction still open (its first run, so it holds
    the turn and has no parts yet): the claim and the take are one commit."""
    return _taken(lease, [])


def _taken(lease: Lease, parts: list[OutPart]) -> Batch:
    turn = {"turn": lease.turn_id}
    if not parts:
        db.session.execute(TAKE_WAITING, {**turn, "contact": lease.contact_id})
    rows = db.session.execute(TAKEN, turn).all()
    if not rows:  # nothing left to answer (the messages were deleted meanwhile)
        return Batch(lease.contact_id, "", False)
    messages = [Inbound(*row[: len(INBOUND)]) for row in rows]
    phone, customer_id, paused, channel = rows[0][len(INBOUND) :]
    return Batch(lease.contact_id, phone or customer_id, paused, messages, parts, channel)


def close(
    lease: Lease,
    state: str,
    error_kind: str | None = None,
    error_detail: str | None = None,
) -> None:
    """End the turn (answered, failed or paused) with its messages; call inside `fenced`."""
    values = {"turn": lease.turn_id, "new_state": state, "kind": error_kind, "detail": error_detail}
    db.session.execute(CLOSE_MESSAGES, values)
    db.session.execute(CLOSE_TURN, {**values, "at": utcnow()})


def finish(lease: Lease, state: str, error_kind=None, error_detail=None) -> None:
    with fenced(lease):
        close(lease, state, error_kind, error_detail)


def release(
    lease: Lease, retry_in: float, error_kind: str | None = None, error_detail: str | None = None
) -> None:
    """Give the turn back after a run that failed or was stopped; another run takes it up
    after `retry_in` s."""
    with fenced(lease):
        db.session.execute(
            update(Turn)
            .where(Turn.id == lease.turn_id)
            .values(
                token=None,
                holder=None,
                lease_until=database_now(retry_in),
                error_kind=error_kind,
                error_detail=error_detail,
            )
        )

"""A customer's limits: answers per hour and cost per day; past one, told once, then silence.

Looked at before a customer's turn reads their files or asks a model, so a limited customer
costs nothing. Team numbers and the Try it page's test customers are never limited (the
caller skips them). The moment a customer is limited is one conditional UPDATE: two workers
limiting the same customer at once tell them once.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from ..display import times
from ..display.money import exact_dollars
from ..extensions import db
from ..models import Contact, Message, RequestLog, Turn, utcnow
from ..states import TurnState
from ..troubleshooting import ErrorKind
from . import spending
from .budget import dollars

HOUR = timedelta(hours=1)
HINT = (
    "They are not answered until then, and no model is called for them. Press Lift on their "
    "conversation (or `flask --app wsgi contacts lift NUMBER`) to answer them again now, or "
    "raise the limit on the Settings page (Money)."
)


@dataclass(frozen=True)
class Limited:
    """A customer past a limit: until when, why (the owner's words), and whether this look
    is the one that limited them (then they are told, once)."""

    until: datetime
    why: str
    now_limited: bool

    def detail(self, hint: str = HINT) -> str:
        return f"{self.why} Not answered until {times.when(self.until)}. {hint}"


def _counted_since(contact: Contact, since: datetime) -> datetime:
    """`since`, or the owner's Lift when it came later: counting starts afresh."""
    lifted = contact.limit_lifted_at
    return max(since, lifted) if lifted is not None else since


def _hour_passed(contact: Contact, snap, now: datetime) -> tuple[datetime, str] | None:
    """(until, why) when the customer had their hour's answers already."""
    most = int(snap["max_turns_per_customer_per_hour"] or 0)
    if most <= 0:
        return None
    since = _counted_since(contact, now - HOUR)
    answered = (
        select(Turn.created_at)
        .where(
            Turn.contact_id == contact.id,
            Turn.created_at >= since,
            Turn.state.in_((TurnState.ANSWERED, TurnState.FAILED)),
            func.coalesce(Turn.error_kind, "") != str(ErrorKind.CUSTOMER_LIMITED),
        )
        .order_by(Turn.created_at.desc())
        .limit(most)
    )
    # A flow's question naming the customer (`user`) is an answer of theirs too.
    asked = (
        select(Message.created_at)
        .where(
            Message.contact_id == contact.id,
            Message.created_at >= since,
            Message.channel == "flow",
            Message.direction == "in",
            func.coalesce(Message.error_kind, "") != str(ErrorKind.CUSTOMER_LIMITED),
        )
        .order_by(Message.created_at.desc())
        .limit(most)
    )
    moments = sorted([*db.session.scalars(answered), *db.session.scalars(asked)])[-most:]
    if len(moments) < most:
        return None
    # Answered again when the oldest of the hour's last `most` answers leaves the hour.
    return min(
        moments
    ) + HOUR, f"They had {most} answer{'s' * (most != 1)} within an hour, the most allowed."


def _day_spent(contact: Contact, snap, now: datetime) -> tuple[datetime, str] | None:
    """(until, why) when answering the customer today cost the day's limit already."""
    most = dollars(snap["max_cost_per_customer_per_day"])
    if most is None:
        return None
    today = times.today()
    since = _counted_since(contact, times.day_start(today))
    cost = spending.spent(since, None, RequestLog.contact_id == contact.id)
    if cost < most:
        return None
    until = times.day_start(today + timedelta(days=1))
    return until, (
        f"Answering them cost {exact_dollars(cost)} today; the most allowed is "
        f"{exact_dollars(most)}."
    )


def within(contact_id: int, snap) -> bool:
    """Whether the customer is neither limited nor past a limit: read only, the transaction
    ended, so the common case takes no write lock. Else `look` decides, in the run's fence."""
    now = utcnow()
    contact = db.session.get(Contact, contact_id)
    if contact is None or is_limited(contact):
        fine = contact is None
    else:
        fine = (_hour_passed(contact, snap, now) or _day_spent(contact, snap, now)) is None
    db.session.commit()
    return fine


def look(contact_id: int, snap) -> Limited | None:
    """Whether the customer is limited now: already (silence), or by this look (they are
    limited in this transaction and the caller tells them once). None: answer them."""
    now = utcnow()
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        return None
    if contact.limited_until is not None and contact.limited_until > now:
        return Limited(contact.limited_until, contact.limited_why or "", False)
    passed = _hour_passed(contact, snap, now) or _day_spent(contact, snap, now)
    if passed is None:
        return None
    until, why = passed
    # Only the look that finds them not yet limited limits them: the other is told nothing.
    claimed = db.session.execute(
        update(Contact)
        .where(
            Contact.id == contact_id,
            (Contact.limited_until.is_(None)) | (Contact.limited_until <= now),
        )
        .values(limited_until=until, limited_why=why[:300])
        .execution_options(synchronize_session=False)
    )
    return Limited(until, why, claimed.rowcount == 1)


def lift(contact: Contact) -> bool:
    """The owner's Lift: answered again at once, counting afresh from now. False when the
    customer was not limited (nothing changes)."""
    if contact.limited_until is None or contact.limited_until <= utcnow():
        return False
    contact.limited_until = None
    contact.limited_why = None
    contact.limit_lifted_at = utcnow()
    return True


def is_limited(contact: Contact) -> bool:
    return contact.limited_until is not None and contact.limited_until > utcnow()

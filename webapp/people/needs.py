"""Who needs you: the WhatsApp customers waiting for a person, oldest first.

Two kinds wait: those handed to a person (`needs_person_since`, until Done), and paused
customers whose last message is theirs and unanswered, since the first of those messages.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import Contact, Message
from ..states import MessageState

UNANSWERED_WHILE_PAUSED = "Wrote while the bot was paused; nobody has answered yet"
SHOWN = 50  # at most this many of each kind: more would not fit a card


@dataclass(frozen=True)
class Waiting:
    """A customer waiting for a person: since when, and why in the owner's words."""

    contact: Contact
    since: datetime
    why: str


def waiting(limit: int = SHOWN, contact_id: int | None = None) -> list[Waiting]:
    """Who waits for a person, oldest first; with `contact_id`, that customer if they do."""
    only = (Contact.id == contact_id,) if contact_id is not None else ()
    handed = db.session.scalars(
        select(Contact)
        .where(Contact.channel == "whatsapp", Contact.needs_person_since.is_not(None), *only)
        .order_by(Contact.needs_person_since, Contact.id)
        .limit(limit)
    )
    rows = [Waiting(c, c.needs_person_since, c.needs_person_why or "") for c in handed]
    # The paused customers with when each first went unanswered, worked out once per customer.
    firsts = (
        select(Contact.id.label("contact_id"), _first_unanswered().label("since"))
        .where(Contact.channel == "whatsapp", Contact.paused,
               Contact.needs_person_since.is_(None), *only)
        .cte("firsts")
    )  # fmt: skip
    paused = db.session.execute(
        select(Contact, firsts.c.since)
        .join(firsts, firsts.c.contact_id == Contact.id)
        .where(firsts.c.since.is_not(None))
        .order_by(firsts.c.since, Contact.id)
        .limit(limit)
    )
    rows += [Waiting(contact, since, UNANSWERED_WHILE_PAUSED) for contact, since in paused]
    return sorted(rows, key=lambda row: (row.since, row.contact.id))[:limit]


def waiting_one(contact_id: int) -> Waiting | None:
    """The customer, when they wait for a person."""
    return next(iter(waiting(1, contact_id)), None)


def _first_unanswered():
    """The customer's first message kept unanswered (paused) since the team's or the bot's
    last message to them: none when a reply came after their last message."""
    reply = aliased(Message)
    answered_at = (
        select(func.max(reply.created_at))
        .where(reply.contact_id == Contact.id, reply.direction == "out")
        .correlate(Contact)
        .scalar_subquery()
    )
    return (
        select(func.min(Message.created_at))
        .where(Message.contact_id == Contact.id, Message.direction == "in",
               Message.state == MessageState.PAUSED,
               or_(answered_at.is_(None), Message.created_at > answered_at))
        .correlate(Contact)
        .scalar_subquery()
    )  # fmt: skip

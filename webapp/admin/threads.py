"""Reading conversations for the admin: the list of customers, one customer's thread."""

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from ..contacts import SERVICE_WINDOW, in_service_window, normalise_number
from ..display import times
from ..extensions import db
from ..models import PLAYGROUND, Contact, Message, utcnow
from ..states import MessageState, PartState
from ..troubleshooting import ErrorKind, trouble


@dataclass
class ContactRow:
    """A line of the conversations list."""

    contact: Contact
    last_message: Message | None  # the customer's own: what they asked, not what we answered
    failing: bool  # the latest reply failed, or something failed in the last 24 hours


def contact_page(
    search: str = "", after: int | None = None, size: int = 50
) -> tuple[list[ContactRow], int | None]:
    """Contacts by latest inbound message, newest first, `size` of them following contact `after`
    (keyset paging, so page 100 costs what page 1 does); also the id the next page follows."""
    query = (
        select(Contact)
        .where(Contact.channel != PLAYGROUND)  # the Try it page's test customers are no customers
        .order_by(Contact.last_inbound_at.desc().nulls_last(), Contact.id.desc())
    )
    if search.strip():
        query = query.where(_matching(search.strip()))
    if after is not None and (cursor := db.session.get(Contact, after)) is not None:
        query = query.where(_listed_after(cursor))
    contacts = list(db.session.scalars(query.limit(size + 1)))
    following = contacts[size - 1].id if len(contacts) > size else None
    contacts = contacts[:size]
    ids = [contact.id for contact in contacts]
    latest = _last_from_customer(ids)
    failing = _failing_contact_ids(ids)
    rows = [ContactRow(c, latest.get(c.id), c.id in failing) for c in contacts]
    return rows, following


def _matching(search: str):
    number = normalise_number(search)
    return or_(
        Contact.profile_name.icontains(search, autoescape=True),
        Contact.saved_name.icontains(search, autoescape=True),
        Contact.username.icontains(search, autoescape=True),
        Contact.phone.contains(number, autoescape=True),
        Contact.customer_id.icontains(number, autoescape=True),
    )


def _listed_after(cursor: Contact):
    # Contacts that never wrote (paused ahead of time) come last, newest first.
    if cursor.last_inbound_at is None:
        return and_(Contact.last_inbound_at.is_(None), Contact.id < cursor.id)
    return or_(
        Contact.last_inbound_at < cursor.last_inbound_at,
        and_(Contact.last_inbound_at == cursor.last_inbound_at, Contact.id < cursor.id),
        Contact.last_inbound_at.is_(None),
    )


def _newest_first(query):
    return query.order_by(Message.created_at.desc(), Message.id.desc()).limit(1)


def _last_from_customer(contact_ids: list[int]) -> dict[int, Message]:
    latest_id = _newest_first(
        select(Message.id).where(Message.contact_id == Contact.id, Message.direction == "in")
    )
    ids = db.session.scalars(
        select(latest_id.scalar_subquery()).select_from(Contact).where(Contact.id.in_(contact_ids))
    ).all()
    messages = db.session.scalars(select(Message).where(Message.id.in_(ids)))
    return {message.contact_id: message for message in messages}


def _failing_contact_ids(contact_ids: list[int]) -> set[int]:
    since = utcnow() - SERVICE_WINDOW
    failed_lately = select(Message.contact_id).where(
        Message.contact_id.in_(contact_ids),
        Message.state == MessageState.FAILED,
        Message.created_at >= since,
    )
    latest_reply_state = _newest_first(
        select(Message.state).where(Message.contact_id == Contact.id, Message.direction == "out")
    ).scalar_subquery()
    latest_reply_failed = select(Contact.id).where(
        Contact.id.in_(contact_ids), latest_reply_state == PartState.FAILED
    )
    return set(db.session.scalars(failed_lately.union(latest_reply_failed)))


def thread(contact_id: int, limit: int = 300) -> tuple[list[Message], bool]:
    """The contact's latest `limit` messages, oldest first, and whether older ones exist."""
    newest = db.session.scalars(
        select(Message)
        .where(Message.contact_id == contact_id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(limit + 1)
    ).all()
    return list(reversed(newest[:limit])), len(newest) > limit


def window_closed_reason(contact: Contact) -> str | None:
    """Why the team cannot write to `contact` now, in the owner's words; None when it can."""
    if in_service_window(contact):
        return None
    last = contact.last_inbound_at
    when = (
        f"This customer last wrote on {times.when(last, '%Y-%m-%d at %H:%M')}."
        if last
        else "This customer has not written yet."
    )
    rule = trouble(ErrorKind.WHATSAPP_WINDOW).cause
    return f"{rule} {when}"


def last_inbound_at():
    return db.session.scalar(select(func.max(Contact.last_inbound_at)))


def any_reply_delivered() -> bool:
    delivered = select(Message.id).where(
        Message.direction == "out",
        Message.state.in_((PartState.DELIVERED, PartState.READ)),
        Message.channel != PLAYGROUND,
    )
    return db.session.scalar(delivered.limit(1)) is not None


def waiting_count() -> int:
    """Customer messages stored and not yet taken by a turn."""
    return db.session.scalar(
        select(func.count()).where(
            Message.direction == "in",
            Message.state == MessageState.RECEIVED,
            Message.channel != PLAYGROUND,
        )
    )

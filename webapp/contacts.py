"""Reading conversations for the admin: how a contact is named, the list, one thread."""

from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from .extensions import db
from .inbox import SERVICE_WINDOW, naive_utc, now
from .models import Contact, Message


def number_of(contact) -> str:
    """+31612345678, or the user id of a customer known only by a WhatsApp username.

    Takes a Contact or any row with its `phone` and `customer_id` (the log's joined rows).
    """
    return f"+{contact.phone}" if contact.phone else contact.customer_id


def name_of(contact) -> str:
    return contact.profile_name or contact.username or number_of(contact)


def label_of(contact) -> str:
    """ "Name (+number)", or the number alone for a customer without a name."""
    name, number = name_of(contact), number_of(contact)
    return number if name == number else f"{name} ({number})"


@dataclass
class ContactRow:
    """A line of the conversations list."""

    contact: Contact
    last_message: Message | None
    failing: bool  # the latest reply failed, or something failed in the last 24 hours


def contact_page(
    search: str = "", after: int | None = None, size: int = 50
) -> tuple[list[ContactRow], int | None]:
    """Contacts by latest inbound message, newest first, `size` of them following contact `after`
    (keyset paging, so page 100 costs what page 1 does); also the id the next page follows."""
    query = select(Contact).order_by(Contact.last_inbound_at.desc().nulls_last(), Contact.id.desc())
    if search.strip():
        query = query.where(_matching(search.strip()))
    if after is not None and (cursor := db.session.get(Contact, after)) is not None:
        query = query.where(_listed_after(cursor))
    contacts = list(db.session.scalars(query.limit(size + 1)))
    following = contacts[size - 1].id if len(contacts) > size else None
    contacts = contacts[:size]
    ids = [contact.id for contact in contacts]
    latest = _latest_messages(ids)
    failing = _failing_contact_ids(ids)
    rows = [ContactRow(c, latest.get(c.id), c.id in failing) for c in contacts]
    return rows, following


def _matching(search: str):
    number = search.lstrip("+").replace(" ", "")
    return or_(
        Contact.profile_name.icontains(search, autoescape=True),
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


def _latest_messages(contact_ids: list[int]) -> dict[int, Message]:
    latest_id = _newest_first(select(Message.id).where(Message.contact_id == Contact.id))
    ids = db.session.scalars(
        select(latest_id.scalar_subquery()).select_from(Contact).where(Contact.id.in_(contact_ids))
    ).all()
    messages = db.session.scalars(select(Message).where(Message.id.in_(ids)))
    return {message.contact_id: message for message in messages}


def _failing_contact_ids(contact_ids: list[int]) -> set[int]:
    since = naive_utc(now() - SERVICE_WINDOW)
    failed_lately = select(Message.contact_id).where(
        Message.contact_id.in_(contact_ids), Message.state == "failed", Message.created_at >= since
    )
    latest_reply_state = _newest_first(
        select(Message.state).where(Message.contact_id == Contact.id, Message.direction == "out")
    ).scalar_subquery()
    latest_reply_failed = select(Contact.id).where(
        Contact.id.in_(contact_ids), latest_reply_state == "failed"
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

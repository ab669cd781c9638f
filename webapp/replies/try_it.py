"""The Try it page's test customer: an admin chatting with the assistant before WhatsApp is
connected, answered by the same queue, turns and pipeline as a customer on WhatsApp.

Each admin has one test customer, a contact with channel `playground`. Its messages wait in
the queue as `received` like any customer's, so the worker answers them in a turn like any
other: the saved prompt, the default model and its fallbacks, the memory of earlier exchanges,
the merge window and the deadline, and whatever else a turn does. Only the end differs: the
reply is stored for the page to show, never sent to WhatsApp, and every call is logged with
channel `playground`. So the page needs no WhatsApp settings, and what the owner sees there is
what a customer would get.

Its customer id holds spaces, which the number normaliser takes out of anything typed or
delivered: no WhatsApp message, flow `user` or number typed in the CLI or the admin can reach
it. It never gets a `last_inbound_at`; the conversations list, the dashboard's counts and
trials' replays leave it out by its channel.
"""

from sqlalchemy import delete, select, update

from ..extensions import db, dialect_insert, transaction
from ..models import PLAYGROUND, Contact, Message, RequestLog, Turn, utcnow
from ..states import MessageState, PartState
from . import delivery

MAX_LENGTH = 4096  # what WhatsApp lets a customer write in one message


def customer_id_of(username: str) -> str:
    return f"Try it ({username})"


def contact_of(username: str) -> Contact | None:
    """The admin's test customer, if they have written to the assistant since they last
    started over."""
    return db.session.scalar(
        select(Contact).where(
            Contact.customer_id == customer_id_of(username), Contact.channel == PLAYGROUND
        )
    )


def ask(username: str, text: str) -> int:
    """Store the admin's message as their test customer's, waiting for the worker like a
    customer's message on WhatsApp (one commit); its id."""
    with transaction():
        contact_id = _contact_id(username)
        message = Message(
            contact_id=contact_id,
            direction="in",
            author="customer",
            type="text",
            text=text,
            state=MessageState.RECEIVED,
            channel=PLAYGROUND,
        )
        db.session.add(message)
        db.session.flush()
    return message.id


def _contact_id(username: str) -> int:
    customer_id = customer_id_of(username)
    db.session.execute(
        dialect_insert(Contact.__table__)
        .values(customer_id=customer_id, channel=PLAYGROUND, paused=False, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["customer_id"])
    )
    return db.session.scalar(
        select(Contact.id).where(Contact.customer_id == customer_id, Contact.channel == PLAYGROUND)
    )


def keep_reply(contact_id: int, texts: list[str], turn_id: int, reply_to_id: int) -> None:
    """A turn's reply to a test customer: stored as said, for the page to show, never sent.
    Runs in the turn's fenced transaction."""
    delivery.store_parts(
        contact_id, texts, "bot", turn_id, reply_to_id, channel=PLAYGROUND, state=PartState.SENT
    )


def start_over(username: str) -> bool:
    """Delete the admin's test conversation, and with it what the assistant remembers of it;
    False when there was none. The log rows of its calls stay, with channel `playground`
    (what the calls cost is still the owner's), no longer tied to a customer. A turn being
    answered meanwhile loses its lease with its row: nothing of it is written afterwards."""
    with transaction():
        contact = db.session.scalar(
            select(Contact)
            .where(Contact.customer_id == customer_id_of(username), Contact.channel == PLAYGROUND)
            .with_for_update()  # a message of theirs being stored now is waited for
        )
        if contact is None:
            return False
        db.session.execute(
            update(RequestLog)
            .where(RequestLog.contact_id == contact.id)
            .values(contact_id=None, message_id=None)
        )
        db.session.execute(delete(Message).where(Message.contact_id == contact.id))
        db.session.execute(delete(Turn).where(Turn.contact_id == contact.id))
        db.session.delete(contact)
    return True


def channel_of(contact_id: int) -> str:
    """The contact's channel: whatsapp, or playground for a test customer."""
    return db.session.scalar(select(Contact.channel).where(Contact.id == contact_id)) or "whatsapp"


def note_handoff(contact_id: int, why: str | None) -> None:
    """A test customer's turn that would hand a real customer to a person: noted for the page
    (why, and when), never paused nor alerted; a turn that would not clears the note. Runs in
    the turn's fenced transaction."""
    db.session.execute(
        update(Contact)
        .where(Contact.id == contact_id, Contact.channel == PLAYGROUND)
        .values(needs_person_why=why, needs_person_since=utcnow() if why else None)
    )

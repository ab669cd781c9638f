"""The WhatsApp Business app on the same number (coexistence): its echoes, history and names.

An echo is what the owner just sent from the app: stored in the customer's thread as the
team's message, it starts a hold (the bot stays quiet for that customer) and is never
answered. History is the app's past chats, shared once at onboarding: stored as it was, never
answered, nobody alerted. The app's address book gives the names the owner saved.

Each message is one INSERT … ON CONFLICT DO NOTHING on its WhatsApp id: a redelivery, or an
echo that history repeats later, is stored once, however many web servers take it at once.
"""

import json

from flask import current_app
from sqlalchemy import update

from .. import contacts, requestlog, settings
from ..clients.whatsapp_coexistence import AppMessage, SavedName
from ..data import forgotten
from ..extensions import db, dialect_insert
from ..models import Contact, Message, utcnow
from ..requestlog import Origin
from ..states import MessageState, PartState
from . import takeover

APP = "WhatsApp Business app"  # who of the team wrote it (messages.sent_by)
RAW_LIMIT = 20_000
PLACEHOLDER = "media_placeholder"  # a file's message in history, its contents sent apart
M = Message.__table__.c
# Meta's history_context.status of a message the business sent, as a sent message's state.
SENT_STATES = {
    "sent": PartState.SENT,
    "pending": PartState.SENT,  # it left the phone; nothing more was known when shared
    "delivered": PartState.DELIVERED,
    "read": PartState.READ,
    "played": PartState.READ,  # a voice note or video listened to: read
    "error": PartState.FAILED,
}


def store_echo(echo: AppMessage) -> int:
    """Store what the owner sent from the app (once), log it, and hold the bot for that
    customer when `pause_on_staff_reply` is on. Returns 1 when it was new."""
    contact_id = _contact_for(echo, last_inbound_at=None)  # only the customer opens the window
    if contact_id is None:
        return 0
    message_id = _insert(contact_id, echo, PartState.SENT, utcnow())
    if message_id is None:
        return 0  # seen before: stored, logged and held then
    requestlog.add(
        Origin("whatsapp", contact_id=contact_id),
        upstream="whatsapp",
        operation="echo",
        status="ok",
        response_body=json.dumps(echo.raw, ensure_ascii=False)[:RAW_LIMIT],
    )
    if settings.get("pause_on_staff_reply"):
        takeover.hold_for_team(contact_id, int(settings.get("takeover_minutes")))
    return 1


def store_history(item: AppMessage) -> int:
    """Store a message of a past chat as it was: the customer's never answered, the
    business's as the team's with its last known status. Returns 1 when it was new."""
    when = None if item.from_business else item.timestamp
    contact_id = _contact_for(item, last_inbound_at=when)  # the upsert only moves it forward
    if contact_id is None:
        return 0
    if item.from_business:
        state = SENT_STATES.get(item.status or "", PartState.SENT)
    else:
        state = MessageState.IGNORED  # long past: answering it now would make no sense
    return int(_insert(contact_id, item, state, item.timestamp) is not None)


def save_name(item: SavedName) -> None:
    """The name the owner saved in the app for a number, or none when they removed it; a
    removed number not known here is not made a customer."""
    number = contacts.normalise_number(item.phone)
    if not number or len(number) > Contact.phone.type.length:
        return
    contact = contacts.find(number)
    if contact is None and item.name is None:
        return
    contact_id = contact.id if contact else contacts.upsert(number, phone=_phone(number))[0]
    name = item.name and item.name[: Contact.saved_name.type.length]
    db.session.execute(update(Contact).where(Contact.id == contact_id).values(saved_name=name))


def _contact_for(item: AppMessage, last_inbound_at) -> int | None:
    customer_id = contacts.normalise_number(item.customer_id)
    ids = [(Contact.customer_id, customer_id), (Message.wa_message_id, item.wa_message_id)]
    if not customer_id or any(len(value) > column.type.length for column, value in ids):
        current_app.logger.warning("a Business app message with an overlong id was not stored")
        return None
    if forgotten.seen(item.wa_message_id):
        return None  # its customer was forgotten: not written down again
    contact_id, _ = contacts.upsert(
        customer_id, phone=_phone(customer_id), last_inbound_at=last_inbound_at
    )
    return contact_id


def _phone(number: str) -> str | None:
    return number if number.isascii() and number.isdigit() else None


def _insert(contact_id: int, item: AppMessage, state: str, at) -> int | None:
    """The new message's id, or None when a message with this WhatsApp id is stored. History
    sends a file's message first as a placeholder, its contents later: they fill it in."""
    mine = item.from_business
    values = {
        "contact_id": contact_id,
        "direction": "out" if mine else "in",
        "author": "human" if mine else "customer",
        "sent_by": APP if mine else None,
        "wa_message_id": item.wa_message_id,
        "type": item.type[: M.type.type.length],
        "text": item.text,
        "state": state,
        "part": 0,
        "raw": json.dumps(item.raw, ensure_ascii=False)[:RAW_LIMIT],
        "created_at": at,
        "updated_at": utcnow(),
    }
    statement = dialect_insert(Message.__table__).values(values)
    if item.type == PLACEHOLDER:
        statement = statement.on_conflict_do_nothing(index_elements=[M.wa_message_id])
    else:
        statement = statement.on_conflict_do_update(
            index_elements=[M.wa_message_id],
            set_={"type": values["type"], "text": item.text, "raw": values["raw"]},
            where=M.type == PLACEHOLDER,
        )
    return db.session.execute(statement.returning(M.id)).scalar()

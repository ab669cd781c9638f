"""The WhatsApp Business app on the same number (coexistence): its echoes, history and names.

An echo is what the owner just sent from the app: stored in the customer's thread as the
team's message, it starts a hold (the bot stays quiet for that customer) and is never
answered. History is the app's past chats, shared once at onboarding: stored as it was, never
answered, nobody alerted. The app's address book gives the names the owner saved.

Messages are INSERT … ON CONFLICT on their WhatsApp id: a redelivery, or an echo that history
repeats later, is stored once, however many web servers take it at once; only a file's
placeholder in history is filled in by its contents arriving later.
"""

import json
from functools import cache

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
BATCH = 500  # rows a statement: 12 values each, well within SQLite's 32,766
PLACEHOLDER = "media_placeholder"  # a file's message in history, its contents sent apart
M = Message.__table__.c
ID_LENGTHS = Contact.customer_id.type.length, Message.wa_message_id.type.length
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


def store_history(items: list[AppMessage]) -> int:
    """Store the messages of past chats as they were: the customers' never answered, the
    business's as the team's with their last known status. A shared history may bring
    thousands in one delivery: each customer is written once, the messages a batch at a
    time. Returns how many were new (or filled a placeholder in)."""
    wanted = _one_each(items)
    ids = list(wanted)
    for start in range(0, len(ids), BATCH):
        for wa_id in forgotten.seen_among(ids[start : start + BATCH]):
            del wanted[wa_id]  # its customer was forgotten: not written down again
    # The customer's last message opens their window; the upsert only moves it forward.
    last_inbound = dict.fromkeys(customer_id for customer_id, _ in wanted.values())
    for customer_id, item in wanted.values():
        before = last_inbound[customer_id]
        if not item.from_business and (before is None or item.timestamp > before):
            last_inbound[customer_id] = item.timestamp
    contact_ids = {}
    for customer_id, when in last_inbound.items():
        phone = _phone(customer_id)
        contact_ids[customer_id], _ = contacts.upsert(
            customer_id, phone=phone, last_inbound_at=when
        )
    rows = [_row(contact_ids[customer_id], item, _state(item), item.timestamp)
            for customer_id, item in wanted.values()]  # fmt: skip
    new, dialect = 0, db.engine.dialect.name
    for start in range(0, len(rows), BATCH):
        new += len(db.session.execute(_insert_many(dialect), rows[start : start + BATCH]).all())
    return new


def _one_each(items: list[AppMessage]) -> dict[str, tuple[str, AppMessage]]:
    """(customer id, message) by WhatsApp id, each once: PostgreSQL refuses a row twice in
    one statement. A file's contents win over its placeholder."""
    wanted = {}
    for item in items:
        customer_id = contacts.normalise_number(item.customer_id)
        if not _fits(customer_id, item.wa_message_id):
            continue
        if item.type == PLACEHOLDER and item.wa_message_id in wanted:
            continue
        wanted[item.wa_message_id] = (customer_id, item)
    return wanted


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
    if not _fits(customer_id, item.wa_message_id) or forgotten.seen(item.wa_message_id):
        return None  # no WhatsApp message, or its customer was forgotten: not written down
    contact_id, _ = contacts.upsert(
        customer_id, phone=_phone(customer_id), last_inbound_at=last_inbound_at
    )
    return contact_id


def _fits(customer_id: str, wa_message_id: str) -> bool:
    """An id cut to fit would be another customer's or message's: such is no WhatsApp's."""
    if customer_id and len(customer_id) <= ID_LENGTHS[0] and len(wa_message_id) <= ID_LENGTHS[1]:
        return True
    current_app.logger.warning("a Business app message with an overlong id was not stored")
    return False


def _phone(number: str) -> str | None:
    return number if number.isascii() and number.isdigit() else None


def _state(item: AppMessage) -> str:
    if item.from_business:
        return SENT_STATES.get(item.status or "", PartState.SENT)
    return MessageState.IGNORED  # long past: answering it now would make no sense


def _row(contact_id: int, item: AppMessage, state: str, at) -> dict:
    mine = item.from_business
    return {
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


def _insert(contact_id: int, item: AppMessage, state: str, at) -> int | None:
    """The new message's id, or None when a message with this WhatsApp id is stored."""
    row = _row(contact_id, item, state, at)
    return db.session.execute(_insert_many(db.engine.dialect.name), [row]).scalar()


@cache
def _insert_many(dialect: str):
    """INSERT of messages returning the ids of those stored, built once per database kind and
    run with many rows at once (SQLAlchemy sends them as a few multi-row statements). One
    whose WhatsApp id is stored already is skipped, except that a file's contents fill in its
    placeholder (history sends the message first, the contents apart)."""
    statement = dialect_insert(Message.__table__)
    new = statement.excluded
    return statement.on_conflict_do_update(
        index_elements=[M.wa_message_id],
        set_={"type": new.type, "text": new.text, "raw": new.raw},
        where=(M.type == PLACEHOLDER) & (new.type != PLACEHOLDER),
    ).returning(M.id)

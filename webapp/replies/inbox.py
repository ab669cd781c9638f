"""Stores what WhatsApp delivers in one transaction: the customers, their messages, statuses.

A message is stored as `received`; that row is all the worker needs (the table is the queue).
Meta redelivers: a message id seen before is skipped, so it is answered once; so is the id of
a message forgotten since (`contacts forget`, retention), remembered 8 days for that.
"""

import json
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, delete, exists, literal, select

from .. import contacts, requestlog, state
from ..clients.whatsapp_webhook import Delivery, InboundMessage, Reply
from ..data import forgotten
from ..extensions import db, dialect_insert
from ..media_store import MEDIA_TYPES
from ..models import Contact, Message, PendingStatus, utcnow
from ..people import coexistence
from ..requestlog import Origin
from ..states import MessageState
from ..troubleshooting import ErrorKind
from . import statuses

RAW_LIMIT = 20_000
C, M, P = Contact.__table__.c, Message.__table__.c, PendingStatus.__table__.c


def store_delivery(received: Delivery, number_id: str | None) -> int:
    """Store every new message and status of one webhook POST; returns how many messages
    were new. `number_id` is the configured phone number ID: messages sent to another number
    are logged for the owner, not answered."""
    new = 0
    others = []
    for inbound in received.messages:
        if number_id and inbound.phone_number_id and inbound.phone_number_id != number_id:
            others.append(inbound)
            continue
        new += _store_message(inbound)
    for status in received.statuses:
        if not _fits(P.wa_message_id, status.wa_message_id):
            continue  # no message of ours has such an id
        status.status = _cut(status.status, P.status)  # one Meta adds is kept, never acted on
        if not (number_id and status.phone_number_id and status.phone_number_id != number_id):
            statuses.apply_status(status)
    # The WhatsApp Business app on the same number: what the owner sent from it, its past
    # chats and its address book (webapp/people/coexistence.py). Never answered.
    for echo in _for_number(received.echoes, number_id):
        coexistence.store_echo(echo)
    coexistence.store_history(_for_number(received.history, number_id))
    for saved in _for_number(received.names, number_id):
        coexistence.save_name(saved)
    for error in received.errors:
        current_app.logger.warning("WhatsApp reported error %s: %s", error.code, error.title)
        requestlog.add_error(Origin("whatsapp"), 1, error.as_exception(), upstream="whatsapp")
    for inbound in others:
        _log_other_number(inbound, number_id)
    db.session.commit()
    if others:
        state.record(
            "other_number",
            {
                "number_id": others[-1].phone_number_id,
                "configured": number_id,
                "count": len(others),
            },
        )
    return new


def _for_number(items: list, number_id: str | None) -> list:
    """Those sent for the configured phone number ID: another number's are not ours."""
    return [item for item in items if item.phone_number_id in (None, number_id) or not number_id]


def _fits(column, value: str | None) -> bool:
    return value is None or len(value) <= column.type.length


def _store_message(inbound: InboundMessage) -> int:
    customer_id = contacts.normalise_number(inbound.customer_id)
    phone = inbound.phone and contacts.normalise_number(inbound.phone)
    ids = [(C.customer_id, customer_id), (C.phone, phone), (C.user_id, inbound.user_id),
           (M.wa_message_id, inbound.wa_message_id)]  # fmt: skip
    # An id cut to fit would be another customer's or message's: such a message is no
    # WhatsApp message (PostgreSQL would refuse it, and with it the whole delivery).
    if not customer_id or not all(_fits(column, value) for column, value in ids):
        current_app.logger.warning("a message with an empty or overlong id was not stored")
        return 0
    contact_id, paused = contacts.upsert(
        customer_id,
        phone=phone,
        user_id=inbound.user_id,
        profile_name=_cut(inbound.profile_name, C.profile_name),
        username=_cut(inbound.username, C.username),
        last_inbound_at=inbound.timestamp,
    )
    # A paused customer's file still goes through a turn, only to be fetched (and read) for
    # the person answering: WhatsApp forgets it after a few days.
    paused_now = paused and inbound.type not in MEDIA_TYPES
    initial = MessageState.PAUSED if paused_now else MessageState.RECEIVED
    values = {
        "contact": contact_id,
        "wa_id": inbound.wa_message_id,
        "new_type": inbound.type[:32],
        "new_text": inbound.text,
        "new_state": MessageState.IGNORED if inbound.reply == Reply.NONE else initial,
        "new_raw": json.dumps(inbound.raw, ensure_ascii=False)[:RAW_LIMIT],
        "at": utcnow(),
        "wa_hash": forgotten.hashed(inbound.wa_message_id),
    }
    stored = db.session.execute(_store(db.engine.dialect.name), values).rowcount
    if not stored and forgotten.seen(inbound.wa_message_id):
        # A forgotten message delivered again: the upsert above made its customer anew.
        _drop_if_empty(contact_id)
    return stored


def _drop_if_empty(contact_id: int) -> None:
    """Delete a customer with no message, unless paused (a customer the owner paused before
    they wrote is remembered)."""
    has_messages = exists().where(Message.contact_id == Contact.id)
    db.session.execute(
        delete(Contact).where(Contact.id == contact_id, ~Contact.paused, ~has_messages)
    )


def _cut(value: str | None, column) -> str | None:
    return value and value[: column.type.length]


@cache
def _store(dialect: str):
    """INSERT of a customer message, unless its id was forgotten; the unique message id
    refuses a redelivery here, and only here: any other conflict is an error the webhook must
    not acknowledge. The forgotten ids are read by this statement, after the customer's row
    was written: a forget that committed while that write waited for it is seen."""
    row = {
        M.contact_id: bindparam("contact", type_=M.contact_id.type),
        M.direction: literal("in", M.direction.type),
        M.author: literal("customer", M.author.type),
        M.wa_message_id: bindparam("wa_id", type_=M.wa_message_id.type),
        M.type: bindparam("new_type", type_=M.type.type),
        M.text: bindparam("new_text", type_=M.text.type),
        M.state: bindparam("new_state", type_=M.state.type),
        M.part: literal(0, M.part.type),
        M.raw: bindparam("new_raw", type_=M.raw.type),
        M.created_at: bindparam("at", type_=M.created_at.type),
        M.updated_at: bindparam("at", type_=M.updated_at.type),
    }
    return (
        dialect_insert(Message.__table__)
        .from_select(list(row), select(*row.values()).where(~forgotten.SEEN))
        .on_conflict_do_nothing(index_elements=[M.wa_message_id])
        .execution_options(preserve_rowcount=True)  # SQLAlchemy drops an INSERT's otherwise
    )


def _log_other_number(inbound: InboundMessage, number_id: str) -> None:
    if forgotten.seen(inbound.wa_message_id):
        return  # its sender was forgotten: it is not written down again
    current_app.logger.warning(
        "a message for phone number ID %s arrived; Settings has %s: not answered",
        inbound.phone_number_id,
        number_id,
    )
    message = (
        f"A customer's message arrived for phone number ID {inbound.phone_number_id}, but "
        f"Settings has {number_id}; it was not answered. If that is your number, correct "
        "'Phone number ID' on the Settings page."
    )
    requestlog.add(
        Origin("whatsapp"),
        upstream="whatsapp",
        status="error",
        error_kind=str(ErrorKind.WHATSAPP_REJECTED),
        error_message=message,
        response_body=json.dumps(inbound.raw, ensure_ascii=False)[:RAW_LIMIT],
        customer_id=_cut(contacts.normalise_number(inbound.customer_id), C.customer_id),
    )

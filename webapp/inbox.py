"""Stores what WhatsApp delivers and tracks each message, so nothing is lost or sent twice."""

import json
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from . import requestlog, settings
from .clients.whatsapp_errors import WhatsAppError, kind_for_code
from .clients.whatsapp_webhook import Delivery, InboundMessage, StatusUpdate
from .extensions import db
from .models import Contact, Message, RequestLog
from .requestlog import Origin

# Delivery ticks only move forward: Meta does not promise to deliver statuses in order.
STATUS_RANK = {"sending": 0, "sent": 1, "delivered": 2, "read": 3}
LOST_ENQUEUE_AFTER = timedelta(minutes=2)
INTERRUPTED_SEND = (
    "Switchboard stopped while sending this reply, so it is not known whether the customer "
    "got it. It was not sent again, to avoid a double answer."
)
# WhatsApp accepts free-form messages from a business only this long after the customer's last.
SERVICE_WINDOW = timedelta(hours=24)


def now() -> datetime:
    return datetime.now(UTC)


def naive_utc(moment: datetime) -> datetime:
    # SQLite keeps datetimes without a zone; everything stored is UTC.
    return moment.astimezone(UTC).replace(tzinfo=None)


def normalised(number: str) -> str:
    """ "+31 6 1234 5678" as WhatsApp writes it: 31612345678."""
    return number.strip().lstrip("+").replace(" ", "")


def find_contact(customer_id: str) -> Contact | None:
    customer_id = normalised(customer_id)
    return db.session.scalar(
        select(Contact).where(or_(Contact.customer_id == customer_id, Contact.phone == customer_id))
    )


def set_paused(number: str, paused: bool) -> Contact:
    """Pause or resume the bot for a customer; a number not seen yet is remembered paused."""
    contact = find_contact(number)
    if contact is None:
        number = normalised(number)
        contact = Contact(customer_id=number, phone=number if number.isdigit() else None)
        db.session.add(contact)
    contact.paused = paused
    db.session.commit()
    return contact


def forget(number: str) -> bool:
    """Delete a customer with every message and log row about them."""
    contact = find_contact(number)
    if contact is None:
        return False
    db.session.execute(delete(RequestLog).where(RequestLog.contact_id == contact.id))
    db.session.execute(
        update(Message).where(Message.contact_id == contact.id).values(reply_to_id=None)
    )
    db.session.execute(delete(Message).where(Message.contact_id == contact.id))
    db.session.delete(contact)
    db.session.commit()
    return True


def _contact_for(inbound: InboundMessage) -> Contact:
    contact = db.session.scalar(select(Contact).where(Contact.customer_id == inbound.customer_id))
    if contact is None:
        contact = Contact(customer_id=inbound.customer_id)
        db.session.add(contact)
    contact.phone = inbound.phone or contact.phone
    contact.user_id = inbound.user_id or contact.user_id
    contact.profile_name = inbound.profile_name or contact.profile_name
    contact.username = inbound.username or contact.username
    if contact.last_inbound_at is None or naive_utc(inbound.timestamp) > contact.last_inbound_at:
        contact.last_inbound_at = naive_utc(inbound.timestamp)
    return contact


def store_delivery(delivery: Delivery) -> list[int]:
    """Store every new message and status; return the ids of messages that need an answer.

    A message id seen before (Meta redelivers) is skipped, so it is answered only once.
    """
    to_answer = []
    for inbound in delivery.messages:
        contact = _contact_for(inbound)
        state = "ignored" if inbound.reply == "none" else "paused" if contact.paused else "received"
        message = Message(
            contact=contact,
            direction="in",
            author="customer",
            wa_message_id=inbound.wa_message_id,
            type=inbound.type[:32],
            text=inbound.text,
            state=state,
            raw=json.dumps(inbound.raw, ensure_ascii=False)[:20_000],
        )
        db.session.add(message)
        try:
            db.session.flush()  # the unique message id refuses a redelivery here
        except IntegrityError:
            db.session.rollback()
            continue
        if state == "received":
            to_answer.append(message.id)
        db.session.commit()
    for status in delivery.statuses:
        apply_status(status)
    for error in delivery.errors:
        current_app.logger.warning("WhatsApp reported error %s: %s", error.code, error.title)
        requestlog.upstream_error(
            Origin("whatsapp"),
            1,
            error.as_exception(),
            upstream="whatsapp",
            body=None,
            latency_ms=0,
        )
    return to_answer


def any_reply_delivered() -> bool:
    delivered = select(Message.id).where(
        Message.direction == "out", Message.state.in_(("delivered", "read"))
    )
    return db.session.scalar(delivered.limit(1)) is not None


def last_inbound_at() -> datetime | None:
    return db.session.scalar(select(func.max(Contact.last_inbound_at)))


def apply_status(status: StatusUpdate) -> None:
    message = db.session.scalar(
        select(Message).where(Message.wa_message_id == status.wa_message_id)
    )
    if message is None or message.direction != "out":
        return  # a message sent from elsewhere (the WhatsApp app, another tool)
    if status.status == "failed":
        message.state = "failed"
        message.error_code = status.error_code
        message.error_kind = str(kind_for_code(status.error_code))
        message.error_detail = " — ".join(filter(None, [status.error_title, status.error_details]))
    elif STATUS_RANK.get(status.status, -1) > STATUS_RANK.get(message.state, 99):
        message.state = status.status
    db.session.commit()


def claim(message_id: int) -> Message | None:
    """Take a received message for answering; None when another run has it or it is done."""
    claimed = db.session.execute(
        update(Message)
        .where(Message.id == message_id, Message.direction == "in", Message.state == "received")
        .values(state="processing", claimed_at=naive_utc(now()), attempts=Message.attempts + 1)
    ).rowcount
    db.session.commit()
    return db.session.get(Message, message_id) if claimed else None


def finish(message: Message, state: str, error: Exception | None = None) -> None:
    message.state = state
    if error is not None:
        message.error_kind = str(getattr(error, "kind", "")) or None
        message.error_detail = getattr(error, "message", str(error))
    db.session.commit()


def reply_parts(message: Message) -> list[Message]:
    query = select(Message).where(Message.reply_to_id == message.id).order_by(Message.part)
    return list(db.session.scalars(query))


def finish_interrupted(message: Message) -> None:
    parts = reply_parts(message)
    if all(part.state not in ("sending", "failed") for part in parts):
        finish(message, "answered")
        return
    message.state = "failed"
    message.error_detail = INTERRUPTED_SEND
    db.session.commit()


def start_outbound(
    contact_id: int, text: str, part: int, author: str, reply_to: Message | None = None
) -> Message:
    """Store an outgoing message before it is sent, so a crash mid-send is never repeated."""
    out = Message(
        contact_id=contact_id,
        direction="out",
        author=author,
        text=text,
        state="sending",
        reply_to_id=reply_to.id if reply_to else None,
        part=part,
    )
    db.session.add(out)
    db.session.commit()
    return out


def mark_sent(out: Message, wa_message_id: str) -> None:
    out.wa_message_id = wa_message_id
    out.state = "sent"
    db.session.commit()


def mark_send_failed(out: Message, error: WhatsAppError) -> None:
    out.state = "failed"
    out.error_kind = str(error.kind)
    out.error_code = error.code
    out.error_detail = error.message
    db.session.commit()


def last_send_error(message: Message) -> Exception | None:
    failed = [part for part in reply_parts(message) if part.state == "failed"]
    if not failed:
        return None
    part = failed[-1]
    return WhatsAppError(part.error_kind, part.error_detail or "The reply could not be sent.")


def stuck_message_ids() -> list[int]:
    """Messages stored but never finished: a lost enqueue, or a worker that died mid-job."""
    current = now()
    stale = timedelta(seconds=current_app.config.get("STALE_AFTER_SECONDS") or _stale_seconds())
    inbound = Message.direction == "in"
    abandoned = list(
        db.session.scalars(
            select(Message.id).where(
                inbound,
                Message.state == "processing",
                Message.claimed_at < naive_utc(current - stale),
            )
        )
    )
    if abandoned:
        db.session.execute(
            update(Message)
            .where(Message.id.in_(abandoned), Message.state == "processing")
            .values(state="received")
        )
        db.session.commit()
    never_started = db.session.scalars(
        select(Message.id).where(
            inbound,
            Message.state == "received",
            Message.updated_at < naive_utc(current - min(stale, LOST_ENQUEUE_AFTER)),
        )
    )
    return sorted(set(abandoned) | set(never_started))


def fail_abandoned_sends() -> int:
    """Outgoing messages a crash left at "sending": unknown whether they arrived, so they are
    marked failed (never sent again) and the thread shows why."""
    stale = timedelta(seconds=current_app.config.get("STALE_AFTER_SECONDS") or _stale_seconds())
    failed = db.session.execute(
        update(Message)
        .where(
            Message.direction == "out",
            Message.state == "sending",
            Message.created_at < naive_utc(now() - stale),
        )
        .values(state="failed", error_detail=INTERRUPTED_SEND)
    ).rowcount
    db.session.commit()
    return failed


def _stale_seconds() -> float:
    # Longer than any real job: every attempt may take the whole timeout, plus the backoff.
    attempts = current_app.config.get("RETRY_ATTEMPTS", 3)
    return float(settings.get("request_timeout")) * attempts * 2 + 120


def service_window_ends(contact: Contact) -> datetime | None:
    """When WhatsApp stops taking free-form messages to `contact` (naive UTC); None: never open."""
    if contact.last_inbound_at is None:
        return None
    return contact.last_inbound_at + SERVICE_WINDOW


def in_service_window(contact: Contact) -> bool:
    ends = service_window_ends(contact)
    return ends is not None and naive_utc(now()) < ends

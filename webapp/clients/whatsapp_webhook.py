"""WhatsApp's webhook: checking the signature of a POST and reading its messages and statuses,
and, for a number shared with the WhatsApp Business app (coexistence), its echoes, history and
address book."""

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from . import whatsapp_coexistence as coexistence
from .whatsapp_coexistence import AppMessage, SavedName
from .whatsapp_errors import (
    RAW_BODY_LIMIT,
    WhatsAppError,
    graph_code,
    kind_for_code,
    meta_words,
    trimmed,
)
from .whatsapp_reading import SILENT, dicts, text_of, time_of
from .wire import dig

# Meta's deliveries nest about ten levels; far deeper is no delivery, and unbounded depth
# would exhaust the stack of whatever walks it next (the JSON encoder, the database driver).
MAX_DEPTH = 64


class Reply(StrEnum):
    MODEL = "model"  # the text goes to the model
    NON_TEXT = "non_text"  # the owner's reply for messages the bot cannot read
    NONE = "none"  # nothing is sent back


@dataclass
class InboundMessage:
    wa_message_id: str
    customer_id: str  # the phone number (wa_id), or the user id of a username-only customer
    phone: str | None
    user_id: str | None
    profile_name: str | None
    username: str | None
    type: str  # as Meta sent it: "text", "image", "reaction", "unsupported", anything new
    text: str | None  # what the model should read; None when there is nothing to read
    reply: str  # a Reply value
    timestamp: datetime
    context_id: str | None  # the message the customer replied to
    phone_number_id: str | None  # the business number it was sent to
    raw: dict


@dataclass
class StatusUpdate:
    wa_message_id: str
    status: str  # sent, delivered, read, failed, or anything Meta adds
    recipient_id: str | None
    timestamp: datetime
    error_code: int | None
    error_title: str | None
    error_details: str | None
    phone_number_id: str | None
    raw: dict


@dataclass
class WebhookError:
    code: int | None
    title: str | None
    message: str | None
    details: str | None
    raw: dict

    def as_exception(self) -> WhatsAppError:
        """The same fields as a failed call has, so the request log can record it alike."""
        words = meta_words(self.code, self.title, self.message, self.details)
        raw_body = json.dumps(self.raw, ensure_ascii=False)[:RAW_BODY_LIMIT]
        message = words or "WhatsApp reported an error without a message."
        return WhatsAppError(kind_for_code(self.code), message, code=self.code, raw_body=raw_body)


@dataclass
class Delivery:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    errors: list[WebhookError] = field(default_factory=list)
    echoes: list[AppMessage] = field(default_factory=list)
    history: list[AppMessage] = field(default_factory=list)
    names: list[SavedName] = field(default_factory=list)


def sign(app_secret: str, raw_body: bytes) -> str:
    """The X-Hub-Signature-256 value Meta sends for `raw_body`."""
    digest = hmac.new(app_secret.strip().encode(), raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """True only when `header` is the HMAC of the exact bytes received (never re-serialised)."""
    if not app_secret or not app_secret.strip() or not isinstance(header, str):
        return False
    prefix, _, given = header.strip().partition("=")
    if prefix.lower() != "sha256":
        return False
    expected = sign(app_secret, raw_body).partition("=")[2]
    return hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace"))


class MalformedDelivery(ValueError):
    """A signed body that is no WhatsApp delivery; the message says why, for the 400."""


def read_payload(raw: bytes) -> dict:
    """The JSON object of a signed body, with every string made storable (no NUL, no lone
    surrogate: both refused by database drivers); MalformedDelivery when it is not one."""
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedDelivery("the body is not JSON") from exc
    except RecursionError as exc:
        raise MalformedDelivery("the body is nested too deeply") from exc
    if not isinstance(payload, dict):
        raise MalformedDelivery("the body is not a JSON object")
    return _storable(payload, MAX_DEPTH)


def _storable(value: Any, depth: int) -> Any:
    if isinstance(value, str):
        if value.isascii():
            return value.replace("\0", "")
        return value.encode("utf-8", "replace").decode().replace("\0", "")
    if not isinstance(value, dict | list):
        return value
    if depth == 0:
        raise MalformedDelivery("the body is nested too deeply")
    if isinstance(value, list):
        return [_storable(item, depth - 1) for item in value]
    return {_storable(key, depth): _storable(item, depth - 1) for key, item in value.items()}


def parse_webhook(payload: Any) -> Delivery:
    """Every message, status and error of one POST; malformed pieces are skipped, never raised."""
    delivery = Delivery()
    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in dicts(entries):
        for change in dicts(entry.get("changes")):
            value, kind = change.get("value"), change.get("field", "messages")
            if not isinstance(value, dict):
                continue
            if kind == "smb_message_echoes":
                delivery.echoes += coexistence.echoes(value)
            elif kind == "history":
                past, declined = coexistence.history(value)
                delivery.history += past
                delivery.errors += [WebhookError(*_error_fields(e), raw=e) for e in declined]
            elif kind == "smb_app_state_sync":
                delivery.names += coexistence.saved_names(value)
            if kind != "messages":
                continue  # other subscriptions (templates, account updates) have other shapes
            number_id = trimmed(dig(value, "metadata", "phone_number_id"))
            contacts = dicts(value.get("contacts"))
            for message in dicts(value.get("messages")):
                if inbound := _inbound(message, contacts, number_id):
                    delivery.messages.append(inbound)
            for status in dicts(value.get("statuses")):
                if update := _status(status, number_id):
                    delivery.statuses.append(update)
            for error in dicts(value.get("errors")):
                delivery.errors.append(WebhookError(*_error_fields(error), raw=error))
    return delivery


def _inbound(message: dict, contacts: list[dict], number_id: str | None) -> InboundMessage | None:
    phone, user_id = trimmed(message.get("from")), trimmed(message.get("from_user_id"))
    contact = _contact_for(contacts, phone, user_id)
    phone = phone or trimmed(contact.get("wa_id"))
    user_id = user_id or trimmed(contact.get("user_id"))
    message_id, customer_id = trimmed(message.get("id")), phone or user_id
    if not message_id or not customer_id:
        return None  # nothing to dedupe on, or nobody to answer
    kind = trimmed(message.get("type")) or "unknown"
    part = message.get(kind) if isinstance(message.get(kind), dict) else {}
    text = None if kind in SILENT else text_of(kind, part)
    return InboundMessage(
        wa_message_id=message_id,
        customer_id=customer_id,
        phone=phone,
        user_id=user_id,
        profile_name=trimmed(dig(contact, "profile", "name")),
        username=trimmed(dig(contact, "profile", "username")),
        type=kind,
        text=text,
        reply=Reply.NONE if kind in SILENT else Reply.MODEL if text else Reply.NON_TEXT,
        timestamp=time_of(message.get("timestamp")),
        context_id=trimmed(dig(message, "context", "id")),
        phone_number_id=number_id,
        raw=message,
    )


def _contact_for(contacts: list[dict], phone: str | None, user_id: str | None) -> dict:
    ids = {phone, user_id} - {None}
    for contact in contacts:
        if ids & {trimmed(contact.get("wa_id")), trimmed(contact.get("user_id"))}:
            return contact
    # With no sender id on the message, the change's only contact can only be the sender.
    return contacts[0] if len(contacts) == 1 and not (phone or user_id) else {}


def _status(status: dict, number_id: str | None) -> StatusUpdate | None:
    if not (message_id := trimmed(status.get("id"))):
        return None
    errors = dicts(status.get("errors"))
    code, title, message, details = _error_fields(errors[0]) if errors else (None,) * 4
    recipient_id = trimmed(status.get("recipient_id")) or trimmed(status.get("recipient_user_id"))
    return StatusUpdate(
        wa_message_id=message_id,
        status=trimmed(status.get("status")) or "unknown",
        recipient_id=recipient_id,
        timestamp=time_of(status.get("timestamp")),
        error_code=code,
        error_title=title or message,
        error_details=details,
        phone_number_id=number_id,
        raw=status,
    )


def _error_fields(error: dict) -> tuple[int | None, str | None, str | None, str | None]:
    code, title = graph_code(error.get("code")), trimmed(error.get("title"))
    return code, title, trimmed(error.get("message")), trimmed(dig(error, "error_data", "details"))

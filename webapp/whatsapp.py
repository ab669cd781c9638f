"""The WhatsApp Cloud API: webhook signatures and parsing, sending text, splitting long replies."""

import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from .troubleshooting import ErrorKind, Trouble, trouble
from .wire import (
    as_float,
    as_int,
    dig,
    header,
    json_or_none,
    network_reason,
    not_json_message,
    retry_seconds,
    shorten,
)

DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"
TEXT_LIMIT = 4096  # Meta's maximum for one text body
RAW_BODY_LIMIT = 10_000  # enough to inspect any Graph error, small enough for a log row
MESSAGE_LIMIT = 600
# Codes 10 and 200-299 are missing permissions: the fix is the same token page as for 190.
AUTH_CODES = frozenset({190, 10, *range(200, 300)})
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131048, 131056})
# Meta documents these as temporary ("try again later") whatever HTTP status carries them.
TEMPORARY_CODES = frozenset({2, 131000, 131016})
CAPTIONED = frozenset({"image", "video", "document"})
# A reaction, a system notice or a chat being opened is not something the customer asked.
SILENT = frozenset({"reaction", "system", "request_welcome"})
BREAKS = (r"\n[ \t]*\n\s*", r"\n\s*", r"(?<=[.!?])[ \t]+", r"[ \t]+")  # best place to cut first


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

    def as_exception(self) -> "WhatsAppError":
        """The same fields as a failed call has, so the request log can record it alike."""
        words = _meta_words(self.code, self.title, self.message, self.details)
        raw_body = json.dumps(self.raw, ensure_ascii=False)[:RAW_BODY_LIMIT]
        message = words or "WhatsApp reported an error without a message."
        return WhatsAppError(kind_for_code(self.code), message, code=self.code, raw_body=raw_body)


@dataclass
class Delivery:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)
    errors: list[WebhookError] = field(default_factory=list)


@dataclass
class SendResult:
    message_id: str
    wa_id: str | None  # the number as WhatsApp normalised it
    latency_ms: int
    raw: dict


@dataclass(eq=False, repr=False)
class WhatsAppError(Exception):
    """One failed Graph call, classified into exactly one ErrorKind; `message` is safe to show."""

    kind: ErrorKind
    message: str
    http_status: int | None = None
    code: int | None = None
    subcode: int | None = None
    retry_after: float | None = None
    raw_body: str = ""  # the body as received, cut to RAW_BODY_LIMIT, for inspection

    def __post_init__(self):
        self.kind = ErrorKind(self.kind)
        super().__init__(self.message)

    @property
    def trouble(self) -> Trouble:
        return trouble(self.kind)

    def __str__(self) -> str:
        facts = [f"HTTP {self.http_status}"] if self.http_status is not None else []
        message = self.message
        if self.code is not None:  # shown once, in the parenthesis, not again as Meta's "(#n)"
            facts.append(f"code {self.code}")
            message = message.removeprefix(f"(#{self.code}) ")
        return f"{self.kind.value}{' (' + ', '.join(facts) + ')' if facts else ''}: {message}"

    def __repr__(self) -> str:
        return f"WhatsAppError({self.kind.value!r}, {self.message!r}, {self.http_status!r})"

    def __reduce__(self):  # Exception's own pickling would drop every field but the message
        return (type(self), (self.kind, self.message), self.__dict__)


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


def parse_webhook(payload: Any) -> Delivery:
    """Every message, status and error of one POST; malformed pieces are skipped, never raised."""
    delivery = Delivery()
    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in _dicts(entries):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if change.get("field", "messages") != "messages" or not isinstance(value, dict):
                continue  # other subscriptions (templates, account updates) have other shapes
            number_id = _trim(dig(value, "metadata", "phone_number_id"))
            contacts = _dicts(value.get("contacts"))
            for message in _dicts(value.get("messages")):
                if inbound := _inbound(message, contacts, number_id):
                    delivery.messages.append(inbound)
            for status in _dicts(value.get("statuses")):
                if update := _status(status, number_id):
                    delivery.statuses.append(update)
            for error in _dicts(value.get("errors")):
                delivery.errors.append(WebhookError(*_error_fields(error), raw=error))
    return delivery


def _inbound(message: dict, contacts: list[dict], number_id: str | None) -> InboundMessage | None:
    phone, user_id = _trim(message.get("from")), _trim(message.get("from_user_id"))
    contact = _contact_for(contacts, phone, user_id)
    phone = phone or _trim(contact.get("wa_id"))
    user_id = user_id or _trim(contact.get("user_id"))
    message_id, customer_id = _trim(message.get("id")), phone or user_id
    if not message_id or not customer_id:
        return None  # nothing to dedupe on, or nobody to answer
    kind = _trim(message.get("type")) or "unknown"
    part = message.get(kind) if isinstance(message.get(kind), dict) else {}
    text = None if kind in SILENT else _text_of(kind, part)
    return InboundMessage(
        wa_message_id=message_id,
        customer_id=customer_id,
        phone=phone,
        user_id=user_id,
        profile_name=_trim(dig(contact, "profile", "name")),
        username=_trim(dig(contact, "profile", "username")),
        type=kind,
        text=text,
        reply=Reply.NONE if kind in SILENT else Reply.MODEL if text else Reply.NON_TEXT,
        timestamp=_time(message.get("timestamp")),
        context_id=_trim(dig(message, "context", "id")),
        phone_number_id=number_id,
        raw=message,
    )


def _contact_for(contacts: list[dict], phone: str | None, user_id: str | None) -> dict:
    ids = {phone, user_id} - {None}
    for contact in contacts:
        if ids & {contact.get("wa_id"), contact.get("user_id")}:
            return contact
    # With no sender id on the message, the change's only contact can only be the sender.
    return contacts[0] if len(contacts) == 1 and not (phone or user_id) else {}


def _text_of(kind: str, part: dict) -> str | None:
    if kind == "text":
        return _trim(part.get("body"))
    if kind in CAPTIONED:
        return _trim(part.get("caption"))
    if kind == "button":  # a template's quick-reply button
        return _trim(part.get("text")) or _trim(part.get("payload"))
    if kind == "interactive":
        choice = part.get(part["type"]) if isinstance(part.get("type"), str) else None
        if isinstance(choice, dict) and _trim(choice.get("title")):
            return _joined(" — ", choice.get("title"), choice.get("description"))
    if kind == "location":
        place = _joined(", ", part.get("name"), part.get("address"))
        lat, lon = part.get("latitude"), part.get("longitude")
        known = as_float(lat) is not None and as_float(lon) is not None
        where = f" (location {lat}, {lon})" if known else ""
        return place + where if place else None
    return None  # audio, stickers, contacts, unsupported, unknown and anything new


def _status(status: dict, number_id: str | None) -> StatusUpdate | None:
    if not (message_id := _trim(status.get("id"))):
        return None
    errors = _dicts(status.get("errors"))
    code, title, message, details = _error_fields(errors[0]) if errors else (None,) * 4
    return StatusUpdate(
        wa_message_id=message_id,
        status=_trim(status.get("status")) or "unknown",
        recipient_id=_trim(status.get("recipient_id")) or _trim(status.get("recipient_user_id")),
        timestamp=_time(status.get("timestamp")),
        error_code=code,
        error_title=title or message,
        error_details=details,
        phone_number_id=number_id,
        raw=status,
    )


def _error_fields(error: dict) -> tuple[int | None, str | None, str | None, str | None]:
    details = _trim(dig(error, "error_data", "details"))
    return _code(error.get("code")), _trim(error.get("title")), _trim(error.get("message")), details


class WhatsAppClient:
    """Sends through the Cloud API as one business phone number."""

    def __init__(
        self,
        access_token: str,
        phone_number_id: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 15,
        session: requests.Session | None = None,
    ):
        self.access_token = access_token.strip()  # a pasted token often ends in a newline
        self.phone_number_id = str(phone_number_id).strip()
        self.base_url = (base_url or DEFAULT_BASE_URL).strip().rstrip("/")
        self.timeout = float(timeout)
        self.session = session or requests.Session()

    def __repr__(self) -> str:  # never the token
        return f"WhatsAppClient({self.phone_number_id!r}, base_url={self.base_url!r})"

    def send_text(self, to: str, body: str, reply_to: str | None = None) -> SendResult:
        if not body.strip() or len(body) > TEXT_LIMIT:  # split_message() makes parts that fit
            raise ValueError(f"A text must have 1 to {TEXT_LIMIT} characters, not {len(body)}.")
        message: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"preview_url": False, "body": body},
        }
        if reply_to:
            message["context"] = {"message_id": reply_to}
        payload, latency_ms = self._post(message, ("messages", 0, "id"))
        wa_id = _trim(dig(payload, "contacts", 0, "wa_id"))
        return SendResult(str(dig(payload, "messages", 0, "id")), wa_id, latency_ms, payload)

    def mark_read(self, message_id: str, typing: bool = False) -> None:
        body = dict(messaging_product="whatsapp", status="read", message_id=message_id)
        if typing:  # shown until the reply is sent, or for at most 25 seconds
            body["typing_indicator"] = {"type": "text"}
        self._post(body, ("success",))

    def _post(self, body: dict, expected: tuple) -> tuple[dict, int]:
        """POST /<phone-number-id>/messages; any failure becomes one WhatsAppError."""
        try:
            status, text, headers, latency_ms = self._send(body)
            payload = json_or_none(text)
            ok = 200 <= status < 300 and isinstance(payload, dict) and "error" not in payload
            if not ok or not dig(payload, *expected):
                raise classify_graph_error(status, text, headers)
            return payload, latency_ms
        except WhatsAppError as err:
            raise self._redacted(err) from None

    def _send(self, body: dict) -> tuple[int, str, Mapping, int]:
        if not re.fullmatch(r"[\x21-\x7e]+", self.access_token):
            message = "The access token is empty or has characters a token cannot have."
            raise WhatsAppError(ErrorKind.WHATSAPP_AUTH, message)
        if not self.phone_number_id:
            message = "No phone number ID is set; copy it from WhatsApp > API Setup."
            raise WhatsAppError(ErrorKind.WHATSAPP_REJECTED, message)
        url = f"{self.base_url}/{quote(self.phone_number_id, safe='')}/messages"
        headers = {
            "Authorization": f"Bearer {self.access_token}",
            "Content-Type": "application/json",
        }
        started = time.monotonic()
        try:
            response = self.session.post(
                url,
                data=json.dumps(body, ensure_ascii=False).encode(),
                headers=headers,
                timeout=(self.timeout, self.timeout),
                allow_redirects=False,  # a redirect would carry the token somewhere else
            )
        except requests.Timeout:
            message = f"No answer from {self._host()} within {self.timeout:g} seconds."
            raise WhatsAppError(ErrorKind.WHATSAPP_UNAVAILABLE, message) from None
        except requests.RequestException as exc:
            raise self._transport_error(exc) from None
        latency_ms = int((time.monotonic() - started) * 1000)
        text = response.content.decode("utf-8", "replace")
        return response.status_code, text, response.headers, latency_ms

    def _host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url

    def _transport_error(self, exc: Exception) -> WhatsAppError:
        # Written here, never copied from `exc`: requests quotes header values (the token)
        # in some of its messages.
        errors = requests.exceptions
        if isinstance(exc, errors.InvalidURL | errors.MissingSchema | errors.InvalidSchema):
            message = f"The Graph API base URL {self.base_url!r} is not a valid http(s) address."
        elif isinstance(exc, errors.SSLError):
            message = f"The secure (TLS) connection to {self._host()} failed."
        else:
            message = f"Could not reach {self._host()}: {network_reason(exc)}."
        return WhatsAppError(ErrorKind.WHATSAPP_UNAVAILABLE, message)

    def _redacted(self, err: WhatsAppError) -> WhatsAppError:
        token, hidden = self.access_token, "[token hidden]"
        if len(token) < 8:
            return err
        return replace(
            err,
            message=err.message.replace(token, hidden),
            raw_body=err.raw_body.replace(token, hidden),
        )


def classify_graph_error(
    status: int | None, body: str | bytes, headers: Mapping | None = None
) -> WhatsAppError:
    """Turn a failed Graph answer into exactly one WhatsAppError (pure, so tests call it)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body or ""
    payload = json_or_none(text)
    error = payload.get("error") if isinstance(payload, dict) else None
    error = {"message": error} if isinstance(error, str) else error
    code = subcode = None
    if isinstance(error, dict):
        code, subcode = _code(error.get("code")), _code(error.get("error_subcode"))
        details = dig(error, "error_data", "details")
        words = _meta_words(code, error.get("message"), error.get("error_user_msg"), details)
        message = words or f"The Graph API answered HTTP {status} with an error but no message."
    elif isinstance(payload, dict):
        # No error object. After a 2xx (no messages[0].id: a different response structure) the
        # kind is whatsapp_rejected, never retried: the message may have gone out, so a retry
        # could send it twice, and such an answer usually means a wrong base URL anyway.
        message = f"The answer (HTTP {status}) is not a Graph API answer; check the base URL."
    else:
        message = not_json_message(status, text, headers)
    return WhatsAppError(
        _kind_for(status, code),
        shorten(message, MESSAGE_LIMIT),
        status,
        code,
        subcode,
        retry_seconds(header(headers, "Retry-After")),
        text[:RAW_BODY_LIMIT],
    )


def kind_for_code(code: int | None) -> ErrorKind:
    """The kind for a Graph error code seen without an HTTP answer (failed statuses, webhooks)."""
    return _kind_for(None, code)


def _kind_for(status: int | None, code: int | None) -> ErrorKind:
    if code in AUTH_CODES or status == 401:
        return ErrorKind.WHATSAPP_AUTH
    if code == 131047:
        return ErrorKind.WHATSAPP_WINDOW
    if status == 429 or code in RATE_LIMIT_CODES:
        return ErrorKind.WHATSAPP_RATE_LIMITED
    if (status or 0) >= 500 or code in TEMPORARY_CODES:
        return ErrorKind.WHATSAPP_UNAVAILABLE
    return ErrorKind.WHATSAPP_REJECTED


def _meta_words(code: int | None, *parts: Any) -> str:
    words = _joined(" — ", *parts)
    if words and code is not None and f"#{code}" not in words:
        words = f"(#{code}) {words}"  # Meta's own way of naming the code
    return words


def split_message(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Parts of at most `limit` characters, cut at the most natural break near the limit."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    parts, rest = [], text.strip()
    while len(rest) > limit:
        # A break right after the limit still leaves a full part; one too early wastes a message.
        window, earliest = rest[: limit + 1], max(1, limit // 4)
        cuts = (
            [m.start() for m in re.finditer(b, window) if m.start() >= earliest] for b in BREAKS
        )
        cut = next((found[-1] for found in cuts if found), limit)
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    return [*parts, rest] if rest else parts


def _dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _trim(value: Any) -> str | None:
    # Not wire.as_str (a string exactly as sent): webhook text is typed by people, and a body
    # of only spaces or line breaks is nothing the model can answer (it gets the non-text reply).
    return value.strip() if isinstance(value, str) and value.strip() else None


def _code(value: Any) -> int | None:
    # Not wire.as_int alone: a Graph error code is looked up in sets of ints (AUTH_CODES…),
    # so a code sent as a digit string must still match.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return as_int(value)


def _joined(separator: str, *values: Any) -> str:
    return separator.join(dict.fromkeys(v for v in map(_trim, values) if v))


def _time(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC)  # the webhook arrives within seconds of the message

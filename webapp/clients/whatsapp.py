"""The WhatsApp Cloud API client: sending text and read receipts, splitting long replies."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..troubleshooting import ErrorKind
from .http import HttpClient, TransportError
from .whatsapp_errors import WhatsAppError, classify_graph_error, trimmed
from .wire import dig, json_or_none

# Meta retires each Graph version about two years after it ships (v20.0 in September 2026).
DEFAULT_BASE_URL = "https://graph.facebook.com/v25.0"
TEXT_LIMIT = 4096  # Meta's maximum for one text body
BREAKS = (r"\n[ \t]*\n\s*", r"\n\s*", r"(?<=[.!?])[ \t]+", r"[ \t]+")  # best place to cut first


@dataclass
class SendResult:
    message_id: str
    wa_id: str | None  # the number as WhatsApp normalised it
    latency_ms: int
    raw: dict


BSUID = re.compile(r"[A-Z]{2}\.[A-Za-z0-9.]{1,140}")  # e.g. US.13491208655302741918


class WhatsAppClient(HttpClient):
    """Sends through the Cloud API as one business phone number."""

    redaction = "[token hidden]"
    base_url_label = "Graph API base URL"

    def __init__(
        self,
        access_token: str,
        phone_number_id: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 15,
    ):
        super().__init__(access_token, base_url or DEFAULT_BASE_URL, timeout)
        self.phone_number_id = str(phone_number_id).strip()

    def __repr__(self) -> str:  # never the token
        return f"WhatsAppClient({self.phone_number_id!r}, base_url={self.base_url!r})"

    def send_text(
        self, to: str, body: str, reply_to: str | None = None, timeout: float | None = None
    ) -> SendResult:
        """Send one text of at most TEXT_LIMIT characters; `timeout` (seconds) replaces the
        client's own for this call."""
        if not body.strip() or len(body) > TEXT_LIMIT:  # split_message() makes parts that fit
            raise ValueError(f"A text must have 1 to {TEXT_LIMIT} characters, not {len(body)}.")
        # A customer who adopted a username may have no phone number for us, only a
        # business-scoped user id ("US.1349…"), which Meta takes as `recipient` instead of `to`.
        address = "recipient" if BSUID.fullmatch(to) else "to"
        message: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            address: to,
            "type": "text",
            "text": {"preview_url": False, "body": body},
        }
        if reply_to:
            message["context"] = {"message_id": reply_to}
        payload, latency_ms = self._post(message, ("messages", 0, "id"), timeout)
        wa_id = trimmed(dig(payload, "contacts", 0, "wa_id"))
        return SendResult(str(dig(payload, "messages", 0, "id")), wa_id, latency_ms, payload)

    def mark_read(self, message_id: str, typing: bool = False) -> None:
        body = dict(messaging_product="whatsapp", status="read", message_id=message_id)
        if typing:  # shown until the reply is sent, or for at most 25 seconds
            body["typing_indicator"] = {"type": "text"}
        self._post(body, ("success",))

    def _post(self, body: dict, expected: tuple, timeout: float | None = None) -> tuple[dict, int]:
        """POST /<phone-number-id>/messages; any failure becomes one WhatsAppError."""
        try:
            status, text, headers, latency_ms = self._send(body, timeout)
            payload = json_or_none(text)
            ok = 200 <= status < 300 and isinstance(payload, dict) and "error" not in payload
            if not ok or not dig(payload, *expected):
                raise classify_graph_error(status, text, headers)
            return payload, latency_ms
        except WhatsAppError as err:
            raise self.redacted(err) from None

    def _send(self, body: dict, timeout: float | None) -> tuple[int, str, Mapping, int]:
        if not self.secret or self.secret_has_bad_characters():
            message = "The access token is empty or has characters a token cannot have."
            raise WhatsAppError(ErrorKind.WHATSAPP_AUTH, message)
        if not self.phone_number_id:
            message = "No phone number ID is set; copy it from WhatsApp > API Setup."
            raise WhatsAppError(ErrorKind.WHATSAPP_REJECTED, message)
        path = f"/{quote(self.phone_number_id, safe='')}/messages"
        try:
            return self.request("POST", path, body, timeout=timeout)
        except TransportError as failure:
            # Once the request may have reached Meta, the message may be on its way to the
            # customer: a retry could deliver it twice, so only the owner may send it again.
            kind = ErrorKind.WHATSAPP_UNKNOWN if failure.reached else ErrorKind.WHATSAPP_UNAVAILABLE
            raise WhatsAppError(kind, failure.message, failure.http_status) from None


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

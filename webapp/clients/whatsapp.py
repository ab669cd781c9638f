"""The WhatsApp Cloud API client: sending text, templates and read receipts, fetching a
customer's media and the business account's templates, splitting long replies."""

import hashlib
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, BinaryIO
from urllib.parse import quote, urlencode

from urllib3.exceptions import LocationParseError
from urllib3.util import Url, parse_url

from ..troubleshooting import ErrorKind
from .http import HttpClient, TransportError
from .whatsapp_errors import (
    RAW_BODY_LIMIT,
    WhatsAppError,
    classify_graph_error,
    classify_send_error,
    trimmed,
)
from .wire import as_str, dig, json_or_none

# Meta retires each Graph version about two years after it ships (v20.0 in September 2026).
DEFAULT_BASE_URL = "https://graph.facebook.com/v25.0"
# Meta's own domain for the files customers send: Graph's media answers name
# https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid=…
META_MEDIA_DOMAIN = "fbsbx.com"
DEFAULT_PORTS = {"http": 80, "https": 443}
PHONE_FIELDS = "verified_name,display_phone_number,quality_rating"
TEMPLATE_FIELDS = "name,status,category,language,components,parameter_format,rejected_reason,id"
TEMPLATES_PER_PAGE = 100
TEMPLATE_PAGES = 100  # 10,000 templates; Meta allows a business account at most 6,000
TEXT_LIMIT = 4096  # Meta's maximum for one text body
BREAKS = (r"\n[ \t]*\n\s*", r"\n\s*", r"(?<=[.!?])[ \t]+", r"[ \t]+")  # best place to cut first


@dataclass
class SendResult:
    message_id: str
    wa_id: str | None  # the number as WhatsApp normalised it
    latency_ms: int
    raw: dict


@dataclass
class MediaInfo:
    """Where a customer's photo, voice note or file can be downloaded, for about 5 minutes."""

    url: str
    mime_type: str | None
    sha256: str | None
    file_size: int | None  # Meta sends it as a string, some proxies as a number


@dataclass
class PhoneNumber:
    """What Graph says of the phone number ID: the name customers see, the number, and
    Meta's quality rating of it (GREEN, YELLOW, RED; UNKNOWN for a new number)."""

    verified_name: str
    display_phone_number: str
    quality_rating: str


class MediaTooLarge(WhatsAppError):
    """The file is larger than Switchboard keeps for its type."""


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
        return self._send_message(message, timeout)

    def send_template(
        self,
        to: str,
        name: str,
        language: str,
        components: list[dict] | None = None,
        timeout: float | None = None,
    ) -> SendResult:
        """Send an approved message template (the only kind WhatsApp takes outside the
        customer's 24-hour window); `components` fill its variables, in Meta's shape:
        [{"type": "body", "parameters": [{"type": "text", "text": "…"}]}]."""
        address = "recipient" if BSUID.fullmatch(to) else "to"
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if components:
            template["components"] = components
        message = {"messaging_product": "whatsapp", "recipient_type": "individual",
                   address: to, "type": "template", "template": template}  # fmt: skip
        return self._send_message(message, timeout)

    def _send_message(self, message: dict, timeout: float | None) -> SendResult:
        payload, latency_ms = self._post(message, ("messages", 0, "id"), timeout, send=True)
        wa_id = trimmed(dig(payload, "contacts", 0, "wa_id"))
        return SendResult(str(dig(payload, "messages", 0, "id")), wa_id, latency_ms, payload)

    def mark_read(self, message_id: str, typing: bool = False) -> None:
        body = dict(messaging_product="whatsapp", status="read", message_id=message_id)
        if typing:  # shown until the reply is sent, or for at most 25 seconds
            body["typing_indicator"] = {"type": "text"}
        self._post(body, ("success",))

    def phone_number(self) -> PhoneNumber:
        """GET /<phone-number-id>: the owner's check that the token and the ID belong
        together, answered with the number's name, number and quality."""
        try:
            self._check_token()
            if not self.phone_number_id:
                message = "No phone number ID is set; copy it from WhatsApp > API Setup."
                raise WhatsAppError(ErrorKind.WHATSAPP_REJECTED, message)
            path = f"/{quote(self.phone_number_id, safe='')}?fields={PHONE_FIELDS}"
            try:
                status, text, headers, _ = self.request("GET", path)
            except TransportError as failure:
                raise WhatsAppError(ErrorKind.WHATSAPP_UNAVAILABLE, failure.message) from None
            payload = json_or_none(text)
            if not 200 <= status < 300 or not isinstance(payload, dict) or "error" in payload:
                raise classify_graph_error(status, text, headers)
            return PhoneNumber(
                *(trimmed(payload.get(name)) or "" for name in PHONE_FIELDS.split(","))
            )
        except WhatsAppError as err:
            raise self.redacted(err) from None

    def message_templates(self, business_account_id: str) -> list[dict]:
        """GET /<waba-id>/message_templates, every page: each template as Graph gives it.

        The next page is asked for with the `after` cursor, never by following the absolute
        `paging.next` address: the token is sent to the Graph API's own address only."""
        try:
            self._check_token()
            waba = str(business_account_id).strip()
            if not waba:
                message = (
                    "No WhatsApp Business Account ID is set; copy it from WhatsApp > API Setup "
                    "and save it in Settings."
                )
                raise WhatsAppError(ErrorKind.WHATSAPP_REJECTED, message)
            templates: list[dict] = []
            after, seen = None, set()
            for _ in range(TEMPLATE_PAGES):
                payload = self._templates_page(waba, after)
                templates += [t for t in payload.get("data") or [] if isinstance(t, dict)]
                after = as_str(dig(payload, "paging", "cursors", "after"))
                # Graph names `next` only when there is a page after this one; a cursor seen
                # before would loop for ever.
                if not dig(payload, "paging", "next") or not after or after in seen:
                    return templates
                seen.add(after)
            message = f"The account lists more than {len(templates)} templates; none synced."
            raise WhatsAppError(ErrorKind.WHATSAPP_REJECTED, message)
        except WhatsAppError as err:
            raise self.redacted(err) from None

    def _templates_page(self, waba: str, after: str | None) -> dict:
        query = {"fields": TEMPLATE_FIELDS, "limit": TEMPLATES_PER_PAGE}
        if after:
            query["after"] = after
        path = f"/{quote(waba, safe='')}/message_templates?{urlencode(query)}"
        try:
            status, text, headers, _ = self.request("GET", path)
        except TransportError as failure:  # a GET changes nothing: always safe to repeat
            raise WhatsAppError(ErrorKind.WHATSAPP_UNAVAILABLE, failure.message) from None
        payload = json_or_none(text)
        listed = isinstance(payload, dict) and isinstance(payload.get("data"), list)
        if not 200 <= status < 300 or not listed or "error" in payload:
            raise classify_graph_error(status, text, headers)
        return payload

    def media_info(self, media_id: str) -> MediaInfo:
        """GET /<media-id>: the download address, type, hash and size of a received file."""
        try:
            self._check_token()
            try:
                status, text, headers, _ = self.request("GET", f"/{quote(media_id, safe='')}")
            except TransportError as failure:  # a GET changes nothing: always safe to repeat
                raise WhatsAppError(ErrorKind.WHATSAPP_UNAVAILABLE, failure.message) from None
            payload = json_or_none(text)
            url = as_str(dig(payload, "url"))
            if not 200 <= status < 300 or not url or "error" in (payload or {}):
                raise _media_error(classify_graph_error(status, text, headers))
            return MediaInfo(
                url,
                as_str(payload.get("mime_type")),
                as_str(payload.get("sha256")),
                _size(payload.get("file_size")),
            )
        except WhatsAppError as err:
            raise self.redacted(err) from None

    def download(self, url: str, out: BinaryIO, limit: int, timeout: float = 60) -> str:
        """Stream the file at `url` (from media_info) into `out`, refusing it as soon as it
        passes `limit` bytes; returns the sha256 (hex) of what was written."""
        try:
            self._check_token()
            if not self._may_carry_token(url):
                message = (
                    f"The media address Graph gave ({_origin(url)}) is not an https address "
                    "on Meta's media servers, nor the Graph API's own address: the file was "
                    "not fetched, so the access token was not sent there."
                )
                raise WhatsAppError(ErrorKind.WHATSAPP_REJECTED, message)
            return self._stream(url, out, limit, timeout)
        except WhatsAppError as err:
            raise self.redacted(err) from None

    def _stream(self, url: str, out: BinaryIO, limit: int, seconds: float) -> str:
        deadline, digest, size = time.monotonic() + seconds, hashlib.sha256(), 0
        headers = {"Authorization": f"Bearer {self.secret}"}
        try:
            with self.open("GET", url, seconds, headers=headers) as response:
                if not 200 <= response.status_code < 300:
                    text = next(self.chunks(response, deadline, seconds, RAW_BODY_LIMIT), b"")
                    error = classify_graph_error(response.status_code, text, response.headers)
                    raise _media_error(error)
                announced = _size(response.headers.get("Content-Length"))
                if announced is not None and announced > limit:
                    raise too_large(limit)
                # The rest of a refused file is not read: closing the answer drops the connection.
                for chunk in self.chunks(response, deadline, seconds, 65536):
                    size += len(chunk)
                    if size > limit:
                        raise too_large(limit)
                    digest.update(chunk)
                    out.write(chunk)
        except TransportError as failure:
            raise WhatsAppError(ErrorKind.WHATSAPP_UNAVAILABLE, failure.message) from None
        return digest.hexdigest()

    def _may_carry_token(self, url: str) -> bool:
        # The token is Meta's to see, no one else's: a media answer (or whoever stands in for
        # Graph) naming any other host gets no request at all. That host could not have the
        # file without the token anyway. Plain http only to the Graph address itself (a BSP's
        # local proxy, a test server), so the token never crosses a network in the clear.
        try:
            parts, base = parse_url(url), parse_url(self.base_url)
        except LocationParseError:
            return False
        if parts.host and _endpoint(parts) == _endpoint(base):
            return True
        host = (parts.host or "").rstrip(".")
        meta = host == META_MEDIA_DOMAIN or host.endswith("." + META_MEDIA_DOMAIN)
        return parts.scheme == "https" and meta

    def _check_token(self) -> None:
        if not self.secret or self.secret_has_bad_characters():
            message = "The access token is empty or has characters a token cannot have."
            raise WhatsAppError(ErrorKind.WHATSAPP_AUTH, message)

    def _post(
        self, body: dict, expected: tuple, timeout: float | None = None, send: bool = False
    ) -> tuple[dict, int]:
        """POST /<phone-number-id>/messages; any failure becomes one WhatsAppError. A `send`
        (a customer's message, not a read receipt) is never retried on an unclear answer."""
        try:
            status, text, headers, latency_ms = self._send(body, timeout)
            payload = json_or_none(text)
            ok = 200 <= status < 300 and isinstance(payload, dict) and "error" not in payload
            if not ok or not dig(payload, *expected):
                classify = classify_send_error if send else classify_graph_error
                raise classify(status, text, headers)
            return payload, latency_ms
        except WhatsAppError as err:
            raise self.redacted(err) from None

    def _send(self, body: dict, timeout: float | None) -> tuple[int, str, Mapping, int]:
        self._check_token()
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


def _endpoint(parts: Url) -> tuple[str | None, str, int | None]:
    return (
        parts.scheme,
        (parts.host or "").rstrip("."),
        parts.port or DEFAULT_PORTS.get(parts.scheme),
    )


def _origin(url: str) -> str:
    """scheme://host[:port] of `url`, for a message; never its path or query (which carry the
    file's signature)."""
    try:
        parts = parse_url(url)
    except LocationParseError:
        return "not an address"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.host}{port}"


def too_large(limit: int) -> MediaTooLarge:
    message = f"The file is larger than {limit / 2**20:g} MB, the most kept for its type."
    return MediaTooLarge(ErrorKind.WHATSAPP_REJECTED, message)


def _media_error(err: WhatsAppError) -> WhatsAppError:
    # Graph answers 404, or code 100 with subcode 33, for a media ID it no longer knows.
    if err.http_status == 404 or (err.code == 100 and err.subcode == 33):
        gone = (
            "WhatsApp no longer has this file (media IDs expire after 7 days) or the ID is wrong."
        )
        return replace(err, message=f"{gone} {err.message}")
    return err


def _size(value: Any) -> int | None:
    text = str(value).strip() if isinstance(value, int | str) else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 16 else None


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

"""WhatsApp's failures: the WhatsAppError they become, how Graph codes are classified and worded."""

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..troubleshooting import ErrorKind, UpstreamError
from .wire import as_int, dig, header, json_or_none, not_json_message, retry_seconds, shorten

RAW_BODY_LIMIT = 10_000  # enough to inspect any Graph error, small enough for a log row
MESSAGE_LIMIT = 600
# Codes 10 and 200-299 are missing permissions: the fix is the same token page as for 190.
AUTH_CODES = frozenset({190, 10, *range(200, 300)})
RATE_LIMIT_CODES = frozenset({4, 80007, 130429, 131048, 131056})
# Meta documents these as temporary ("try again later") whatever HTTP status carries them.
TEMPORARY_CODES = frozenset({2, 131000, 131016})


@dataclass(eq=False, repr=False)
class WhatsAppError(UpstreamError):
    """One failed Graph call, classified into exactly one ErrorKind; `message` is safe to show."""

    kind: ErrorKind
    message: str
    http_status: int | None = None
    code: int | None = None
    subcode: int | None = None
    retry_after: float | None = None
    raw_body: str = ""  # the body as received, cut to RAW_BODY_LIMIT, for inspection

    def __str__(self) -> str:
        facts = [f"HTTP {self.http_status}"] if self.http_status is not None else []
        message = self.message
        if self.code is not None:  # shown once, in the parenthesis, not again as Meta's "(#n)"
            facts.append(f"code {self.code}")
            message = message.removeprefix(f"(#{self.code}) ")
        return f"{self.kind.value}{' (' + ', '.join(facts) + ')' if facts else ''}: {message}"


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
        code, subcode = graph_code(error.get("code")), graph_code(error.get("error_subcode"))
        details = dig(error, "error_data", "details")
        words = meta_words(code, error.get("message"), error.get("error_user_msg"), details)
        message = words or f"The Graph API answered HTTP {status} with an error but no message."
    elif isinstance(payload, dict):
        # No error object. After a 2xx (no messages[0].id: a different response structure) the
        # kind is whatsapp_rejected, never retried: such an answer usually means a wrong base
        # URL (a send reads it as unknown, see classify_send_error: the message may have gone).
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


def classify_send_error(
    status: int | None, body: str | bytes, headers: Mapping | None = None
) -> WhatsAppError:
    """A failed answer to a send (POST /messages), where a retry could answer a customer twice.

    A 502 or 504 from Meta's edge can come after Graph took the message, so a send is tried
    again only when Graph's own error code says it was not taken (a rate limit, or a code Meta
    calls temporary); a 5xx without one, or a 2xx that is no Graph answer, is unknown.
    """
    err = classify_graph_error(status, body, headers)
    if 200 <= (status or 0) < 300:
        refused = err.code is not None  # Graph's own error inside a 200 (131047 comes so)
    else:
        refused = err.kind != ErrorKind.WHATSAPP_UNAVAILABLE or err.code in TEMPORARY_CODES
    if refused:
        return err
    message = f"WhatsApp's answer does not say whether it took the message. {err.message}"
    return replace(err, kind=ErrorKind.WHATSAPP_UNKNOWN, message=shorten(message, MESSAGE_LIMIT))


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


def meta_words(code: int | None, *parts: Any) -> str:
    """An error's parts as one line, led by its code unless the words already name it."""
    words = joined(" — ", *parts)
    if words and code is not None and f"#{code}" not in words:
        words = f"(#{code}) {words}"  # Meta's own way of naming the code
    return words


def graph_code(value: Any) -> int | None:
    # Not wire.as_int alone: a Graph error code is looked up in sets of ints (AUTH_CODES…),
    # so a code sent as a digit string must still match.
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value) if len(value.strip()) <= 10 else None
    code = as_int(value)
    # Codes are stored in an integer column: one beyond it is no Graph code.
    return code if code is not None and 0 <= code < 2**31 else None


def trimmed(value: Any) -> str | None:
    # Not wire.as_str (a string exactly as sent): webhook text is typed by people, and a body
    # of only spaces or line breaks is nothing the model can answer (it gets the non-text reply).
    return value.strip() if isinstance(value, str) and value.strip() else None


def joined(separator: str, *values: Any) -> str:
    return separator.join(dict.fromkeys(v for v in map(trimmed, values) if v))

"""OpenRouter's failed answers: the OpenRouterError they become and how each is classified."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..troubleshooting import ErrorKind, UpstreamError
from .wire import as_str, dig, header, json_or_none, not_json_message, retry_seconds, shorten

RAW_BODY_LIMIT = 10_000  # enough to inspect any provider error, small enough for a log row
MESSAGE_LIMIT = 600
KIND_BY_STATUS = {
    401: ErrorKind.INVALID_KEY,
    402: ErrorKind.NO_CREDITS,
    403: ErrorKind.MODERATION,
    404: ErrorKind.MODEL_NOT_FOUND,
    408: ErrorKind.TIMEOUT,
    429: ErrorKind.RATE_LIMITED,
}
MODEL_GONE = {"model_not_found", "model_deprecated"}  # `error.availability.code` values


@dataclass(eq=False, repr=False)
class OpenRouterError(UpstreamError):
    """One failed call, classified into exactly one ErrorKind; `message` is safe to show."""

    kind: ErrorKind
    message: str
    http_status: int | None = None
    retry_after: float | None = None
    metadata: dict = field(default_factory=dict)
    raw_body: str = ""  # the body as received, cut to RAW_BODY_LIMIT, for inspection
    provider: str | None = None

    def __str__(self) -> str:
        status = f" (HTTP {self.http_status})" if self.http_status is not None else ""
        return f"{self.kind.value}{status}: {self.message}"


def classify_error(
    status: int | None, body: str | bytes, headers: Mapping | None = None
) -> OpenRouterError:
    """Turn a failed answer into exactly one OpenRouterError (pure, so tests call it directly)."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body or ""
    raw_body = text[:RAW_BODY_LIMIT]
    payload = json_or_none(text)
    if not isinstance(payload, dict):
        message = not_json_message(status, text, headers)
        return OpenRouterError(
            _kind_for(status), message, status, _retry_after(headers, {}), raw_body=raw_body
        )
    error = error_object(payload)
    metadata = dict(error["metadata"]) if isinstance(error.get("metadata"), dict) else {}
    for beside in ("availability", "error_type"):  # the newer error shape keeps these outside
        if error.get(beside):
            metadata.setdefault(beside, error[beside])
    # An error inside a 2xx answer carries its real status in `code` (or `http_status`).
    if status is None or 200 <= status < 300:
        effective = _http_status(error.get("code")) or _http_status(error.get("http_status"))
    else:
        effective = status
    message = str(error.get("message") or "").strip()
    kind = _kind_for(effective, message, dig(metadata, "availability", "code"))
    return OpenRouterError(
        kind,
        _describe(kind, status, message, metadata),
        status,
        _retry_after(headers, metadata),
        metadata,
        raw_body,
        as_str(metadata.get("provider_name")) or as_str(payload.get("provider")),
    )


def error_object(payload: dict) -> dict:
    """The error an answer carries, wherever OpenRouter put it; {} when it carries none."""
    for error in (payload.get("error"), dig(payload, "choices", 0, "error")):
        if isinstance(error, dict):
            return error
        if isinstance(error, str) and error:
            return {"message": error}
    if isinstance(payload.get("message"), str) and ("code" in payload or "metadata" in payload):
        return payload  # a bare error object, the way mid-stream errors get logged
    return {}


def _kind_for(status: int | None, message: str = "", availability_code: Any = None) -> ErrorKind:
    if status is None or not 400 <= status <= 599:
        return ErrorKind.BAD_RESPONSE
    if status in KIND_BY_STATUS:
        return KIND_BY_STATUS[status]
    if status >= 500:
        return ErrorKind.UPSTREAM_UNAVAILABLE
    if availability_code in MODEL_GONE or "is not a valid model id" in message.lower():
        return ErrorKind.MODEL_NOT_FOUND
    return ErrorKind.BAD_REQUEST


def _describe(kind: ErrorKind, status: int | None, message: str, metadata: dict) -> str:
    text = message or f"The API answered HTTP {status} with an error but no message."
    provider = as_str(metadata.get("provider_name"))
    if text.lower().rstrip(".") == "provider returned error" and metadata.get("raw"):
        text = f"Provider returned error{f' ({provider})' if provider else ''}: "
        text += _raw_summary(metadata["raw"])
    if kind is ErrorKind.MODERATION:
        flagged = [str(v) for v in metadata.get("reasons") or metadata.get("patterns") or []]
        notes = (
            [f"flagged for: {', '.join(flagged)}"] if any(v not in text for v in flagged) else []
        )
        notes += [f"provider: {provider}"] if provider and provider not in text else []
        text += f" ({'; '.join(notes)})" if notes else ""
    if "no allowed providers" in text.lower():
        text += (
            " Your OpenRouter provider settings (allowed or ignored providers) exclude every "
            "provider that serves this model."
        )
    suggested = dig(metadata, "availability", "fallback_models")
    if kind is ErrorKind.MODEL_NOT_FOUND and isinstance(suggested, list) and suggested:
        text += f" Suggested instead: {', '.join(map(str, suggested))}."
    return shorten(text, MESSAGE_LIMIT)


def _raw_summary(raw: Any) -> str:
    """The provider's own words from `metadata.raw`: plain text, JSON text or an object."""
    parsed = json_or_none(raw) if isinstance(raw, str) else raw
    if isinstance(parsed, dict):
        for words in (dig(parsed, "error", "message"), parsed.get("error"), parsed.get("message")):
            if isinstance(words, str) and words:
                return shorten(words, 300)
        return shorten(json.dumps(parsed, ensure_ascii=False), 300)
    return shorten(" ".join(str(raw).split()), 300)


def _retry_after(headers: Mapping | None, metadata: dict) -> float | None:
    for value in (
        header(headers, "Retry-After"),
        metadata.get("retry_after_seconds"),
        dig(metadata, "availability", "retry_after"),
        header(metadata.get("headers"), "Retry-After"),
    ):
        if (seconds := retry_seconds(value)) is not None:
            return seconds
    return None


def _http_status(value: Any) -> int | None:
    number = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value
    is_int = isinstance(number, int) and not isinstance(number, bool)
    return number if is_int and 400 <= number <= 599 else None

"""How a webhook's pieces are read, whatever field they came in: lists of objects, times,
what a message says."""

from datetime import UTC, datetime
from typing import Any

from .whatsapp_errors import joined, trimmed
from .wire import as_float

CAPTIONED = frozenset({"image", "video", "document"})
# A reaction, a system notice or a chat being opened is not something the customer asked.
SILENT = frozenset({"reaction", "system", "request_welcome"})
# A time before WhatsApp existed or after it arrived is a wrong clock or a forged value, and
# a date such as the year 9999 would break every date sum made with it (the 24-hour window).
EARLIEST = datetime(2009, 1, 1, tzinfo=UTC)


def text_of(kind: str, part: dict) -> str | None:
    """What the model should read of a message of this type; None when there is nothing."""
    if kind == "text":
        return trimmed(part.get("body"))
    if kind in CAPTIONED:
        return trimmed(part.get("caption"))
    if kind == "button":  # a template's quick-reply button
        return trimmed(part.get("text")) or trimmed(part.get("payload"))
    if kind == "interactive":
        choice = part.get(part["type"]) if isinstance(part.get("type"), str) else None
        if isinstance(choice, dict) and trimmed(choice.get("title")):
            return joined(" — ", choice.get("title"), choice.get("description"))
    if kind == "location":
        place = joined(", ", part.get("name"), part.get("address"))
        lat, lon = part.get("latitude"), part.get("longitude")
        known = as_float(lat) is not None and as_float(lon) is not None
        where = f" (location {lat}, {lon})" if known else ""
        return place + where if place else None
    return None  # audio, stickers, contacts, unsupported, unknown and anything new


def dicts(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def time_of(value: Any) -> datetime:
    """When Meta says it happened; the arrival time when that is missing or implausible (the
    webhook arrives within seconds of the message, and never before it)."""
    now = datetime.now(UTC)
    try:
        when = datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return now
    return when if EARLIEST <= when <= now else now


def digits(value: Any) -> str:
    """The ASCII digits of a number however it was written ("+1 650-555-1234" → 16505551234)."""
    return "".join(ch for ch in value if ch in "0123456789") if isinstance(value, str) else ""

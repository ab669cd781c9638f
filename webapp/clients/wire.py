"""Reading what HTTP APIs send back: JSON digging, headers, Retry-After, safe short messages."""

import email.utils
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any


def dig(value: Any, *path: str | int) -> Any:
    """value[path[0]][path[1]]…, or None as soon as a step is missing or of the wrong type."""
    for step in path:
        if isinstance(step, int):
            value = value[step] if isinstance(value, list) and len(value) > step else None
        else:
            value = value.get(step) if isinstance(value, dict) else None
    return value


def as_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer beyond any float
        return None


def as_str(value: Any) -> str | None:
    """A non-empty string exactly as sent, or None."""
    return value if isinstance(value, str) and value else None


def header(headers: Any, name: str) -> str | None:
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if str(key).lower() == name.lower():
                return str(value)
    return None


def json_or_none(text: str) -> Any:
    try:
        return json.loads(text)  # also skips the whitespace OpenRouter pads bodies with
    except ValueError:
        return None


def not_json_message(status: int | None, text: str, headers: Mapping | None) -> str:
    """What an answer that is not JSON looks like, in words safe to show."""
    if status is not None and 300 <= status < 400:
        where = header(headers, "Location") or "another address"
        return f"The API redirected (HTTP {status}) to {where}; check the API base URL."
    start = text.lstrip()[:500].lower()
    if not start:
        what = "an empty body"
    elif start.startswith("<!doctype html") or "<html" in start:
        title = re.search(r"<title[^>]*>(.*?)</title>", text[:5000], re.IGNORECASE | re.DOTALL)
        what = "an HTML page" + (f" ({shorten(' '.join(title[1].split()), 100)})" if title else "")
    else:
        what = "a body that is not JSON"
    if status is None or status < 400:
        return f"The server answered with {what} instead of JSON."
    return (
        f"The server answered HTTP {status} with {what} instead of JSON; usually a proxy or "
        "Cloudflare error page."
    )


def retry_seconds(value: Any) -> float | None:
    """Seconds from a number, a numeric string or an HTTP date (both Retry-After forms)."""
    if (number := as_float(value)) is not None:
        return max(0.0, number)
    if not isinstance(value, str):
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"

"""Photos in a flow's request: its image parts checked, and the question's first photo kept.

A flow sends a photo as OpenRouter takes one, a content part
`{"type": "image_url", "image_url": {"url": …}}` whose url is a data: URL (JPEG, PNG, WebP or
GIF in base64, at most 5 MB) or an https address. The parts go to the model unchanged.
Switchboard never fetches an address a caller gives: only a data: photo is kept in the
customer's conversation; an address is noted in the question's words.
"""

import base64
import binascii
import re
from pathlib import Path

from .. import media_store

DATA_URL = re.compile(r"data:(image/(?:jpeg|png|webp|gif));base64,(.*)", re.S)
LIMIT = media_store.LIMITS["image"]
SHAPE = 'an image part must read {"type": "image_url", "image_url": {"url": …}}'
KINDS = (
    "a photo's url must be a data:image/jpeg, png, webp or gif URL in base64, or an https address"
)


def parts(message: dict) -> list[dict]:
    """The message's image parts (none when its content is plain text)."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    return [p for p in content if isinstance(p, dict) and p.get("type") == "image_url"]


def check(index: int, message: dict) -> None:
    """ValueError naming messages[index] when one of its image parts is not a photo we take."""
    for part in parts(message):
        url = part.get("image_url")
        url = url.get("url") if isinstance(url, dict) else None
        if not isinstance(url, str):
            raise ValueError(f"messages[{index}]: {SHAPE}.")
        if url.startswith("https://") and len(url) > len("https://"):
            continue
        try:
            decoded(url)
        except ValueError as exc:
            raise ValueError(f"messages[{index}]: {exc}") from None


def decoded(url: str) -> tuple[str, bytes]:
    """A data: photo's type and bytes; ValueError when its base64 is wrong or it is too large."""
    found = DATA_URL.fullmatch(url)
    if found is None:
        raise ValueError(f"{KINDS}.")
    mime, payload = found.groups()
    if len(payload) > (LIMIT + 2) // 3 * 4:  # said before decoding more than the limit
        raise ValueError(f"the photo is larger than {LIMIT // media_store.MB} MB.")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the photo's data is not valid base64.") from None
    if len(data) > LIMIT:
        raise ValueError(f"the photo is larger than {LIMIT // media_store.MB} MB.")
    return mime, data


def any_in(messages: list[dict]) -> bool:
    return any(parts(message) for message in messages)


def keep(message: dict | None, into: Path) -> tuple[dict, list[str]]:
    """The question's first data: photo stored in `into`, as a message's column values, and
    notes of the addresses it names, for its words (an address is not fetched)."""
    values: dict = {}
    notes = []
    for part in parts(message or {}):
        url = part["image_url"]["url"]
        if url.startswith("https://"):
            notes.append(f"[Photo: {url}]")
        elif not values:
            mime, data = decoded(url)
            kept = media_store.store(data, into, mime)
            values = {"type": "image", "media_file": kept.name, "media_mime": kept.mime_type,
                      "media_size": kept.size}  # fmt: skip
    return values, notes

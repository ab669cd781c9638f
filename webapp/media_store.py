"""Customers' photos, voice notes, videos, documents and stickers, downloaded when they arrive.

WhatsApp gives out a file's address for about 5 minutes and forgets its media ID after 7 days,
so a file is fetched on arrival and kept in the instance folder's `media/`, named by its sha256
(the same photo sent twice is kept once) and readable by Switchboard's own user only.
"""

import base64
import binascii
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from flask import current_app
from sqlalchemy import select

from . import content
from .clients.whatsapp import WhatsAppClient, too_large
from .clients.whatsapp_errors import WhatsAppError
from .clients.wire import as_str
from .extensions import db
from .models import Message
from .troubleshooting import ErrorKind

MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})
MB = 2**20
LIMITS = {"image": 5 * MB, "audio": 16 * MB}  # the limits Meta states for what it carries
OTHER_LIMIT = 16 * MB
LEFT_OVER_SECONDS = 3600  # longer than any turn: a younger unlisted file may be one in use
DOWNLOAD_SECONDS = 60.0  # 16 MB at a slow 300 kB/s
PARTIAL = ".part-"  # a file being written, renamed to its hash once checked
SWEEP_BATCH = 500  # names a query
STORED_NAME = re.compile(r"[0-9a-f]{64}")  # a sha256 in hex: no path can be smuggled in


@dataclass
class StoredMedia:
    name: str  # the sha256 (hex) of the file, its name in the media folder
    mime_type: str | None
    size: int


def folder() -> Path:
    """The media folder of this instance, created private on first use."""
    path = Path(current_app.instance_path) / "media"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def limit_for(kind: str, other_mb: int = OTHER_LIMIT // MB) -> int:
    """The most bytes kept of a file of type `kind`; `other_mb` for videos and documents."""
    return LIMITS.get(kind, other_mb * MB)


def fetch(
    client: WhatsAppClient,
    kind: str,
    media: Any,
    into: Path,
    limit: int | None = None,
    seconds: float = DOWNLOAD_SECONDS,
) -> StoredMedia:
    """Download the file of a message of type `kind` (its `media` object from the webhook:
    id, mime_type, sha256) into the folder `into`, refusing one over `limit` bytes (the limit
    of its type by default) or taking over `seconds`; WhatsAppError when it cannot be kept."""
    media = media if isinstance(media, dict) else {}
    media_id = as_str(media.get("id"))
    if media_id is None:
        raise WhatsAppError(ErrorKind.WHATSAPP_REJECTED, "The message names no media ID.")
    info = client.media_info(media_id)
    limit = limit or limit_for(kind)
    if info.file_size is not None and info.file_size > limit:
        raise too_large(limit)  # said before a byte is downloaded
    expected = hex_digest(info.sha256) or hex_digest(media.get("sha256"))

    def download(out: BinaryIO) -> str:
        digest = client.download(info.url, out, limit, seconds)
        if expected and digest != expected:
            message = "The downloaded file does not match the sha256 WhatsApp gave for it."
            raise WhatsAppError(ErrorKind.WHATSAPP_REJECTED, message)
        return digest

    return _keep(into, download, info.mime_type or as_str(media.get("mime_type")))


def store(data: bytes, into: Path, mime_type: str | None) -> StoredMedia:
    """Keep `data` in the folder `into` like a fetched file: private, named by its sha256."""

    def write(out: BinaryIO) -> str:
        out.write(data)
        return hashlib.sha256(data).hexdigest()

    return _keep(into, write, mime_type)


def _keep(into: Path, write: Callable[[BinaryIO], str], mime_type: str | None) -> StoredMedia:
    """A file written by `write` (which returns its sha256) under a temporary name, then renamed
    to its hash: a file under its final name is always whole."""
    # mkstemp creates the file 0600 whatever the umask: a half-written file is private too.
    handle, partial = tempfile.mkstemp(dir=into, prefix=PARTIAL)
    try:
        with os.fdopen(handle, "wb") as out:
            digest = write(out)
        size = os.path.getsize(partial)
        os.replace(partial, into / digest)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return StoredMedia(digest, mime_type, size)


def hex_digest(value: Any) -> str | None:
    """A sha256 as lowercase hex: Graph's media answer sends hex, webhooks send base64."""
    if not isinstance(value, str):
        return None
    if STORED_NAME.fullmatch(value.strip().lower()):
        return value.strip().lower()
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.hex() if len(raw) == 32 else None


def data_url(name: str, mime_type: str | None) -> str | None:
    """A stored photo as a data: URL, for a model that can see it; None when it is gone."""
    path = folder() / name
    return content.data_url(mime_type, path.read_bytes()) if path.is_file() else None


def names_in(*conditions) -> set[str]:
    """The stored files of the messages matching `conditions`, read before they are deleted."""
    query = select(Message.media_file).where(*conditions, Message.media_file.is_not(None))
    return set(db.session.scalars(query.distinct()))


def remove_unused(names: Iterable[str], written_before: float | None = None) -> int:
    """Delete the files among `names` that no message refers to any more; how many went.
    With `written_before` (a time.time()), a file written since is left: a turn may have
    just fetched the same file again and not yet recorded it."""
    names = {name for name in names if name and STORED_NAME.fullmatch(name)}
    if not names:
        return 0
    used, into = names_in(Message.media_file.in_(names)), folder()
    removed = 0
    for name in sorted(names - used):
        path = into / name
        if written_before is not None and _modified(path) >= written_before:
            continue
        if path.exists():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def sweep_left_over(now: float | None = None) -> int:
    """Delete what a crash left in the media folder: half-downloaded files, and files no
    message refers to, once they are an hour old; how many went."""
    cutoff = (now or time.time()) - LEFT_OVER_SECONDS
    old = [path for path in folder().iterdir() if _modified(path) < cutoff]
    parts = [path for path in old if path.name.startswith(PARTIAL)]
    for path in parts:
        path.unlink(missing_ok=True)
    named = sorted(path.name for path in old if STORED_NAME.fullmatch(path.name))
    return len(parts) + sum(
        remove_unused(named[i : i + SWEEP_BATCH]) for i in range(0, len(named), SWEEP_BATCH)
    )


def _modified(path: Path) -> float:
    """When the file last changed; now for one gone meanwhile (a download renamed to its hash
    as the sweep looked, a file its messages' deletion took), which is then left alone."""
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return time.time()

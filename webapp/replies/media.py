"""A turn's media step: the files its messages carry fetched from WhatsApp, voice notes
transcribed, PDFs read, and photos made ready for a model that can see them.

Everything here runs within the turn's deadline and its lease. A file that cannot be fetched
or read is logged with its kind and hint, and its message is read without it ("a photo you
cannot see"): the turn goes on, and a turn with nothing readable gets the non-text reply.
What one customer may cost the server is bounded: a PDF is read by a process of its own with
limits (see `documents`), photos and voice notes are held in memory by a few turns at a time,
and past their daily allowance (see `quota`) a customer's files are not downloaded.
"""

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

from sqlalchemy import update

from .. import documents, media_store, requestlog, state
from ..clients.openrouter import audio_format
from ..clients.openrouter_errors import OpenRouterError
from ..clients.retry import Deadline, with_retries
from ..clients.whatsapp_errors import WhatsAppError
from ..content import Read
from ..extensions import db
from ..models import Message, utcnow
from ..money import budget
from ..requestlog import Origin
from ..snapshot import Snapshot
from ..troubleshooting import ErrorKind, UpstreamError
from . import leases, quota
from .leases import Lease
from .turns import Batch, Inbound

PDF = "application/pdf"
PHOTO_TURNS = 8  # turns of one worker process holding photos in memory at once
# The same for voice notes: one of 16 MB is about 80 MB in a request in the making.
VOICE_TURNS = 4
SEND_MARGIN = 5.0  # seconds of the deadline a turn keeps for asking the model
_photo_turns = threading.BoundedSemaphore(PHOTO_TURNS)
_voice_turns = threading.BoundedSemaphore(VOICE_TURNS)
CROWDED = (
    f"So many photos came at once that this one waited for one of the {PHOTO_TURNS} places "
    "until 'Answer within' was nearly over: it was answered without the model seeing it."
)
CROWDED_VOICE = (
    f"So many voice notes came at once that this one waited for one of the {VOICE_TURNS} "
    "places until 'Answer within' was nearly over: it was answered without being transcribed."
)
READ_FIELDS = {"media_file", "media_mime", "media_name", "media_text"}  # what a turn reads


@dataclass
class Files:
    """A turn's messages as the model will read them, and what the customer is to be told
    before the answer, if anything (that they passed their daily allowance of files)."""

    reads: list[Read]
    notice: str | None = None


@dataclass
class _Step:
    snap: Snapshot
    deadline: Deadline
    lease: Lease
    contact_id: int
    folder: Path
    stopping: threading.Event | None = None  # set when the worker stops
    logged: list[dict] = field(default_factory=list)  # rows of the calls that went well
    allowance: quota.Allowance | None = None

    def origin(self, message: Inbound) -> Origin:
        return Origin("whatsapp", self.contact_id, message.id)

    def log_error(self, message: Inbound, kind: ErrorKind, why: str, operation: str) -> None:
        """A row for a file Switchboard itself left unused, written with the step's others."""
        row = requestlog.row(self.origin(message), upstream="switchboard", operation=operation,
                             status="error", error_kind=str(kind), error_message=why)  # fmt: skip
        self.logged.append(row)

    def attempt(self, call, failed, log_body: dict, operation: str, upstream: str):
        """`call(seconds_left)` with the turn's retries; each failure is logged at once."""
        tries = []

        def attempt(number: int, left: float):
            tries.append(number)
            return call(left)

        def log_failure(number: int, exc: UpstreamError, latency_ms: int) -> None:
            with leases.fenced(self.lease):
                requestlog.add_error(failed, number, exc, upstream=upstream, body=log_body,
                                     latency_ms=latency_ms, operation=operation)  # fmt: skip

        out_of_time = _out_of_time_for(upstream)
        result = with_retries(attempt, log_failure, self.snap.retry, self.deadline, out_of_time,
                              self.lease)  # fmt: skip
        return result, tries[-1]


def read(batch: Batch, snap: Snapshot, deadline: Deadline, lease: Lease, stopping=None) -> Files:
    """The turn's messages as the model will read them, their files fetched and read first
    (once: a later run of the same turn finds them stored). documents.ReadingStopped when
    `stopping` is set while a PDF is read: the run ends, and the next reads it again."""
    step = _Step(snap, deadline, lease, batch.contact_id, media_store.folder(), stopping)
    step.allowance = quota.Allowance.of(snap, batch.contact_id)
    stored = {
        message.id: values
        for message in batch.messages
        if message.type in media_store.MEDIA_TYPES and message.media_file is None
        if (values := _fetch(step, message))
    }
    if stored or step.logged:
        with leases.fenced(lease):
            for row in step.logged:
                requestlog.insert(row)
            for message_id, values in stored.items():
                db.session.execute(update(Message).where(Message.id == message_id).values(values))
    messages = [replace(m, **_read_fields(stored.get(m.id, {}))) for m in batch.messages]
    route = snap.image_route()
    photos = [m for m in messages if m.type == "image" and m.media_file]
    if photos and not route and snap["image_model"] == "auto":
        state.record("photos_unseen", {"at": utcnow().isoformat()})
    shown = {m.id for m in photos} if route else set()
    reads = [
        Read(
            m.type,
            m.text,
            m.media_text,
            m.media_name,
            m.media_mime,
            photo=m.media_file if m.id in shown else None,
            withheld=m.id in step.allowance.withheld,
        )
        for m in messages
    ]
    return Files(reads, step.allowance.notice)


def photo_place(deadline: Deadline):
    """One of the PHOTO_TURNS places for holding photos in memory, waited for until shortly
    before the deadline; yields whether one was had. A photo of 5 MB is about 20 MB in a
    request in the making: the places bound a worker's memory, however many photos come."""
    return _place(_photo_turns, deadline)


@contextmanager
def _place(places: threading.BoundedSemaphore, deadline: Deadline) -> Iterator[bool]:
    placed = places.acquire(timeout=max(0.0, deadline.left() - SEND_MARGIN))
    try:
        yield placed
    finally:
        if placed:
            places.release()


@contextmanager
def photos_loaded(reads: list[Read], deadline: Deadline, origin: Origin) -> Iterator[list[Read]]:
    """`reads` with their photos as data: URLs, for as long as the model is asked; a turn
    that finds no place in time goes without its photos, and the log says why."""
    if not any(read.photo for read in reads):
        yield reads
        return
    with photo_place(deadline) as placed:
        if not placed:
            requestlog.add(origin, upstream="switchboard", status="error",
                           error_kind=str(ErrorKind.TIMEOUT), error_message=CROWDED)  # fmt: skip
            db.session.commit()
        yield [
            replace(read, image=media_store.data_url(read.photo, read.media_mime))
            if placed and read.photo
            else read
            for read in reads
        ]


def _read_fields(values: dict) -> dict:
    return {name: value for name, value in values.items() if name in READ_FIELDS}


def _fetch(step: _Step, message: Inbound) -> dict | None:
    """Download the message's file, and read what can be read of it: the column values."""
    if (withheld := step.allowance.refuses(message.id)) is not None:
        step.log_error(message, ErrorKind.CUSTOMER_LIMITED, withheld, "media")
        return None
    part = _media_of(message)
    limit = media_store.limit_for(message.type, int(step.snap["media_limit_mb"]))
    client = step.snap.whatsapp()

    def call(left: float) -> media_store.StoredMedia:
        client.timeout = min(step.snap.graph_timeout, left)
        return media_store.fetch(client, message.type, part, step.folder, limit, left)

    log_body = {"media_id": part.get("id"), "type": message.type}
    started = time.monotonic()
    try:
        kept, attempt = step.attempt(call, step.origin(message), log_body, "media", "whatsapp")
    except WhatsAppError:
        return None
    latency_ms = int((time.monotonic() - started) * 1000)
    step.logged.append(requestlog.media_ok(step.origin(message), attempt, log_body, latency_ms))
    name = part.get("filename") if isinstance(part.get("filename"), str) else None
    values = {"media_file": kept.name, "media_mime": kept.mime_type, "media_size": kept.size,
              "media_name": name and name.strip()[:255]}  # fmt: skip
    step.allowance.count(kept.size)
    values["media_text"] = _text_of(step, message, kept, name)
    return values


def _text_of(step: _Step, message: Inbound, kept: media_store.StoredMedia, name: str | None):
    path = step.folder / kept.name
    if message.type == "audio":
        return _transcribe(step, message, path, kept.mime_type)
    is_pdf = (kept.mime_type or "").startswith(PDF) or (name or "").lower().endswith(".pdf")
    if message.type == "document" and is_pdf:
        return _document_text(step, message, path)
    return None


def _document_text(step: _Step, message: Inbound, path: Path) -> str | None:
    """The PDF's text; None when it cannot be read (the model is told so). A reading that a
    limit stopped is logged: a file built to slow the server down shows there."""
    try:
        within = step.deadline.left() - SEND_MARGIN
        return documents.pdf_text(path, within=within, stop=step.stopping)
    except documents.DocumentUnreadable as unreadable:
        if unreadable.limit is not None:
            kind = ErrorKind.FILE_TOO_HEAVY if unreadable.heavy else ErrorKind.TIMEOUT
            step.log_error(message, kind, str(unreadable), "reading")
        return None


def _transcribe(step: _Step, message: Inbound, path: Path, mime: str | None) -> str | None:
    if not str(step.snap["transcription_model"]):
        return None
    with _place(_voice_turns, step.deadline) as placed:
        if not placed:
            step.log_error(message, ErrorKind.TIMEOUT, CROWDED_VOICE, "transcription")
            return None
        return _transcribed(step, message, path, mime)


def _transcribed(step: _Step, message: Inbound, path: Path, mime: str | None) -> str | None:
    model = str(step.snap["transcription_model"])
    client, audio, fmt = step.snap.openrouter(), path.read_bytes(), audio_format(mime)
    timeout = float(step.snap["request_timeout"])
    log_body = {"model": model, "input_audio": {"format": fmt, "bytes": len(audio)}}

    def call(left: float):
        return client.transcribe(audio, fmt, model, timeout=min(timeout, left))

    origin = step.origin(message)
    try:  # past the budget, not transcribed (once: the note's file is kept without words)
        budget.check(step.snap)
    except OpenRouterError as refused:
        step.logged.append(requestlog.row(
            origin, upstream="openrouter", operation="transcription", model_requested=model,
            status="error", error_kind=str(refused.kind), error_message=refused.message,
        ))  # fmt: skip
        return None
    try:
        said, attempt = step.attempt(call, origin, log_body, "transcription", "openrouter")
    except OpenRouterError:
        return None
    step.logged.append(requestlog.transcription_ok(origin, attempt, log_body, said))
    return said.text.strip() or None


def _media_of(message: Inbound) -> dict:
    """The media object (id, mime_type, sha256, filename…) of the message as WhatsApp sent it."""
    try:
        raw = json.loads(message.raw or "{}")
    except ValueError:
        return {}
    part = raw.get(message.type) if isinstance(raw, dict) else None
    return part if isinstance(part, dict) else {}


def _out_of_time_for(upstream: str):
    why = "No time was left for this file: the turn's 'Answer within' limit was reached."
    if upstream == "whatsapp":
        return lambda: WhatsAppError(ErrorKind.WHATSAPP_UNAVAILABLE, why)
    return lambda: OpenRouterError(ErrorKind.TIMEOUT, why)

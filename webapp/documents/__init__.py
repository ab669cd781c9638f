"""The text of a document (a PDF), for a model that reads only text: a customer's file in their
turn, or a document of the owner's.

Each document is read by a process of its own (pdf_reader.py) with bounded CPU time, memory
and wall time, at low priority, never by the caller's own process: a file built to keep a
reader busy for an hour, or to fill the memory, costs at most `Limits` and is then answered as
unreadable. At most READERS documents are read at once by one process, so a crowd of such files
takes at most that many cores and that much memory.

    text = documents.pdf_text(path)                 # or DocumentUnreadable, saying why
    text = documents.pdf_text(path, within=4.5, stop=stopping)
"""

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from . import pdf_reader

log = logging.getLogger(__name__)

READER = Path(pdf_reader.__file__).resolve()
READERS = 2  # documents one process reads at once: each may take a core and its memory limit
MIN_SECONDS = 1.0  # a reading is not begun with less time left: starting one takes a moment
POLL = 0.1  # seconds between looks at whether the caller stopped
_readers = threading.BoundedSemaphore(READERS)


@dataclass(frozen=True)
class Limits:
    seconds: float = 10.0  # of CPU time, and of time on the clock, for one document
    memory_mb: int = 256
    pages: int = 10  # read at most; a note says how many more there were
    chars: int = 20_000  # of text at most: reading stops there, and a note says it was cut


LIMITS = Limits()


class DocumentUnreadable(ValueError):
    """A document whose text cannot be read; the message says why in the owner's words.
    `limit` names what stopped the reading: one of the file's limits ("time", "memory",
    "unpacked"), or the caller's time ("deadline", "busy": every reader was taken); None for
    a file that cannot be read at all (a scan, a password, a damaged file)."""

    def __init__(self, why: str, limit: str | None = None):
        super().__init__(why)
        self.limit = limit

    @property
    def heavy(self) -> bool:
        """Whether the file itself needed more than one file may take."""
        return self.limit in ("time", "memory", "unpacked")


class ReadingStopped(Exception):
    """The caller asked to stop (the worker shuts down): the reading was cut short, and the
    document should be read again later rather than counted unreadable."""


LOCKED = "The PDF is protected by a password, so it cannot be read."
BROKEN = "The file is not a PDF that can be opened, or it is damaged."
NO_TEXT = "The PDF has no text to read: it is probably a scan or photos of pages."


def too_slow(seconds: float, limits: Limits) -> DocumentUnreadable:
    if seconds < limits.seconds:
        why = (
            f"Reading the PDF was stopped after {seconds:.1f} seconds, all the time that was "
            "left for it."
        )
        return DocumentUnreadable(why, "deadline")
    why = (
        f"Reading the PDF was stopped after {limits.seconds:g} seconds, the most one file "
        "may take. Very long or unusually built PDFs do this, and so do files made to slow a "
        "server down; other customers' answers were not held up."
    )
    return DocumentUnreadable(why, "time")


def pdf_text(path: Path, limits: Limits = LIMITS, within: float | None = None, stop=None) -> str:
    """The text of the first pages of the PDF at `path`, whitespace tidied, cut at
    `limits.chars`; a note at the end says when pages or characters were left out.

    `within`: seconds the caller can wait in all, a free reader included (default
    `limits.seconds`). `stop` (a threading.Event): when it is set, the reading is ended at
    once and ReadingStopped raised. DocumentUnreadable says why there is no text."""
    started = time.monotonic()
    if within is not None and within < MIN_SECONDS:
        raise DocumentUnreadable("No time was left to read the PDF.", "deadline")
    # Without `within`, a reader is waited for as long as a reading may take, and the
    # wait takes nothing from the reading's own time.
    waited_for = limits.seconds if within is None else within - MIN_SECONDS
    if not _place(started + waited_for, stop):
        raise DocumentUnreadable(
            f"Other documents were being read ({READERS} at a time), and none finished "
            "before the time for this one was over: it was not read.",
            "busy",
        )
    try:
        left = limits.seconds if within is None else started + within - time.monotonic()
        found = _read(path, limits, min(limits.seconds, left), stop)
    finally:
        _readers.release()
    return _with_notes(found, limits)


def pdf_pages(path: Path, limits: Limits, stop=None) -> tuple[list[str], list[str]]:
    """The text of each page read (an empty string for a page without text) and the notes
    on what was left out, for an owner's document whose parts are labelled by page.
    DocumentUnreadable as for `pdf_text`."""
    if not _place(time.monotonic() + limits.seconds, stop):
        raise DocumentUnreadable(f"Other documents were being read ({READERS} at a time).", "busy")
    try:
        found = _read(path, limits, limits.seconds, stop)
    finally:
        _readers.release()
    _with_notes(found, limits)  # raises what a file without text or a locked one says
    pages = [str(page) for page in found.get("pages") or []]
    notes, page_count = [], int(found.get("page_count") or 0)
    if page_count > limits.pages:
        notes.append(f"only the first {limits.pages} of {page_count} pages were read")
    kept, used = [], 0
    for page in pages:
        kept.append(page[: max(0, limits.chars - used)])
        used += len(page)
    if used > limits.chars:
        notes.append(f"the text was cut at {limits.chars:,} characters")
    return kept, notes


DOCX_WHY = {
    "bomb": "The Word file unpacks to far more than a document holds (a 'zip bomb'), so it was "
    "not read.",
    "entities": "The Word file declares XML entities, which a real document never does, so it "
    "was not read.",
    "broken": "The file is not a Word (.docx) document, or it is damaged.",
    "empty": "The Word document has no text.",
}


def docx_text(path: Path, limits: Limits, stop=None) -> str:
    """The paragraphs of a Word document, read by the same bounded process as a PDF;
    DocumentUnreadable says why there are none."""
    if not _place(time.monotonic() + limits.seconds, stop):
        raise DocumentUnreadable(f"Other documents were being read ({READERS} at a time).", "busy")
    try:
        found = _read(path, limits, limits.seconds, stop, fmt="docx")
    finally:
        _readers.release()
    if (why := found.get("unreadable")) is not None:
        raise DocumentUnreadable(DOCX_WHY.get(why, DOCX_WHY["broken"]))
    return str(found.get("text") or "")[: limits.chars]


def _place(until: float, stop) -> bool:
    """One of the READERS places, waited for until `until` (time.monotonic())."""
    while True:
        left = until - time.monotonic()
        if _readers.acquire(timeout=max(0.0, min(POLL, left))):
            return True
        if stop is not None and stop.is_set():
            raise ReadingStopped
        if left <= 0:
            return False


def _read(path: Path, limits: Limits, seconds: float, stop, fmt: str = "pdf") -> dict:
    """What the reader process found, or DocumentUnreadable when a limit stopped it."""
    bounds = {"seconds": seconds, "memory_mb": limits.memory_mb, "pages": limits.pages,
              "chars": limits.chars, "format": fmt}  # fmt: skip
    command = [sys.executable, "-I", str(READER), str(path), json.dumps(bounds)]
    ends = time.monotonic() + seconds
    # A session of its own: a Ctrl-C at the terminal reaches the worker, which ends the
    # reading itself, and never the reader alone (the document would seem damaged).
    with subprocess.Popen(  # noqa: S603 (our own script, the file's path as one argument)
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as reader:
        try:
            out = _output(reader, ends, stop)
        finally:
            if reader.poll() is None:
                reader.kill()
    if out is None:
        raise too_slow(seconds, limits)
    code = reader.returncode
    if code == pdf_reader.OUT_OF_MEMORY:
        raise DocumentUnreadable(
            f"Reading the PDF needed more than {limits.memory_mb} MB of memory, the most one "
            "file may take, so it was stopped.",
            "memory",
        )
    if code in (-signal.SIGXCPU, -signal.SIGKILL):  # its CPU time ran out
        raise too_slow(seconds, limits)
    try:
        found = json.loads(out) if code == 0 else None
    except ValueError:
        found = None
    if not isinstance(found, dict):
        log.warning("the PDF reader ended with status %s", code)
        raise DocumentUnreadable(BROKEN)
    return found


def _output(reader: subprocess.Popen, ends: float, stop) -> bytes | None:
    """The reader's output once it ends; None when it is still at work at `ends`."""
    while True:
        try:
            return reader.communicate(timeout=max(0.0, min(POLL, ends - time.monotonic())))[0]
        except subprocess.TimeoutExpired:
            if stop is not None and stop.is_set():
                raise ReadingStopped from None
            if time.monotonic() >= ends:
                return None


def _with_notes(found: dict, limits: Limits) -> str:
    why = found.get("unreadable")
    if why == "password":
        raise DocumentUnreadable(LOCKED)
    if why == "unpacked":
        raise DocumentUnreadable(
            f"Parts of the PDF unpack to more than {pdf_reader.UNPACKED_LIMIT // 2**20} MB, "
            "more than one file may hold, so it was not read.",
            "unpacked",
        )
    if why is not None:
        log.info("a PDF could not be read: %s", found.get("detail") or why)
        raise DocumentUnreadable(BROKEN)
    text, page_count = str(found.get("text") or ""), int(found.get("page_count") or 0)
    if not text:
        raise DocumentUnreadable(NO_TEXT)
    notes = []
    if page_count > limits.pages:
        notes.append(f"only the first {limits.pages} of {page_count} pages were read")
    if len(text) > limits.chars:
        text = text[: limits.chars].rstrip()
        notes.append(f"the text was cut at {limits.chars} characters")
    return text + (f"\n\n[Document shortened: {'; '.join(notes)}.]" if notes else "")

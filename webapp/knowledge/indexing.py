"""The reading of sources by workers: a pending source is claimed (one worker, with a lease),
its text extracted, cut into chunks, and its chunks replaced in one transaction; it ends
ready, or failed with the reason in the owner's words.

The worker's claim loop claims them (a lane of one thread: one source at a time, so a long
PDF never holds a customer's turn). A claim is one conditional UPDATE (state pending, or
reading with a lease that ran out), so several workers on PostgreSQL never read one source
twice; a worker that dies mid-reading leaves a lease that runs out, and the source is read
again.
"""

import logging
from datetime import timedelta

from sqlalchemy import delete, or_, select, update

from ..documents import ReadingStopped
from ..extensions import db
from ..models import KnowledgeChunk, KnowledgeSource, utcnow
from ..states import SourceState
from . import chunks, files, web_pages
from .extract import Extracted, Unreadable, extract
from .sources import MAX_TOTAL_CHARS, approximate_tokens, totals

log = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)  # longer than any reading: a PDF 60 s, a page 20 s


def _claimable(now):
    return or_(
        KnowledgeSource.state == SourceState.PENDING,
        (KnowledgeSource.state == SourceState.READING) & (KnowledgeSource.lease_until < now),
    )


def claim(source_id: int | None = None):
    """Take one source to read (`source_id`, or the oldest waiting); its lease's end (the
    claim's token), or None when there is none or another worker took it first."""
    now = utcnow()
    ids = [source_id] if source_id is not None else db.session.scalars(
        select(KnowledgeSource.id).where(_claimable(now))
        .order_by(KnowledgeSource.updated_at).limit(5)
    ).all()  # fmt: skip
    for candidate in ids:
        lease_until = now + LEASE
        taken = db.session.execute(
            update(KnowledgeSource)
            .where(KnowledgeSource.id == candidate, _claimable(now))
            .values(state=SourceState.READING, lease_until=lease_until)
        ).rowcount
        db.session.commit()
        if taken == 1:
            return candidate, lease_until
    return None


def read(source_id: int, lease_until, stop=None) -> str:
    """Read the claimed source and store its chunks; its state afterwards."""
    source = db.session.get(KnowledgeSource, source_id)
    if source is None:
        return "gone"
    try:
        extracted = _extract(source, stop)
        found = _within_room(source, extracted)
        pieces = _chunks_of(source, found)
    except ReadingStopped:  # the worker stops: read again later
        _release(source_id, lease_until)
        return SourceState.PENDING
    except (Unreadable, web_pages.PageRefused) as exc:
        return _finish(source_id, lease_until, error=str(exc))
    except Exception:  # a bug, not the file: said on the page, the details in the log
        log.exception("reading the knowledge source %s failed", source_id)
        return _finish(source_id, lease_until, error="Reading it failed: see the server's log.")
    if not pieces:
        return _finish(source_id, lease_until, error="There is no text in it to use.")
    return _finish(source_id, lease_until, found=found, pieces=pieces)


def _extract(source: KnowledgeSource, stop) -> Extracted:
    db.session.commit()  # no transaction is held open while a file is read or a page fetched
    if source.kind == "text":
        return Extracted("text", [source.text])
    if source.kind == "url":
        text, notes = web_pages.fetch(source.url or "")
        return Extracted("text", [text], notes)
    path = files.path_of(source.filename)
    if path is None:
        raise Unreadable("The stored file is missing: remove this source and add the file again.")
    return extract(path, source.file_format or "txt", stop)


def _within_room(source: KnowledgeSource, found: Extracted) -> Extracted:
    """The text cut where all sources together reach MAX_TOTAL_CHARS, with a note."""
    room = MAX_TOTAL_CHARS - totals(leaving_out=source.id).chars
    if room <= 0:
        raise Unreadable(
            f"All other sources together already hold {MAX_TOTAL_CHARS:,} characters, the "
            "most there may be: remove one to make room for this one."
        )
    if sum(len(part) + 2 for part in found.parts) <= room:
        return found
    kept, used = [], 0
    for part in found.parts:
        if used + len(part) > room:
            kept.append(part[: max(0, room - used)])
            break
        kept.append(part)
        used += len(part) + 2
    note = f"cut at {room:,} characters: all sources together may hold {MAX_TOTAL_CHARS:,}"
    return Extracted(found.kind, kept, [*found.notes, note])


def _chunks_of(source: KnowledgeSource, found: Extracted) -> list[chunks.Chunk]:
    if found.kind == "pages":
        return chunks.of_pages(found.parts, source.name)
    if found.kind == "rows":
        return chunks.of_rows(found.parts, source.name)
    if source.kind == "url":
        return chunks.cut(found.text, web_pages.label_of(source.url or ""))
    if source.file_format == "md" or source.kind == "text":
        return chunks.of_markdown(found.text, source.name)
    return chunks.cut(found.text, source.name)


def _held(source_id: int, lease_until):
    return (
        (KnowledgeSource.id == source_id)
        & (KnowledgeSource.state == SourceState.READING)
        & (KnowledgeSource.lease_until == lease_until)
    )


def _finish(source_id, lease_until, error=None, found=None, pieces=()) -> str:
    """Store the outcome, in one transaction, if this claim still holds the source."""
    values = {"lease_until": None, "updated_at": utcnow()}
    if error is not None:
        values |= {"state": SourceState.FAILED, "error": error[:2000]}
    else:
        text = found.text if found.kind != "rows" else "\n".join(found.parts)
        values |= {"state": SourceState.READY, "error": None, "text": text, "chars": len(text),
                   "tokens": approximate_tokens(text),
                   "note": _sentence("; ".join(found.notes))}  # fmt: skip
    held = db.session.execute(
        update(KnowledgeSource).where(_held(source_id, lease_until)).values(**values)
    ).rowcount
    if held != 1:  # removed, refreshed or taken over meanwhile: the newer wins
        db.session.rollback()
        return "lost"
    if error is None:
        db.session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.source_id == source_id))
        db.session.add_all(
            KnowledgeChunk(source_id=source_id, position=n, label=piece.label[:600],
                           text=piece.text, tokens=approximate_tokens(piece.text))
            for n, piece in enumerate(pieces)
        )  # fmt: skip
    db.session.commit()
    return values["state"]


def _sentence(notes: str) -> str | None:
    return notes[:1].upper() + notes[1:] if notes else None


def _release(source_id: int, lease_until) -> None:
    db.session.execute(
        update(KnowledgeSource)
        .where(_held(source_id, lease_until))
        .values(state=SourceState.PENDING, lease_until=None)
    )
    db.session.commit()


def claim_some(limit: int) -> list[tuple]:
    """Up to `limit` claims (the worker's claim loop, its "source" lane)."""
    claims = []
    while len(claims) < limit and (claimed := claim()) is not None:
        claims.append(claimed)
    return claims


def read_now(source_id: int) -> str:
    """Claim and read one source at once (the command line's `knowledge add`)."""
    claimed = claim(source_id)
    if claimed is None:
        return "taken"
    return read(*claimed)


def read_waiting(stop=None) -> int:
    """Read the sources waiting, one after another, until none is left; how many were read."""
    count = 0
    while not (stop is not None and stop.is_set()) and (claimed := claim()) is not None:
        read(*claimed, stop=stop)
        count += 1
    return count


def reindex_all() -> list[int]:
    """Every source but FAQ entries set to be read again; their ids."""
    ids = db.session.scalars(
        select(KnowledgeSource.id).where(KnowledgeSource.kind != "faq")
    ).all()  # fmt: skip
    db.session.execute(
        update(KnowledgeSource)
        .where(KnowledgeSource.id.in_(ids))
        .values(state=SourceState.PENDING, lease_until=None, error=None)
    )
    db.session.commit()
    return list(ids)

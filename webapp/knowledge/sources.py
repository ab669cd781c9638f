"""The owner's knowledge sources: added, listed, removed; files kept in the instance folder."""

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, func, select

from ..extensions import db
from ..models import KnowledgeChunk, KnowledgeSource, utcnow
from ..states import SourceState
from . import files, web_pages
from .extract import FORMATS, file_format

FAQ = "FAQ"
MAX_QUESTION = 500  # characters: the question is the entry's name
MAX_ANSWER = 5000
MAX_FILE_BYTES = 10 * 2**20
MAX_TOTAL_CHARS = 2_000_000  # in all sources together
MAX_NAME = 200
KINDS = {"file": "File", "text": "Text", "faq": "FAQ", "url": "Web page"}


class SourceRefused(ValueError):
    """A source that cannot be added; the message says why in the owner's words."""


@dataclass(frozen=True)
class Totals:
    chars: int
    tokens: int
    sources: int

    @property
    def room(self) -> int:
        return max(0, MAX_TOTAL_CHARS - self.chars)


def totals(leaving_out: int | None = None) -> Totals:
    """Characters and tokens of every source's text (but `leaving_out`'s)."""
    query = select(
        func.coalesce(func.sum(KnowledgeSource.chars), 0),
        func.coalesce(func.sum(KnowledgeSource.tokens), 0),
        func.count(KnowledgeSource.id),
    )
    if leaving_out is not None:
        query = query.where(KnowledgeSource.id != leaving_out)
    chars, tokens, count = db.session.execute(query).one()
    return Totals(int(chars), int(tokens), int(count))


def all_sources() -> list[KnowledgeSource]:
    """Documents, texts and pages first (newest first), then the FAQ by question."""
    rows = db.session.scalars(select(KnowledgeSource).order_by(KnowledgeSource.updated_at.desc()))
    rows = list(rows)
    return [r for r in rows if r.kind != "faq"] + sorted(
        (r for r in rows if r.kind == "faq"), key=lambda r: r.name.lower()
    )


def by_name(name: str) -> KnowledgeSource | None:
    return db.session.scalar(select(KnowledgeSource).where(KnowledgeSource.name == name.strip()))


def _free_name(name: str) -> str:
    name = " ".join(name.split())[:MAX_NAME]
    if not name:
        raise SourceRefused("Give the source a name.")
    if by_name(name) is not None:
        raise SourceRefused(f"A source is already called '{name}': pick another name.")
    return name


def add_file(data: bytes, filename: str, author: str, name: str | None = None) -> KnowledgeSource:
    """A file kept privately and waiting for a worker to read it."""
    filename = Path(filename.replace("\\", "/")).name.strip()
    fmt = file_format(filename)
    if fmt is None:
        kinds = ", ".join(f".{ending}" for ending in FORMATS)
        raise SourceRefused(f"'{filename[:100]}' is not a file Switchboard reads ({kinds}).")
    if len(data) > MAX_FILE_BYTES:
        raise SourceRefused(
            f"The file is {len(data) / 2**20:.1f} MB; a file may be at most "
            f"{MAX_FILE_BYTES // 2**20} MB. Split it, or remove pictures from it."
        )
    if not data:
        raise SourceRefused("The file is empty.")
    _check_room()
    source = KnowledgeSource(
        name=_free_name(name or filename), kind="file", file_format=fmt, size_bytes=len(data),
        author=author, state=SourceState.PENDING,
    )  # fmt: skip
    source.filename = files.save(data, fmt)
    db.session.add(source)
    db.session.commit()
    return source


def add_text(name: str, text: str, author: str) -> KnowledgeSource:
    """Pasted text, cut into chunks by a worker."""
    text = text.replace("\r\n", "\n").strip()
    if not text:
        raise SourceRefused("Paste the text to add.")
    room = totals().room
    if len(text) > room:
        raise SourceRefused(
            f"The text has {len(text):,} characters, but only {room:,} more fit: all sources "
            f"together may hold {MAX_TOTAL_CHARS:,}. Remove a source or shorten the text."
        )
    source = KnowledgeSource(
        name=_free_name(name), kind="text", text=text, chars=len(text),
        tokens=approximate_tokens(text), author=author, state=SourceState.PENDING,
    )  # fmt: skip
    db.session.add(source)
    db.session.commit()
    return source


def add_url(url: str, author: str) -> KnowledgeSource:
    """A web page, fetched by a worker (and again on each Refresh)."""
    url = url.strip()
    if "://" not in url and url:
        url = "https://" + url
    if why := web_pages.refusal(url):
        raise SourceRefused(why)
    _check_room()
    source = KnowledgeSource(
        name=_free_name(web_pages.label_of(url)), kind="url", url=url, file_format="html",
        author=author, state=SourceState.PENDING,
    )  # fmt: skip
    db.session.add(source)
    db.session.commit()
    return source


def _check_room() -> None:
    if totals().room <= 0:
        raise SourceRefused(
            f"All sources together already hold {MAX_TOTAL_CHARS:,} characters, the most "
            "there may be: remove a source first."
        )


def refresh(source: KnowledgeSource) -> None:
    """Read the source again: a file from the stored copy, a page fetched again."""
    if source.kind == "faq":
        return
    source.state, source.lease_until, source.error = SourceState.PENDING, None, None
    db.session.commit()


def remove(source: KnowledgeSource) -> None:
    """The source, its chunks (and their vectors) and its stored file."""
    stored = source.filename
    db.session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.source_id == source.id))
    db.session.delete(source)
    db.session.commit()
    files.delete(stored)


def approximate_tokens(text: str) -> int:
    """About four characters a token, as OpenAI's and most tokenisers count English."""
    return (len(text) + 3) // 4


def faq_label(question: str) -> str:
    return f"{FAQ} › {question}"


def add_faq(question: str, answer: str, author: str) -> KnowledgeSource:
    """A new FAQ entry, or the entry with that question given this answer; ready at once (one
    chunk: the question and its answer). ValueError says what is wrong with the words."""
    question, answer = " ".join(question.split()), answer.replace("\r\n", "\n").strip()
    if not question or not answer:
        raise ValueError("An FAQ entry needs both a question and an answer.")
    if len(question) > MAX_QUESTION or len(answer) > MAX_ANSWER:
        raise ValueError(
            f"Keep the question under {MAX_QUESTION} characters and the answer under "
            f"{MAX_ANSWER}; put longer texts in as a document."
        )
    source = by_name(question)
    if source is not None and source.kind != "faq":
        raise ValueError(f"A source is already called '{question}'.")
    if source is None:
        source = KnowledgeSource(name=question, kind="faq", author=author)
        db.session.add(source)
    source.text, source.state, source.error, source.updated_at = (
        answer, SourceState.READY, None, utcnow()
    )  # fmt: skip
    whole = f"Q: {question}\nA: {answer}"
    source.chars, source.tokens = len(whole), approximate_tokens(whole)
    db.session.flush()
    db.session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.source_id == source.id))
    db.session.add(
        KnowledgeChunk(
            source_id=source.id,
            position=0,
            label=faq_label(question),
            text=whole,
            tokens=source.tokens,
        )
    )
    db.session.commit()
    return source

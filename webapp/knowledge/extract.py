"""The text of an owner's file, in parts that keep where they come from (a PDF's pages, a
CSV's rows): PDF and Word files are read by the sandboxed reader (webapp/documents), in a
process of its own with bounded time and memory; CSV and plain text decoded whatever their
encoding.
"""

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from .. import documents
from ..documents import DocumentUnreadable

FORMATS = {"pdf": "PDF", "txt": "text", "md": "Markdown", "csv": "CSV", "docx": "Word"}
MAX_CHARS = 2_000_000  # of one file's text: as much as all sources together may hold
# An owner's document may be long: a 300-page menu or manual is read in well under a minute.
PDF_LIMITS = documents.Limits(seconds=60, memory_mb=512, pages=600, chars=MAX_CHARS)


class Unreadable(ValueError):
    """A file whose text cannot be read; the message says why in the owner's words."""


@dataclass
class Extracted:
    kind: str  # "pages", "rows" (each part a CSV row, already "Column: value; …") or "text"
    parts: list[str]  # pages, rows, or the one text
    notes: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(part for part in self.parts if part)


def file_format(filename: str) -> str | None:
    """The format a file's name says ("pdf", "txt"…), or None for one not read."""
    ending = Path(filename).suffix.lower().lstrip(".")
    ending = {"markdown": "md", "text": "txt"}.get(ending, ending)
    return ending if ending in FORMATS else None


def extract(path: Path, fmt: str, stop=None) -> Extracted:
    """The text of the file at `path` read as `fmt`; Unreadable says why there is none."""
    if fmt == "pdf":
        try:
            pages, notes = documents.pdf_pages(path, PDF_LIMITS, stop)
        except DocumentUnreadable as exc:
            raise Unreadable(str(exc)) from None
        return Extracted("pages", pages, notes)
    if fmt == "docx":
        try:
            return Extracted("text", [documents.docx_text(path, PDF_LIMITS, stop)])
        except DocumentUnreadable as exc:
            raise Unreadable(str(exc)) from None
    text, notes = decoded(path.read_bytes())
    if fmt == "csv":
        return Extracted("rows", csv_rows(text), notes)
    return Extracted("text", [text], notes)


def decoded(data: bytes) -> tuple[str, list[str]]:
    """Text as UTF-8 (with or without a BOM), else as Windows' Western encoding (what Excel
    writes on most machines), with a note saying so."""
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:  # five bytes cp1252 leaves undefined: Latin-1 reads them all
        text = data.decode("latin-1")
    return text, ["the file is not UTF-8, so it was read as Windows/Western (cp1252) text"]


def csv_rows(text: str) -> list[str]:
    """Each row of a table as "Column: value; Column: value", the header's names repeated,
    so a row found alone still says what its numbers are."""
    sample = text[:20_000]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]
    if not rows:
        raise Unreadable("The CSV file has no rows.")
    header, body = [c.strip() for c in rows[0]], rows[1:]
    if not body:
        return ["; ".join(header)]
    entries = []
    for row in body:
        cells = [
            f"{header[n] if n < len(header) and header[n] else f'Column {n + 1}'}: {c.strip()}"
            for n, c in enumerate(row)
            if c.strip()
        ]
        entries.append("; ".join(cells))
    return entries

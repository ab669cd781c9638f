"""The text of an owner's file, in parts that keep where they come from (a PDF's pages, a
CSV's rows): PDFs are read by the sandboxed reader (webapp/documents), DOCX unzipped with a
bound on what it may unpack to, CSV and plain text decoded whatever their encoding.
"""

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

from .. import documents
from ..documents import DocumentUnreadable

FORMATS = {"pdf": "PDF", "txt": "text", "md": "Markdown", "csv": "CSV", "docx": "Word"}
MAX_CHARS = 2_000_000  # of one file's text: as much as all sources together may hold
# An owner's document may be long: a 300-page menu or manual is read in well under a minute.
PDF_LIMITS = documents.Limits(seconds=60, memory_mb=512, pages=600, chars=MAX_CHARS)
DOCX_BODY = "word/document.xml"
DOCX_UNPACKED = 50 * 2**20  # the document's XML; a 300-page report is a few megabytes
DOCX_RATIO = 200  # unpacked to packed: text XML packs about 10:1; far more is a zip bomb
WORD = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


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
        return Extracted("text", [docx_text(path)])
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


def docx_text(path: Path) -> str:
    """The paragraphs of a Word document, headings and table cells included."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(DOCX_BODY)
            if info.file_size > DOCX_UNPACKED or info.file_size > DOCX_RATIO * max(
                info.compress_size, 1
            ):
                raise Unreadable(
                    "The Word file unpacks to far more than a document holds (a 'zip bomb'), "
                    "so it was not read."
                )
            xml = _read_bounded(archive, info)
    except (zipfile.BadZipFile, KeyError, OSError, EOFError):
        raise Unreadable("The file is not a Word (.docx) document, or it is damaged.") from None
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:  # entities are how XML bombs expand
        raise Unreadable("The Word file declares XML entities, which a real document never does.")
    try:
        root = ElementTree.fromstring(xml)  # noqa: S314 (no DOCTYPE, so no entity can expand)
    except ElementTree.ParseError:
        raise Unreadable("The Word file's text is damaged XML.") from None
    paragraphs = []
    for paragraph in root.iter(f"{WORD}p"):
        words = "".join(
            node.text or ("\t" if node.tag == f"{WORD}tab" else "")
            for node in paragraph.iter()
            if node.tag in (f"{WORD}t", f"{WORD}tab")
        )
        if words.strip():
            paragraphs.append(" ".join(words.split()))
    if not paragraphs:
        raise Unreadable("The Word document has no text.")
    return "\n\n".join(paragraphs)


def _read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, stopped at DOCX_UNPACKED whatever its header claims."""
    out, size = [], 0
    with archive.open(info) as member:
        while chunk := member.read(2**20):
            size += len(chunk)
            if size > DOCX_UNPACKED:
                raise Unreadable(
                    f"The Word file unpacks to more than {DOCX_UNPACKED // 2**20} MB of text, "
                    "more than a document holds, so it was not read."
                )
            out.append(chunk)
    return b"".join(out)

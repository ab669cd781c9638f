"""A source's text cut into chunks of about a thousand characters, each labelled with where it
comes from: "Menu.pdf, page 2", "Prices.csv, rows 1–20", "Guide.md › Delivery", "example.com/faq".

Cuts fall between paragraphs, else between sentences, else between words; consecutive chunks
of one text share a little of it (OVERLAP), so a sentence cut in two is whole in one of them.
"""

import re
from dataclasses import dataclass

TARGET = 1000  # characters a chunk aims at
MOST = 1200  # and never passes (a chunk alone may be shorter)
OVERLAP = 150  # characters the next chunk repeats of the one before
SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)


@dataclass(frozen=True)
class Chunk:
    label: str
    text: str


def cut(text: str, label: str) -> list[Chunk]:
    """`text` in chunks of at most MOST characters, all labelled `label`."""
    return [Chunk(label, piece) for piece in pieces(text)]


def pieces(text: str) -> list[str]:
    text = text.strip()
    if len(text) <= MOST:
        return [text] if text else []
    units = _units(text)
    out: list[str] = []
    current = ""
    for unit in units:
        if current and len(current) + 2 + len(unit) > TARGET:
            out.append(current)
            current = _tail(current)
        current = f"{current}\n\n{unit}" if current else unit
        while len(current) > MOST:  # a tail and a unit together may pass MOST
            out.append(current[:TARGET])
            current = current[TARGET - OVERLAP :]
    if current.strip() and (not out or not out[-1].endswith(current)):
        out.append(current)
    return [piece.strip() for piece in out if piece.strip()]


def _units(text: str) -> list[str]:
    """Paragraphs; a paragraph longer than TARGET as its sentences; a sentence longer than
    TARGET as runs of words."""
    units = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if len(paragraph) <= TARGET:
            units.append(paragraph)
            continue
        for sentence in SENTENCE_END.split(paragraph):
            while len(sentence) > TARGET:
                cut_at = sentence.rfind(" ", 0, TARGET)
                cut_at = cut_at if cut_at > TARGET // 2 else TARGET
                units.append(sentence[:cut_at])
                sentence = sentence[cut_at:].strip()
            units.append(sentence)
    return [unit for unit in units if unit]


def _tail(piece: str) -> str:
    """The end of a chunk that the next one starts with: whole words, about OVERLAP long."""
    if len(piece) <= OVERLAP:
        return ""
    tail = piece[-OVERLAP:]
    space = tail.find(" ")
    return tail[space + 1 :] if 0 <= space < OVERLAP // 2 else tail


def of_pages(pages: list[str], name: str) -> list[Chunk]:
    """A PDF's chunks: each page cut on its own, labelled with its number."""
    out = []
    for number, page in enumerate(pages, 1):
        out.extend(cut(page, f"{name}, page {number}"))
    return out


def of_rows(rows: list[str], name: str) -> list[Chunk]:
    """A table's chunks: whole rows together up to TARGET, labelled with their numbers (the
    first row after the header is row 1)."""
    out, batch, first = [], [], 1
    for number, row in enumerate(rows, 1):
        row = row[:MOST]
        if batch and sum(len(r) + 1 for r in batch) + len(row) > TARGET:
            out.append(_rows_chunk(batch, first, name))
            batch, first = [], number
        batch.append(row)
    if batch:
        out.append(_rows_chunk(batch, first, name))
    return out


def _rows_chunk(batch: list[str], first: int, name: str) -> Chunk:
    last = first + len(batch) - 1
    where = f"row {first}" if last == first else f"rows {first}–{last}"
    return Chunk(f"{name}, {where}", "\n".join(batch))


def of_markdown(text: str, name: str) -> list[Chunk]:
    """Markdown's chunks, labelled with the heading of their section where there is one."""
    headings = list(HEADING.finditer(text))
    if not headings:
        return cut(text, name)
    out = cut(text[: headings[0].start()], name)
    for n, heading in enumerate(headings):
        end = headings[n + 1].start() if n + 1 < len(headings) else len(text)
        out.extend(cut(text[heading.start() : end], f"{name} › {heading.group(2)[:200]}"))
    return out

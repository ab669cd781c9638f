"""The text of a document a customer sent, so a model that reads only text can answer about it."""

import re
from pathlib import Path

from pypdf import PdfReader
from pypdf.errors import FileNotDecryptedError, PyPdfError

# pypdf raises its own errors for most broken files, and plain Python ones for some others.
BROKEN = (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError)


class DocumentUnreadable(ValueError):
    """A document whose text cannot be read; the message says why in the owner's words."""


def pdf_text(path: Path, max_pages: int = 10, max_chars: int = 20_000) -> str:
    """The text of the first `max_pages` pages, whitespace tidied, cut at `max_chars`; a note
    at the end says when pages or characters were left out."""
    try:
        reader = PdfReader(path)  # opens a PDF locked only against editing or printing, too
        pages = [page.extract_text() or "" for page in reader.pages[:max_pages]]
        page_count = len(reader.pages)
    except FileNotDecryptedError as exc:
        raise DocumentUnreadable(
            "The PDF is protected by a password, so it cannot be read."
        ) from exc
    except BROKEN as exc:
        raise DocumentUnreadable(
            "The file is not a PDF that can be opened, or it is damaged."
        ) from exc
    text = "\n\n".join(filter(None, map(tidy, pages)))
    if not text:
        raise DocumentUnreadable(
            "The PDF has no text to read: it is probably a scan or photos of pages."
        )
    notes = []
    if page_count > max_pages:
        notes.append(f"only the first {max_pages} of {page_count} pages were read")
    if len(text) > max_chars:
        text = text[:max_chars].rstrip()
        notes.append(f"the text was cut at {max_chars} characters")
    return text + (f"\n\n[Document shortened: {'; '.join(notes)}.]" if notes else "")


def tidy(text: str) -> str:
    """One space between words, no blank-line runs, no trailing spaces."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()

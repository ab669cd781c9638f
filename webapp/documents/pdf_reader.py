"""The reading of one PDF (or an owner's Word file), in a process of its own (see `documents`):
run as a script, it limits its own CPU time, memory and priority before it opens the file, then
writes what it read to stdout as JSON. It imports nothing of Switchboard's, so it starts in a
fraction of a second.

A file may be built to make a reader work for hours (a small file that unpacks to gigabytes,
thousands of operators on a page): the limits end such a reading, and the process with it,
however the file is built.
"""

import json
import logging
import math
import os
import re
import resource
import sys
import zipfile
from xml.etree import ElementTree

OUT_OF_MEMORY = 3  # the exit status when the memory limit was reached
NICENESS = 10  # below the web server and the worker: a heavy file never slows their answers
# Bytes one stream of the file may unpack to. A page of dense text is tens of kilobytes, and
# pypdf's own default (75 MB) lets a file of 80 kB keep a reader busy for minutes.
UNPACKED_LIMIT = 10 * 2**20
UNPACKED = (
    "zlib_maximum_output_length",
    "lzw_maximum_output_length",
    "run_length_maximum_output_length",
    "brotli_maximum_output_length",
    "jbig2_maximum_output_length",
    "array_based_stream_maximum_output_length",
)


def main() -> None:
    path, limits = sys.argv[1], json.loads(sys.argv[2])
    bound(limits["seconds"], limits["memory_mb"])
    reading = read_docx if limits.get("format") == "docx" else read
    try:
        out = json.dumps(reading(path, limits["pages"], limits["chars"]))
    except MemoryError:
        os._exit(OUT_OF_MEMORY)  # nothing more can be done safely without memory
    sys.stdout.write(out)


def bound(seconds: float, memory_mb: int) -> None:
    """This process's limits: past `seconds` of CPU the kernel stops it (SIGXCPU, then
    SIGKILL a second later), past `memory_mb` an allocation fails (MemoryError)."""
    cpu = max(1, math.ceil(seconds))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory_mb * 2**20, memory_mb * 2**20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # it writes no file
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # and a stopped reading leaves no core
    os.nice(NICENESS)
    logging.disable(logging.CRITICAL)  # pypdf's warnings about a damaged file would only cost time


def read(path: str, pages: int, chars: int) -> dict:
    """{"text", "page_count", "pages"}: the tidied text of the first `pages` pages (and each
    page's), stopped once it is longer than `chars`; or {"unreadable": why} ("password",
    "unpacked", "broken")."""
    import pypdf  # after the limits: the import is part of what they bound
    from pypdf.errors import FileNotDecryptedError, LimitReachedError

    pypdf.overwrite_configuration(
        **dict.fromkeys(UNPACKED, UNPACKED_LIMIT),
        stream_decoding_work_maximum_length=3 * UNPACKED_LIMIT,
        jbig2dec_binary=None,  # never another program
    )
    try:
        reader = pypdf.PdfReader(path)  # opens a PDF locked only against editing or printing
        page_count = len(reader.pages)
        text, read_pages = "", []
        for page in reader.pages[:pages]:
            page_text = tidy(page.extract_text() or "")
            read_pages.append(page_text)
            text = "\n\n".join(filter(None, (text, page_text)))
            if len(text) > chars:  # the rest would be cut: it is not read
                text = text[: chars + 1]
                break
    except FileNotDecryptedError:
        return {"unreadable": "password"}
    except LimitReachedError:
        return {"unreadable": "unpacked"}
    except MemoryError:
        raise
    except Exception as exc:  # whatever else a damaged or hostile file makes pypdf raise
        return {"unreadable": "broken", "detail": f"{type(exc).__name__}: {exc}"[:300]}
    # "pages": each page's text as read, so an owner's document can say where a part is from
    return {"text": text, "page_count": page_count, "pages": read_pages}


DOCX_BODY = "word/document.xml"
DOCX_RATIO = 200  # unpacked to packed: text XML packs about 10:1; far more is a zip bomb
WORD = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def read_docx(path: str, _pages: int, chars: int) -> dict:
    """{"text"}: a Word document's paragraphs (headings and table cells included), one a
    line; or {"unreadable": why} ("bomb", "entities", "broken", "empty")."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(DOCX_BODY)
            claimed = info.file_size
            if claimed > UNPACKED_LIMIT * 5 or claimed > DOCX_RATIO * max(info.compress_size, 1):
                return {"unreadable": "bomb"}
            with archive.open(info) as member:  # read at most the limit, whatever the header says
                xml = member.read(UNPACKED_LIMIT * 5 + 1)
            if len(xml) > UNPACKED_LIMIT * 5:
                return {"unreadable": "bomb"}
    except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError):
        return {"unreadable": "broken"}
    if b"<!DOCTYPE" in xml or b"<!ENTITY" in xml:  # entities are how XML bombs expand
        return {"unreadable": "entities"}
    try:
        root = ElementTree.fromstring(xml)  # noqa: S314 (no DOCTYPE: no entity can expand)
    except ElementTree.ParseError:
        return {"unreadable": "broken"}
    paragraphs, size = [], 0
    for paragraph in root.iter(f"{WORD}p"):
        words = "".join(
            node.text or "" if node.tag == f"{WORD}t" else "\t"
            for node in paragraph.iter()
            if node.tag in (f"{WORD}t", f"{WORD}tab")
        )
        if words.strip():
            paragraphs.append(" ".join(words.split()))
            size += len(paragraphs[-1]) + 2
            if size > chars:
                break
    if not paragraphs:
        return {"unreadable": "empty"}
    return {"text": "\n\n".join(paragraphs), "page_count": 0}


def tidy(text: str) -> str:
    """One space between words, no blank-line runs, no trailing spaces."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


if __name__ == "__main__":
    main()

"""The reading of one PDF, in a process of its own (see `documents`): run as a script, it limits
its own CPU time, memory and priority before it opens the file, then writes what it read to
stdout as JSON. It imports nothing of Switchboard's, so it starts in a fraction of a second.

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
    try:
        out = json.dumps(read(path, limits["pages"], limits["chars"]))
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


def tidy(text: str) -> str:
    """One space between words, no blank-line runs, no trailing spaces."""
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


if __name__ == "__main__":
    main()

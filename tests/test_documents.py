"""Reading a PDF as text: pages and length capped, unreadable files refused, and every reading
done by a process of its own within bounded CPU time, memory and time on the clock."""

import io
import os
import threading
import time

import pytest
from pypdf import PdfReader, PdfWriter

from tests.support.payloads import (
    many_operators,
    pdf_bytes,
    pdf_of_70_mb_of_text,
    pdf_of_many_operators,
    pdf_of_streams,
)
from tests.support.processes import readers_of
from webapp import documents
from webapp.documents import DocumentUnreadable, Limits, ReadingStopped, pdf_text

MENU = "Opening   hours:\tMonday to Friday,  9 to 5"


def saved(tmp_path, data: bytes, name: str = "menu.pdf"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def locked(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password, owner_password="owner-secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def unreadable(path, **options) -> tuple[DocumentUnreadable, float]:
    """The refusal of reading `path`, and how long it took to come."""
    started = time.monotonic()
    with pytest.raises(DocumentUnreadable) as refused:
        pdf_text(path, **options)
    return refused.value, time.monotonic() - started


def test_reads_the_text_of_every_page_in_order_with_whitespace_tidied(tmp_path):
    path = saved(tmp_path, pdf_bytes([MENU, "Closed on Sundays"], ["Prices (in EUR)"]))

    assert pdf_text(path) == (
        "Opening hours: Monday to Friday, 9 to 5\nClosed on Sundays\n\nPrices (in EUR)"
    )


def test_reads_only_the_first_pages_and_says_how_many_were_left_out(tmp_path):
    path = saved(tmp_path, pdf_bytes(*[[f"Page {n}"] for n in range(1, 6)]))

    text = pdf_text(path, Limits(pages=2))

    assert text.startswith("Page 1\n\nPage 2\n\n")
    assert "Page 3" not in text
    assert "only the first 2 of 5 pages were read" in text


def test_cuts_long_text_and_says_it_was_cut(tmp_path):
    path = saved(tmp_path, pdf_bytes(["word " * 200]))

    text = pdf_text(path, Limits(chars=50))

    assert text.startswith(("word " * 10).strip() + "\n\n[")
    assert "the text was cut at 50 characters" in text


def test_a_short_document_carries_no_note(tmp_path):
    assert pdf_text(saved(tmp_path, pdf_bytes(["Hello"]))) == "Hello"


def test_a_password_protected_pdf_is_unreadable(tmp_path):
    path = saved(tmp_path, locked(pdf_bytes([MENU]), user_password="open-sesame"))

    refused, _ = unreadable(path)
    assert "password" in str(refused) and refused.limit is None


def test_a_pdf_locked_only_against_editing_is_read(tmp_path):
    path = saved(tmp_path, locked(pdf_bytes(["Price list"]), user_password=""))

    assert pdf_text(path) == "Price list"


@pytest.mark.parametrize(
    "data",
    [b"", b"Dear shop, here is my order", b"%PDF-1.4\n1 0 obj\n<< /Type /Cat", b"\x89PNG\r\n"],
    ids=["empty", "text file", "truncated", "image"],
)
def test_a_broken_file_or_one_that_is_not_a_pdf_is_unreadable(tmp_path, data):
    refused, _ = unreadable(saved(tmp_path, data))
    assert "not a PDF that can be opened" in str(refused) and refused.limit is None


def test_a_scan_without_a_text_layer_is_unreadable(tmp_path):
    refused, _ = unreadable(saved(tmp_path, pdf_bytes([], [])))
    assert "scan" in str(refused)


def test_a_small_pdf_of_70_mb_of_text_is_refused_in_a_moment(tmp_path):
    data = pdf_of_70_mb_of_text()
    assert len(data) < 100_000

    refused, took = unreadable(saved(tmp_path, data))

    assert refused.limit == "unpacked" and refused.heavy
    assert "unpack to more than 10 MB" in str(refused)
    assert took < 5


def test_reading_stops_at_the_character_cap_without_reading_the_pages_after_it(tmp_path):
    # Page 1 has more text than is kept; the nine pages after it would take a minute.
    text = b"BT /F1 12 Tf 72 720 Td (" + b"enough words " * 20 + b") Tj ET"
    path = saved(tmp_path, pdf_of_streams([text, many_operators()], [0] + [1] * 9))

    started = time.monotonic()
    read = pdf_text(path, Limits(seconds=5, chars=100))

    assert time.monotonic() - started < 4
    assert read.startswith("enough words enough") and "cut at 100 characters" in read


def test_a_reading_past_its_cpu_time_is_stopped(tmp_path):
    refused, took = unreadable(saved(tmp_path, pdf_of_many_operators()), limits=Limits(seconds=1))

    assert refused.limit == "time" and refused.heavy
    assert "stopped after 1 seconds, the most one file may take" in str(refused)
    assert took < 3.5


def test_a_reading_past_its_memory_is_stopped(tmp_path):
    refused, took = unreadable(
        saved(tmp_path, pdf_of_many_operators()), limits=Limits(memory_mb=64)
    )

    assert refused.limit == "memory" and refused.heavy
    assert "more than 64 MB of memory" in str(refused)
    assert took < 5


def test_a_reading_never_runs_past_the_time_the_caller_has(tmp_path):
    refused, took = unreadable(saved(tmp_path, pdf_of_many_operators()), within=1.5)

    assert refused.limit == "deadline" and not refused.heavy
    assert 1.4 < took < 2.5


def test_a_stop_ends_the_reading_and_its_process_at_once(tmp_path):
    path = saved(tmp_path, pdf_of_many_operators())
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()

    started = time.monotonic()
    with pytest.raises(ReadingStopped):
        pdf_text(path, stop=stop)

    assert time.monotonic() - started < 1.5
    assert readers_of(os.getpid()) == set()


def test_no_more_documents_are_read_at_once_than_there_are_readers(tmp_path):
    path = saved(tmp_path, pdf_of_many_operators())
    slow = [
        threading.Thread(target=unreadable, args=(path,), kwargs={"limits": Limits(seconds=3)})
        for _ in range(documents.READERS)
    ]
    for thread in slow:
        thread.start()
    time.sleep(0.5)
    try:
        assert len(readers_of(os.getpid())) == documents.READERS

        refused, took = unreadable(path, within=1.5)

        assert refused.limit == "busy" and not refused.heavy
        assert took < 2
    finally:
        for thread in slow:
            thread.join()

"""Reading a customer's PDF as text: pages and length capped, unreadable files refused."""

import io

import pytest
from pypdf import PdfReader, PdfWriter

from tests.support.payloads import pdf_bytes
from webapp.replies.documents import DocumentUnreadable, pdf_text

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


def test_reads_the_text_of_every_page_in_order_with_whitespace_tidied(tmp_path):
    path = saved(tmp_path, pdf_bytes([MENU, "Closed on Sundays"], ["Prices (in EUR)"]))

    assert pdf_text(path) == (
        "Opening hours: Monday to Friday, 9 to 5\nClosed on Sundays\n\nPrices (in EUR)"
    )


def test_reads_only_the_first_pages_and_says_how_many_were_left_out(tmp_path):
    path = saved(tmp_path, pdf_bytes(*[[f"Page {n}"] for n in range(1, 6)]))

    text = pdf_text(path, max_pages=2)

    assert text.startswith("Page 1\n\nPage 2\n\n")
    assert "Page 3" not in text
    assert "only the first 2 of 5 pages were read" in text


def test_cuts_long_text_and_says_it_was_cut(tmp_path):
    path = saved(tmp_path, pdf_bytes(["word " * 200]))

    text = pdf_text(path, max_chars=50)

    assert text.startswith(("word " * 10).strip() + "\n\n[")
    assert "the text was cut at 50 characters" in text


def test_a_short_document_carries_no_note(tmp_path):
    assert pdf_text(saved(tmp_path, pdf_bytes(["Hello"]))) == "Hello"


def test_a_password_protected_pdf_is_unreadable(tmp_path):
    path = saved(tmp_path, locked(pdf_bytes([MENU]), user_password="open-sesame"))

    with pytest.raises(DocumentUnreadable, match="password"):
        pdf_text(path)


def test_a_pdf_locked_only_against_editing_is_read(tmp_path):
    path = saved(tmp_path, locked(pdf_bytes(["Price list"]), user_password=""))

    assert pdf_text(path) == "Price list"


@pytest.mark.parametrize(
    "data",
    [b"", b"Dear shop, here is my order", b"%PDF-1.4\n1 0 obj\n<< /Type /Cat", b"\x89PNG\r\n"],
    ids=["empty", "text file", "truncated", "image"],
)
def test_a_broken_file_or_one_that_is_not_a_pdf_is_unreadable(tmp_path, data):
    with pytest.raises(DocumentUnreadable, match="not a PDF that can be opened"):
        pdf_text(saved(tmp_path, data))


def test_a_scan_without_a_text_layer_is_unreadable(tmp_path):
    with pytest.raises(DocumentUnreadable, match="scan"):
        pdf_text(saved(tmp_path, pdf_bytes([], [])))

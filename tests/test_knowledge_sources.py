"""Knowledge sources read into labelled chunks: files of each format, pasted text, web pages;
limits and bad input refused or cut with a message; reading by the worker, once."""

import io
import os
import stat
import threading
from itertools import pairwise
from types import SimpleNamespace

import pytest
from pypdf import PdfReader, PdfWriter
from sqlalchemy import select

from tests.conftest import wait_for
from tests.support.names import point
from tests.support.office import docx_bytes, zip_bomb_docx
from tests.support.pages import FakeSite
from tests.support.payloads import pdf_bytes
from tests.support.processes import start_worker_process
from webapp.extensions import db
from webapp.knowledge import files, indexing, sources, web_pages
from webapp.models import KnowledgeChunk, KnowledgeSource
from webapp.states import SourceState


@pytest.fixture
def site():
    running = FakeSite()
    yield running
    running.close()


def added_file(app, data: bytes, filename: str, **options) -> KnowledgeSource:
    """The file added and read here, as `knowledge add` does."""
    with app.app_context():
        source = sources.add_file(data, filename, author="test", **options)
        indexing.read_now(source.id)
        db.session.expire_all()
        row = db.session.get(KnowledgeSource, source.id)
        return SimpleNamespace(**{c.key: getattr(row, c.key) for c in row.__table__.columns})


def chunks_of(app, source_id: int) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.scalars(
            select(KnowledgeChunk).where(KnowledgeChunk.source_id == source_id)
            .order_by(KnowledgeChunk.position)
        )  # fmt: skip
        return [(row.label, row.text) for row in rows]


def test_a_pdf_becomes_chunks_labelled_with_their_pages(app):
    data = pdf_bytes(["Pizza Margherita 9.50"], ["Closed on Mondays"], ["Delivery after 6 pm"])
    source = added_file(app, data, "Menu.pdf")
    assert source.state == SourceState.READY
    assert chunks_of(app, source.id) == [
        ("Menu.pdf, page 1", "Pizza Margherita 9.50"),
        ("Menu.pdf, page 2", "Closed on Mondays"),
        ("Menu.pdf, page 3", "Delivery after 6 pm"),
    ]
    assert source.chars == len(source.text) and source.tokens == (source.chars + 3) // 4


def test_a_price_list_csv_becomes_rows_that_repeat_the_column_names(app):
    data = b"Item;Price;Size\nMargherita;9,50;30 cm\nDiavola;11,00;30 cm\n"
    source = added_file(app, data, "Prices.csv")
    assert chunks_of(app, source.id) == [
        (
            "Prices.csv, rows 1–2",
            "Item: Margherita; Price: 9,50; Size: 30 cm\nItem: Diavola; Price: 11,00; Size: 30 cm",
        )
    ]


def test_a_long_price_list_is_cut_between_rows_and_each_chunk_names_its_rows(app):
    lines = ["Item,Price"] + [f"Dish number {n} with a long description,{n}.00" for n in range(60)]
    source = added_file(app, "\n".join(lines).encode(), "Prices.csv")
    found = chunks_of(app, source.id)
    assert len(found) > 2 and found[0][0].startswith("Prices.csv, rows 1–")
    assert all(text.startswith("Item: Dish number") for _, text in found)
    assert found[-1][1].endswith("Item: Dish number 59 with a long description; Price: 59.00")


def test_a_csv_in_windows_encoding_is_read_with_a_note(app):
    data = "Gericht,Preis\nKäsespätzle,12 €\n".encode("cp1252")
    source = added_file(app, data, "Karte.csv")
    assert source.state == SourceState.READY
    assert chunks_of(app, source.id)[0][1] == "Gericht: Käsespätzle; Preis: 12 €"
    assert source.note == "The file is not UTF-8, so it was read as Windows/Western (cp1252) text"


def test_markdown_chunks_are_labelled_with_their_section_heading(app):
    text = "Welcome to the shop.\n\n# Delivery\n\nWe deliver on Sundays.\n\n## Returns\n\n30 days."
    source = added_file(app, text.encode(), "Guide.md")
    assert [label for label, _ in chunks_of(app, source.id)] == [
        "Guide.md", "Guide.md › Delivery", "Guide.md › Returns"
    ]  # fmt: skip


def test_a_long_text_is_cut_at_paragraphs_into_overlapping_chunks_of_about_a_thousand(app):
    paragraphs = [f"Paragraph {n}. " + "Some words about the shop. " * 12 for n in range(40)]
    with app.app_context():
        source = sources.add_text("Delivery rules", "\n\n".join(paragraphs), author="test")
        indexing.read_now(source.id)
        source_id = source.id
    found = chunks_of(app, source_id)
    assert len(found) > 5 and {label for label, _ in found} == {"Delivery rules"}
    assert all(len(text) <= 1200 for _, text in found)
    assert all(text.rstrip().endswith(".") for _, text in found)  # whole sentences
    for (_, before), (_, after) in pairwise(found):
        assert before[-40:] in after  # the next one starts with the end of this one


def test_a_word_document_is_read_paragraph_by_paragraph(app):
    source = added_file(app, docx_bytes("Opening hours", "Mon|day to Friday, 9 to 5"), "Info.docx")
    assert source.state == SourceState.READY
    assert chunks_of(app, source.id) == [("Info.docx", "Opening hours\n\nMonday to Friday, 9 to 5")]


def test_a_zip_bomb_dressed_as_a_word_document_is_refused_in_plain_words(app):
    source = added_file(app, zip_bomb_docx(), "Bomb.docx")
    assert source.state == SourceState.FAILED
    assert "zip bomb" in source.error
    assert chunks_of(app, source.id) == []


def test_a_word_document_declaring_entities_is_refused(app):
    xml = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        '<w:document xmlns:w="x"><w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body></w:document>'
    )
    source = added_file(app, docx_bytes(xml=xml), "Laughs.docx")
    assert source.state == SourceState.FAILED and "entities" in source.error


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"%PDF-1.4 this is not really a pdf", "not a PDF that can be opened, or it is damaged"),
        (pdf_bytes([], []), "probably a scan"),
    ],
    ids=["malformed", "scanned"],
)
def test_an_unreadable_pdf_fails_with_the_reason_and_is_kept_to_remove(app, data, words):
    source = added_file(app, data, "Bad.pdf")
    assert source.state == SourceState.FAILED and words in source.error
    # kept, so the owner can download it to look
    assert (files.folder(app.instance_path) / source.filename).is_file()


def test_a_password_protected_pdf_fails_saying_so(app):
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes(["Secret menu"]))))
    writer.encrypt(user_password="open-sesame", owner_password="owner")
    out = io.BytesIO()
    writer.write(out)
    source = added_file(app, out.getvalue(), "Locked.pdf")
    assert source.state == SourceState.FAILED and "password" in source.error


def test_a_file_over_10_mb_or_of_another_kind_is_refused_before_it_is_kept(app):
    with app.app_context():
        with pytest.raises(sources.SourceRefused, match="at most 10 MB"):
            sources.add_file(b"x" * (10 * 2**20 + 1), "big.txt", author="test")
        with pytest.raises(sources.SourceRefused, match="not a file Switchboard reads"):
            sources.add_file(b"MZ", "setup.exe", author="test")
        assert db.session.scalar(select(KnowledgeSource.id)) is None
    assert not any(files.folder(app.instance_path).iterdir())


def test_past_two_million_characters_a_text_is_refused_and_a_file_is_cut_with_a_note(app):
    with app.app_context():
        sources.add_text("Catalogue", "word " * 389_999 + "last.", author="test")  # 1,950,000
        # counted as soon as it is added, before a worker reads it
        with pytest.raises(sources.SourceRefused, match="only 50,000 more fit"):
            sources.add_text("More", "x" * 60_000, author="test")
    source = added_file(app, ("Line of text. " * 8000).encode(), "Long.txt")
    assert source.state == SourceState.READY and source.chars <= 50_000
    assert "all sources together may hold 2,000,000" in source.note
    with app.app_context():
        assert sources.totals().chars <= 2_000_000


def test_kept_files_are_private_to_switchboards_user(app):
    source = added_file(app, b"Opening hours: 9 to 5", "Hours.txt")
    with app.app_context():
        path = files.path_of(source.filename)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
        sources.remove(db.session.get(KnowledgeSource, source.id))
    assert not path.exists()


def test_a_web_page_is_read_as_text_without_scripts_styles_or_menus(app, site):
    site.page(
        "/faq",
        "<html><head><title>FAQ</title><style>p{}</style></head><body><nav>Home | Shop</nav>"
        "<h1>Delivery</h1><p>We deliver on <b>Sundays</b>.</p><script>alert(1)</script>"
        "</body></html>",
    )
    with app.app_context():
        source = sources.add_url(site.url + "/faq", author="test")
        assert indexing.read_now(source.id) == SourceState.READY
        source = db.session.get(KnowledgeSource, source.id)
        assert source.text == "Delivery\n\nWe deliver on Sundays."
    assert chunks_of(app, source.id) == [("127.0.0.1/faq", "Delivery\n\nWe deliver on Sundays.")]


def test_a_page_of_a_gigabyte_is_cut_off_after_5_mb(app, site):
    site.endless("/huge")
    text, notes = web_pages.fetch(site.url + "/huge")
    assert len(text) <= 5 * 2**20 and "only its beginning was read" in notes[0]
    assert site.sent < 64 * 2**20  # the rest was never sent: the reader hung up


def test_a_page_that_never_finishes_is_stopped_at_the_time_cap(app, site):
    site.trickle("/slow")
    with pytest.raises(web_pages.PageRefused, match="did not arrive within 2 seconds"):
        web_pages.fetch(site.url + "/slow", seconds=2)


def test_a_redirect_to_the_metadata_service_is_refused(app, site):
    site.redirect("/go", "http://169.254.169.254/latest/meta-data")
    with pytest.raises(web_pages.PageRefused, match="link-local or metadata address"):
        web_pages.fetch(site.url + "/go")


def test_redirects_are_followed_to_pages_that_pass_the_check(app, site):
    site.redirect("/old", "/new")
    site.page("/new", "Moved here", "text/plain")
    assert web_pages.fetch(site.url + "/old") == ("Moved here", [])


def test_a_file_address_is_refused_with_a_next_step(app, site):
    site.page("/menu.pdf", "%PDF-1.4", "application/pdf")
    with pytest.raises(web_pages.PageRefused, match="add it as a file instead"):
        web_pages.fetch(site.url + "/menu.pdf")


def test_loopback_pages_are_refused_with_the_check_on(app, site, monkeypatch):
    monkeypatch.setenv("ALLOW_PRIVATE_ADDRESSES", "off")
    with app.app_context(), pytest.raises(sources.SourceRefused, match="local or private"):
        sources.add_url(site.url + "/faq", author="test")
    # A name that resolves to loopback is refused on the address it is connected to.
    point(monkeypatch, {"shop.example": "127.0.0.1"})
    site.page("/faq", "secret")
    with pytest.raises(web_pages.PageRefused, match=r"resolves to 127\.0\.0\.1"):
        web_pages.fetch(f"http://shop.example:{site.port}/faq")
    assert "/faq" not in site.requests


def test_two_workers_racing_for_one_source_read_it_once(app):
    with app.app_context():
        source_id = sources.add_text("Rules", "Deliveries on Sundays.", author="test").id
    won, start = [], threading.Barrier(4)

    def race():
        with app.app_context():
            start.wait()
            if (claimed := indexing.claim()) is not None:
                won.append(claimed)
                indexing.read(*claimed)

    racers = [threading.Thread(target=race) for _ in range(4)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert [source for source, _ in won] == [source_id]
    assert len(chunks_of(app, source_id)) == 1


def test_a_reading_whose_worker_died_is_taken_over_when_its_lease_runs_out(app):
    with app.app_context():
        source_id = sources.add_text("Rules", "Deliveries on Sundays.", author="test").id
        assert indexing.claim() is not None  # and the worker dies
        assert indexing.claim() is None
        db.session.get(KnowledgeSource, source_id).lease_until = sources.utcnow()
        db.session.commit()
        assert indexing.read_waiting() == 1
        assert db.session.get(KnowledgeSource, source_id).state == SourceState.READY


def test_the_worker_process_reads_files_a_text_and_a_page(app, site, admin, tmp_path):
    site.page("/hours", "<p>Open 9 to 5.</p>")
    admin.post("/admin/knowledge/text", {"name": "Delivery rules", "text": "We deliver daily."})
    admin.post("/admin/knowledge/url", {"url": site.url + "/hours"})
    with app.app_context():
        sources.add_file(pdf_bytes(["Margherita 9.50"]), "Menu.pdf", author="test")
        sources.add_file(docx_bytes("Returns within 30 days."), "Returns.docx", author="test")
        sources.add_file(b"Item,Price\nDiavola,11.00\n", "Prices.csv", author="test")
    worker = start_worker_process(app, tmp_path / "worker.log")
    try:

        def all_ready():
            with app.app_context():
                states = db.session.scalars(select(KnowledgeSource.state)).all()
                db.session.rollback()
                return len(states) == 5 and set(states) == {SourceState.READY}

        wait_for(all_ready, timeout=30)
    finally:
        worker.terminate()
        worker.wait(10)
    with app.app_context():
        labels = set(db.session.scalars(select(KnowledgeChunk.label)))
    assert labels == {"Delivery rules", "127.0.0.1/hours", "Menu.pdf, page 1", "Returns.docx",
                      "Prices.csv, row 1"}  # fmt: skip


def test_a_pdf_past_600_pages_is_read_to_page_600_with_a_note(app):
    source = added_file(app, pdf_bytes(*([f"Page {n}"] for n in range(1, 606))), "Manual.pdf")
    assert source.state == SourceState.READY
    assert source.note == "Only the first 600 of 605 pages were read"
    assert chunks_of(app, source.id)[-1] == ("Manual.pdf, page 600", "Page 600")

"""The Knowledge page's sources and FAQ, and the `knowledge` commands: what the owner adds,
sees, downloads, refreshes and removes."""

import io

import pytest
from sqlalchemy import select

from tests.support.pages import FakeSite
from tests.support.payloads import pdf_bytes
from webapp.extensions import db
from webapp.knowledge import indexing, sources
from webapp.models import KnowledgeChunk, KnowledgeSource
from webapp.states import SourceState


def read_waiting(app) -> None:
    with app.app_context():
        indexing.read_waiting()


def page_text(admin) -> str:
    return admin.get("/admin/knowledge").get_data(as_text=True)


def upload(admin, data: bytes, filename: str, **fields):
    return admin.post(
        "/admin/knowledge/file",
        {"file": (io.BytesIO(data), filename), **fields},
        content_type="multipart/form-data",
    )


def test_an_uploaded_file_shows_reading_then_its_size_and_preview(app, admin):
    response = upload(admin, b"We deliver on Sundays between 10 and 4.", "Delivery.txt")
    assert response.status_code == 302
    assert "Reading…" in page_text(admin)
    read_waiting(app)
    page = page_text(admin)
    assert "Delivery.txt" in page and "Ready" in page
    assert "39 characters, about 10 tokens" in page
    assert "We deliver on Sundays between 10 and 4." in page
    assert "All of it is sent with every question." in page


def test_html_in_a_document_is_shown_escaped(app, admin):
    upload(admin, b"<script>alert('owned')</script><b>Menu</b>", "Evil.txt")
    read_waiting(app)
    page = page_text(admin)
    assert "<script>alert" not in page and "&lt;script&gt;alert(" in page


def test_an_unreadable_file_shows_why_next_to_it(app, admin):
    upload(admin, b"%PDF-1.4 broken", "Menu.pdf")
    read_waiting(app)
    page = page_text(admin)
    assert "Could not be read" in page
    assert "The file is not a PDF that can be opened, or it is damaged." in page


def test_a_refused_file_is_said_next_to_the_field_and_nothing_is_kept(app, admin):
    response = upload(admin, b"MZ\x90\x00", "setup.exe")
    assert response.status_code == 400
    assert "is not a file Switchboard reads" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(KnowledgeSource.id)) is None


def test_a_pasted_text_with_a_name_that_is_taken_is_refused_next_to_the_name(app, admin):
    admin.post("/admin/knowledge/text", {"name": "Delivery rules", "text": "Daily."})
    response = admin.post("/admin/knowledge/text", {"name": "Delivery rules", "text": "Again."})
    assert response.status_code == 400
    assert "A source is already called &#39;Delivery rules&#39;" in response.get_data(as_text=True)


def test_the_faq_editor_adds_edits_and_removes_an_entry(app, admin):
    admin.post("/admin/knowledge/faq", {"question": "Do you deliver?", "answer": "Yes, daily."})
    admin.post("/admin/knowledge/faq", {"question": "Do you deliver?", "answer": "Not Sundays."})
    page = page_text(admin)
    assert "Not Sundays." in page and "Yes, daily." not in page
    with app.app_context():
        source = sources.by_name("Do you deliver?")
        labels = db.session.scalars(select(KnowledgeChunk.label)).all()
        assert labels == ["FAQ › Do you deliver?"]
        source_id = source.id
    admin.post(f"/admin/knowledge/{source_id}/remove")
    page = page_text(admin)
    assert "was removed" in page and "<h4>Do you deliver?</h4>" not in page


def test_refresh_reads_a_source_again_and_remove_takes_its_chunks(app, admin):
    admin.post("/admin/knowledge/text", {"name": "Rules", "text": "Deliveries on Sundays."})
    read_waiting(app)
    with app.app_context():
        source_id = sources.by_name("Rules").id
    admin.post(f"/admin/knowledge/{source_id}/refresh")
    with app.app_context():
        assert db.session.get(KnowledgeSource, source_id).state == SourceState.PENDING
    read_waiting(app)
    admin.post(f"/admin/knowledge/{source_id}/remove")
    with app.app_context():
        assert db.session.scalar(select(KnowledgeChunk.id)) is None
        assert db.session.get(KnowledgeSource, source_id) is None


def test_a_loopback_page_is_refused_next_to_the_address(app, admin, monkeypatch):
    monkeypatch.setenv("ALLOW_PRIVATE_ADDRESSES", "off")
    response = admin.post("/admin/knowledge/url", {"url": "http://127.0.0.1:8080/admin"})
    assert response.status_code == 400
    assert "must not point at a local or private address" in response.get_data(as_text=True)


def test_much_knowledge_is_said_to_be_picked_from(app, admin):
    with app.app_context():
        sources.add_text("Catalogue", "A long catalogue line. " * 2000, author="test")
    read_waiting(app)
    assert "the best 6 parts are picked for each question" in page_text(admin)


def test_only_a_signed_in_admin_downloads_a_kept_file(app, admin, client):
    upload(admin, pdf_bytes(["Margherita 9.50"]), "Menu.pdf")
    with app.app_context():
        source_id = sources.by_name("Menu.pdf").id
    url = f"/admin/knowledge/{source_id}/file"
    signed_out = client.get(url)
    assert signed_out.status_code == 302 and "/login" in signed_out.headers["Location"]
    download = admin.get(url)
    assert download.status_code == 200 and download.data.startswith(b"%PDF")
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert "Menu.pdf" in download.headers["Content-Disposition"]


def test_the_knowledge_menu_link_is_current_on_each_knowledge_tab(admin):
    for path in ("/admin/knowledge", "/admin/knowledge/hours", "/admin/knowledge/gaps"):
        page = admin.get(path).get_data(as_text=True)
        assert 'href="/admin/knowledge" aria-current="page">Knowledge</a>' in page, path


def test_the_commands_add_list_remove_and_reindex(app, runner, tmp_path):
    menu = tmp_path / "Menu.pdf"
    menu.write_bytes(pdf_bytes(["Margherita 9.50"], ["Diavola 11.00"]))
    result = runner.invoke(args=["knowledge", "add", str(menu), "--name", "Menu"])
    assert result.exit_code == 0, result.output
    assert "Added 'Menu': 30 characters, 2 parts." in result.output
    listed = runner.invoke(args=["knowledge", "list"]).output
    assert "Menu\tfile\tready\t30 characters" in listed
    assert runner.invoke(args=["knowledge", "reindex"]).output == "Read 1 of 1 sources again.\n"
    assert runner.invoke(args=["knowledge", "remove", "Menu"]).output == "Removed 'Menu'.\n"
    missing = runner.invoke(args=["knowledge", "remove", "Menu"])
    assert missing.exit_code != 0 and "No source is called 'Menu'" in missing.output


def test_the_add_command_says_why_a_file_cannot_be_read(app, runner, tmp_path):
    broken = tmp_path / "Broken.pdf"
    broken.write_bytes(b"%PDF-1.4 nothing")
    result = runner.invoke(args=["knowledge", "add", str(broken)])
    assert result.exit_code != 0
    assert "could not be read: The file is not a PDF that can be opened" in result.output


def test_the_add_url_command_fetches_the_page_at_once(app, runner):
    site = FakeSite()
    try:
        site.page("/faq", "<h1>FAQ</h1><p>We deliver on Sundays.</p>")
        result = runner.invoke(args=["knowledge", "add-url", site.url + "/faq"])
    finally:
        site.close()
    assert result.exit_code == 0, result.output
    assert "Added '127.0.0.1/faq': 27 characters, 1 part." in result.output


@pytest.mark.usefixtures("app")
def test_the_add_url_command_refuses_a_metadata_address(runner):
    result = runner.invoke(args=["knowledge", "add-url", "http://169.254.169.254/latest"])
    assert result.exit_code != 0 and "metadata" in result.output


def test_a_file_of_several_megabytes_is_taken_and_one_over_10_mb_refused_next_to_the_field(
    app, admin
):
    assert upload(admin, b"word " * 600_000, "Catalogue.txt").status_code == 302
    refused = upload(admin, b"w" * (10 * 2**20 + 300_000), "Huge.txt")
    assert refused.status_code == 413
    assert "The file is larger than 10 MB, the most a file may be." in refused.get_data(
        as_text=True
    )
    with app.app_context():
        assert [s.name for s in sources.all_sources()] == ["Catalogue.txt"]


def test_an_upload_without_the_forms_csrf_token_is_refused(app, admin):
    response = admin.client.post(
        "/admin/knowledge/file",
        data={"file": (io.BytesIO(b"Opening hours"), "Hours.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    with app.app_context():
        assert sources.all_sources() == []

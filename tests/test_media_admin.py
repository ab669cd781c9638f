"""What the owner sees of a customer's files: the thread shows, plays and offers them, the file
route serves them only to the signed-in owner and only as what they safely are, the log names
downloads and transcriptions."""

import hashlib
import re
import struct
import zlib

import pytest

from tests.conftest import wait_for
from tests.support.browser import sign_in
from tests.support.records import add_contact, add_message, add_row, ago, text_of, thread_url
from tests.support.served import HTTPS, Visitor
from webapp import media_store

CUSTOMER = "16505551234"
OGG = b"OggS\x00\x02" + bytes(range(64))
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
PAGE = b"<html><script>alert(document.cookie)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
FILE_POLICY = "default-src 'none'; sandbox"


def png(width: int = 3, height: int = 2) -> bytes:
    """A real PNG of red pixels, small enough to write by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    pixels = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels))
        + chunk(b"IEND", b"")
    )


def store(app, data: bytes) -> str:
    """Keep `data` in the media folder as the worker does: named by its sha256, private."""
    name = hashlib.sha256(data).hexdigest()
    with app.app_context():
        path = media_store.folder() / name
    path.write_bytes(data)
    path.chmod(0o600)
    return name


def media_message(app, kind: str, data: bytes | None, mime: str, text=None, **fields) -> int:
    """A customer's message of type `kind` whose file (if any) is stored; its id."""
    contact = fields.pop("contact", None) or add_contact(app, CUSTOMER, "Ana")
    name = store(app, data) if data is not None else None
    return add_message(
        app, contact, "customer", text, fields.pop("state", "answered"), ago(minutes=5),
        type=kind, media_file=name, media_mime=mime,
        media_size=None if data is None else len(data), **fields,
    )  # fmt: skip


def media_url(message_id: int) -> str:
    return f"/admin/media/{message_id}"


def test_a_signed_out_visitor_is_sent_to_sign_in_and_never_gets_the_file(client, app):
    message = media_message(app, "image", png(), "image/png")
    for headers in ({}, {"Range": "bytes=0-3"}):
        response = client.get(media_url(message), headers=headers)
        assert response.status_code == 302 and "/login" in response.headers["Location"]
        assert b"PNG" not in response.data


def test_the_served_app_gives_the_file_to_the_owner_only(app, behind_proxy):
    data = png()
    message = media_message(app, "image", data, "image/png")
    stranger = Visitor(behind_proxy, HTTPS).request("GET", media_url(message))
    assert stranger.status_code == 302 and "/login" in stranger.headers["Location"]
    assert data not in stranger.content
    owner = Visitor(behind_proxy, HTTPS)
    assert owner.sign_in().status_code == 302
    response = owner.request("GET", media_url(message))
    assert response.status_code == 200 and response.content == data


@pytest.mark.parametrize(
    ("kind", "data", "stored_mime", "served_mime"),
    [
        ("image", png(), "image/png", "image/png"),
        ("image", b"\xff\xd8\xff\xe0 jpeg", "image/jpeg", "image/jpeg"),
        ("sticker", b"RIFF\x00\x00\x00\x00WEBP", "image/webp", "image/webp"),
        ("audio", OGG, "audio/ogg; codecs=opus", "audio/ogg; codecs=opus"),
        ("video", b"\x00\x00\x00\x18ftypmp42", "video/mp4", "video/mp4"),
    ],
    ids=["png", "jpeg", "sticker", "voice", "video"],
)
def test_pictures_sound_and_video_are_shown_in_the_page_as_what_they_are(
    admin, app, kind, data, stored_mime, served_mime
):
    response = admin.client.get(media_url(media_message(app, kind, data, stored_mime)))
    assert response.status_code == 200 and response.data == data
    assert response.headers["Content-Type"] == served_mime
    disposition, _, saved_as = response.headers["Content-Disposition"].partition("; ")
    assert disposition == "inline" and saved_as.startswith(f"filename={kind}-")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == FILE_POLICY
    assert response.headers["Cache-Control"] == "private"


def test_a_pdf_is_downloaded_under_its_own_name(admin, app):
    message = media_message(app, "document", PDF, "application/pdf", media_name="Invoice 12.pdf")
    response = admin.client.get(media_url(message))
    assert response.data == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == 'attachment; filename="Invoice 12.pdf"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == FILE_POLICY
    assert response.headers["Cache-Control"] == "private"


@pytest.mark.parametrize(
    ("kind", "data", "stored_mime"),
    [
        ("document", PAGE, "text/html"),
        ("image", SVG, "image/svg+xml"),
        ("document", b"\x00\x01", None),
    ],
    ids=["html", "svg", "unknown"],
)
def test_a_file_of_any_other_type_is_only_ever_a_download(admin, app, kind, data, stored_mime):
    message = media_message(app, kind, data, stored_mime, media_name="page.html")
    response = admin.client.get(media_url(message))
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Content-Security-Policy"] == FILE_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_an_audio_type_keeps_only_plain_parameters(admin, app):
    message = media_message(app, "audio", OGG, 'audio/ogg; codecs="<script>"')
    assert admin.client.get(media_url(message)).headers["Content-Type"] == "audio/ogg"


def test_a_documents_name_cannot_break_out_of_the_header_or_the_folder(admin, app):
    name = 'a"b\\..\\..//x\x07; filename=evil.exe.pdf'
    message = media_message(app, "document", PDF, "application/pdf", media_name=name)
    disposition = admin.client.get(media_url(message)).headers["Content-Disposition"]
    saved = re.fullmatch(r'attachment; filename="([^"]*)"', disposition).group(1)
    assert not set(saved) & set('"\\/\x07') and saved.endswith(".pdf")


def test_a_name_outside_ascii_is_kept_for_the_save_dialog(admin, app):
    message = media_message(app, "document", PDF, "application/pdf", media_name="Fáctura ☂.pdf")
    disposition = admin.client.get(media_url(message)).headers["Content-Disposition"]
    assert "filename*=UTF-8''F%C3%A1ctura%20%E2%98%82.pdf" in disposition


def test_no_file_is_a_404(admin, app):
    contact = add_contact(app, CUSTOMER, "Ana")
    never_kept = media_message(app, "image", None, "image/jpeg", contact=contact)
    gone = add_message(app, contact, "customer", None, "answered", ago(minutes=1),
                       type="image", media_file="ab" * 32, media_mime="image/png")  # fmt: skip
    smuggled = add_message(app, contact, "customer", None, "answered", ago(minutes=1),
                           type="image", media_file="../app.db")  # fmt: skip
    text = add_message(app, contact, "customer", "Hi", "answered", ago(minutes=1))
    for message in (never_kept, gone, smuggled, text, 9999):
        assert admin.client.get(media_url(message)).status_code == 404


def test_a_range_request_gets_that_part_for_seeking_in_a_voice_note(admin, app):
    message = media_message(app, "audio", OGG, "audio/ogg; codecs=opus")
    response = admin.client.get(media_url(message), headers={"Range": "bytes=4-9"})
    assert response.status_code == 206
    assert response.data == OGG[4:10]
    assert response.headers["Content-Range"] == f"bytes 4-9/{len(OGG)}"


def test_admin_pages_may_show_pictures_and_play_sound_from_the_app_only(admin):
    policy = admin.get("/admin/conversations").headers["Content-Security-Policy"]
    assert "img-src 'self' data:" in policy and "default-src 'self'" in policy
    assert "media-src" not in policy  # so default-src 'self' applies to <audio> and <video>


def thread_with_every_kind(app) -> tuple[int, dict[str, int]]:
    contact = add_contact(app, CUSTOMER, "Ana")
    ids = {
        "photo": media_message(app, "image", png(), "image/png", "The <b>crack</b>",
                               contact=contact),
        "voice": media_message(app, "audio", OGG, "audio/ogg; codecs=opus", contact=contact,
                               media_text="Is the blue one still <there>?"),
        "mute": media_message(app, "audio", OGG + b"2", "audio/ogg", contact=contact),
        "video": media_message(app, "video", b"\x00ftyp", "video/mp4", contact=contact),
        "pdf": media_message(app, "document", PDF * 40, "application/pdf", contact=contact,
                             media_name="Invoice <12>.pdf", media_text="Total due: 40 EUR"),
        "lost": media_message(app, "image", None, "image/jpeg", contact=contact,
                              error_detail="The file is larger than 5 MB."),
    }  # fmt: skip
    return contact, ids


def test_the_thread_shows_each_kind_of_file_with_what_was_read_from_it(admin, app):
    contact, ids = thread_with_every_kind(app)
    response = admin.get(thread_url(contact))
    page = response.get_data(as_text=True)
    photo = re.search(rf'<img class="media-image" src="{media_url(ids["photo"])}"[^>]*>', page)
    assert photo and 'loading="lazy"' in photo.group() and 'alt="Photo from Ana"' in photo.group()
    assert '<p class="text caption">The &lt;b&gt;crack&lt;/b&gt;</p>' in page
    assert f'<audio controls preload="none" src="{media_url(ids["voice"])}"></audio>' in page
    assert f'<video controls preload="none" src="{media_url(ids["video"])}"></video>' in page
    assert f'<a href="{media_url(ids["pdf"])}" download>Invoice &lt;12&gt;.pdf</a>' in page
    shown = text_of(response)
    assert "Transcript: Is the blue one still <there>?" in shown
    assert "Not transcribed." in shown
    assert "Invoice <12>.pdf 2 kB" in shown
    assert "Text read from the document Total due: 40 EUR" in shown
    assert "Photo — not downloaded The file is larger than 5 MB." in shown
    assert "<b>crack" not in page and "<there>" not in page


def test_the_text_read_from_a_document_starts_folded(admin, app):
    contact, _ = thread_with_every_kind(app)
    page = admin.get(thread_url(contact)).get_data(as_text=True)
    details = re.search(r'<details class="document-text"[^>]*>', page).group()
    assert "open" not in details


def test_a_file_still_being_fetched_is_not_called_lost(admin, app):
    contact = add_contact(app, CUSTOMER, "Ana")
    media_message(app, "audio", None, "audio/ogg", contact=contact, state="received")
    shown = text_of(admin.get(thread_url(contact)))
    assert "Voice note — not downloaded yet" in shown


def test_the_conversations_list_says_what_a_file_was(admin, app):
    first = add_contact(app, "16505550001", "Ana")
    second = add_contact(app, "16505550002", "Bram")
    third = add_contact(app, "16505550003", "Chloé")
    media_message(app, "image", png(), "image/png", "Front wheel", contact=first)
    media_message(app, "audio", OGG, "audio/ogg", contact=second,
                  media_text="Hello, I would like to book a repair for Saturday " * 3)  # fmt: skip
    media_message(app, "document", PDF, "application/pdf", contact=third, media_name="Quote.pdf")
    shown = text_of(admin.get("/admin/conversations"))
    assert "Photo: Front wheel" in shown
    assert "Voice note: Hello, I would like to book a repair for Saturday" in shown
    assert "Document: Quote.pdf" in shown


def test_the_log_names_media_downloads_and_transcriptions(admin, app):
    fields = {"model_requested": None, "model_used": None, "prompt_tokens": None}
    download = add_row(app, 1, upstream="whatsapp", operation="media", **fields)
    heard = add_row(app, 2, upstream="openrouter", operation="transcription",
                    status="error", error_kind="rate_limited", **fields)  # fmt: skip
    listed = text_of(admin.get("/admin/logs"))
    assert "whatsapp (Media download)" in listed and "whatsapp (Transcription)" in listed
    assert "Media download succeeded" in text_of(admin.get(f"/admin/logs/{download}"))
    detail = text_of(admin.get(f"/admin/logs/{heard}"))
    assert "Transcription failed" in detail and "Call Transcription (openrouter)" in detail


def test_the_owner_sees_the_photo_and_the_voice_note_in_a_real_browser(page, live_server, app):
    from playwright.sync_api import expect

    contact, ids = thread_with_every_kind(app)
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    sign_in(page, live_server)
    page.goto(f"{live_server}{thread_url(contact)}")
    photo = page.locator(f"#message-{ids['photo']} img")
    expect(photo).to_have_attribute("alt", "Photo from Ana")

    def loaded():
        """the photo is decoded: a real image, allowed by the page's policy"""
        return photo.evaluate("img => img.complete && img.naturalWidth")

    assert wait_for(loaded, timeout=10) == 3
    voice = page.locator(f"#message-{ids['voice']}")
    expect(voice.locator("audio[controls]")).to_have_count(1)
    expect(voice.locator(".transcript")).to_have_text("Transcript: Is the blue one still <there>?")
    page.locator(f"#message-{ids['pdf']} summary").click()
    expect(page.locator(f"#message-{ids['pdf']} pre")).to_be_visible()
    assert problems == []


BIDI_AND_ZERO_WIDTH = (
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
    "\u200b\u200c\u200d\u2060\ufeff"
)


def test_a_documents_name_is_saved_without_its_hidden_characters(admin, app):
    # Shown as it acts, the override makes the name read "invoiceexe.pdf".
    name = f"invoice{BIDI_AND_ZERO_WIDTH}fdp.exe"
    message = media_message(app, "document", PDF, "application/pdf", media_name=name)
    disposition = admin.client.get(media_url(message)).headers["Content-Disposition"]
    assert disposition == "attachment; filename=invoicefdp.exe"


def test_the_thread_shows_a_documents_hidden_characters_in_its_isolated_name(admin, app):
    contact = add_contact(app, CUSTOMER, "Ana")
    name = "invoice\u202efdp.exe"
    message = media_message(
        app, "document", PDF, "application/pdf", contact=contact, media_name=name
    )
    page = admin.get(thread_url(contact)).get_data(as_text=True)
    marker = '<span class="hidden-char" title="right-to-left override">&lt;U+202E&gt;</span>'
    assert f'<bdi><a href="{media_url(message)}" download>invoice{marker}fdp.exe</a></bdi>' in page
    assert "\u202e" not in page

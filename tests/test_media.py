"""Media on arrival: a customer's file fetched from the fake Graph API, checked and kept private."""

import hashlib
import io
import json
import os
import stat
import time
from datetime import timedelta

import pytest

from tests.support.fake_graph import API_PREFIX, fixture_bytes
from webapp import contacts, media_store, settings
from webapp.clients.whatsapp import MediaTooLarge, WhatsAppClient
from webapp.clients.whatsapp_errors import WhatsAppError
from webapp.data import retention
from webapp.extensions import db
from webapp.models import Contact, Message, utcnow
from webapp.troubleshooting import ErrorKind

TOKEN = "EAAG-media-test-token-0123456789"
MEDIA_ID = "2621233374848975"  # the id in media_url.json
PHOTO = b"\xff\xd8\xff\xe0 a small jpeg " * 100
FILE_PATH = "/files/photo"


def client_for(fake_graph, token: str = TOKEN) -> WhatsAppClient:
    return WhatsAppClient(token, "106540352242922", fake_graph.base_url)


def serve(fake_graph, body: bytes = PHOTO, sha256: str | None = None, **answer) -> None:
    """Graph's media answer (the recorded one, pointing at the fake) and then the file."""
    info = json.loads(fixture_bytes("media_url.json"))
    info.update(
        url=fake_graph.url + FILE_PATH,
        sha256=sha256 or hashlib.sha256(body).hexdigest(),
        file_size=str(len(body)),
    )
    info.update(answer)
    fake_graph.queue(200, json.dumps(info), path=f"{API_PREFIX}/{MEDIA_ID}")
    fake_graph.queue(200, body, {"Content-Type": "image/jpeg"}, path=FILE_PATH)


def image_message() -> dict:
    return {"id": MEDIA_ID, "mime_type": "image/jpeg", "sha256": "not base64 of 32 bytes"}


def test_the_recorded_media_answer_is_read_with_its_size_given_as_a_string(fake_graph):
    fake_graph.replay("media_url.json", path=f"{API_PREFIX}/{MEDIA_ID}")
    info = client_for(fake_graph).media_info(MEDIA_ID)
    assert info.url.startswith("https://lookaside.fbsbx.com/")
    assert (info.mime_type, info.file_size) == ("image/jpeg", 303833)
    assert info.sha256 == "81d3bd8a8db4868c9520ed47186e8b7c5789e61ff79f7f834be6950b808a90d3"


def test_a_photo_is_kept_private_and_named_by_its_hash(fake_graph, tmp_path):
    serve(fake_graph)
    stored = media_store.fetch(client_for(fake_graph), "image", image_message(), tmp_path)
    path = tmp_path / hashlib.sha256(PHOTO).hexdigest()
    assert stored.name == path.name
    assert (stored.mime_type, stored.size) == ("image/jpeg", len(PHOTO))
    assert path.read_bytes() == PHOTO
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_both_media_calls_carry_the_access_token(fake_graph, tmp_path):
    serve(fake_graph)
    media_store.fetch(client_for(fake_graph), "image", image_message(), tmp_path)
    paths = [(r.path, r.headers.get("Authorization")) for r in fake_graph.requests]
    bearer = f"Bearer {TOKEN}"
    assert paths == [(f"{API_PREFIX}/{MEDIA_ID}", bearer), (FILE_PATH, bearer)]


def test_a_file_announced_too_large_is_not_downloaded(fake_graph, tmp_path):
    serve(fake_graph, file_size=str(5 * 2**20 + 1))
    with pytest.raises(MediaTooLarge, match="larger than 5 MB"):
        media_store.fetch(client_for(fake_graph), "image", image_message(), tmp_path)
    assert [r.path for r in fake_graph.requests] == [f"{API_PREFIX}/{MEDIA_ID}"]
    assert list(tmp_path.iterdir()) == []


def test_a_file_growing_past_its_limit_is_refused_while_streaming(fake_graph, tmp_path):
    line = b"x" * 65535 + b"\n"
    body = line * (5 * 16 + 1)  # just over 5 MB, sent chunked: no length announced
    info = {"url": fake_graph.url + FILE_PATH, "mime_type": "image/jpeg"}
    fake_graph.queue(200, json.dumps(info), path=f"{API_PREFIX}/{MEDIA_ID}")
    fake_graph.queue(200, body, {"Content-Type": "image/jpeg"}, path=FILE_PATH, trickle=0.0001)
    with pytest.raises(MediaTooLarge) as raised:
        media_store.fetch(client_for(fake_graph), "image", {"id": MEDIA_ID}, tmp_path)
    assert raised.value.kind is ErrorKind.WHATSAPP_REJECTED
    assert list(tmp_path.iterdir()) == []  # nor the partial download


def test_a_voice_note_may_be_larger_than_a_photo(fake_graph, tmp_path):
    note = b"OggS" + b"\x00" * (6 * 2**20)
    serve(fake_graph, body=note, mime_type="audio/ogg")
    stored = media_store.fetch(client_for(fake_graph), "audio", {"id": MEDIA_ID}, tmp_path)
    assert stored.size == len(note) and stored.mime_type == "audio/ogg"


def test_a_file_that_does_not_match_its_hash_is_refused(fake_graph, tmp_path):
    serve(fake_graph, sha256=hashlib.sha256(b"another file").hexdigest())
    with pytest.raises(WhatsAppError, match="does not match the sha256") as raised:
        media_store.fetch(client_for(fake_graph), "image", image_message(), tmp_path)
    assert raised.value.kind is ErrorKind.WHATSAPP_REJECTED
    assert list(tmp_path.iterdir()) == []


def test_the_webhooks_base64_hash_is_checked_when_graph_gives_none(fake_graph, tmp_path):
    info = {"url": fake_graph.url + FILE_PATH, "mime_type": "image/jpeg"}
    fake_graph.queue(200, json.dumps(info), path=f"{API_PREFIX}/{MEDIA_ID}")
    fake_graph.queue(200, PHOTO, {"Content-Type": "image/jpeg"}, path=FILE_PATH)
    wrong = {"id": MEDIA_ID, "sha256": "RZEEl5HVWT4S6C0PoOgjYCQVDWs5esIMJsjcDYI80ZE="}
    with pytest.raises(WhatsAppError, match="does not match the sha256"):
        media_store.fetch(client_for(fake_graph), "image", wrong, tmp_path)


def test_an_expired_media_id_says_so(fake_graph, tmp_path):
    gone = {"error": {"message": "Object does not exist", "type": "OAuthException", "code": 100}}
    fake_graph.queue(404, json.dumps(gone), path=f"{API_PREFIX}/{MEDIA_ID}")
    with pytest.raises(WhatsAppError, match="media IDs expire after 7 days") as raised:
        media_store.fetch(client_for(fake_graph), "image", image_message(), tmp_path)
    assert raised.value.kind is ErrorKind.WHATSAPP_REJECTED
    assert list(tmp_path.iterdir()) == []


def test_an_expired_token_is_a_token_problem_and_stays_hidden(fake_graph, tmp_path):
    body = fixture_bytes("send_error_190_token_expired.json").decode()
    fake_graph.queue(401, body.replace("}", f', "echo": "{TOKEN}"}}', 1))
    with pytest.raises(WhatsAppError) as raised:
        media_store.fetch(client_for(fake_graph), "image", image_message(), tmp_path)
    assert raised.value.kind is ErrorKind.WHATSAPP_AUTH
    assert TOKEN not in str(raised.value) + raised.value.raw_body


def test_an_expired_download_address_is_a_token_problem(fake_graph, tmp_path):
    serve(fake_graph)
    fake_graph.requests.clear()
    client = client_for(fake_graph)
    info = client.media_info(MEDIA_ID)
    fake_graph._queue.clear()  # the file is no longer served: the address expired
    fake_graph.queue(401, fixture_bytes("send_error_190_token_expired.json"), path=FILE_PATH)
    with pytest.raises(WhatsAppError) as raised:
        client.download(info.url, io.BytesIO(), 2**20)
    assert raised.value.kind is ErrorKind.WHATSAPP_AUTH


def test_the_token_is_not_sent_to_a_plain_http_address_elsewhere(fake_graph):
    with pytest.raises(WhatsAppError, match="not an https address"):
        client_for(fake_graph).download("http://files.example/photo", io.BytesIO(), 2**20)
    assert fake_graph.requests == []


def customer_with_photo(number: str, name: str, when=None) -> None:
    contact = Contact(customer_id=number, phone=number)
    db.session.add(contact)
    db.session.flush()
    message = Message(
        contact_id=contact.id, direction="in", author="customer", type="image", state="answered"
    )
    message.media_file, message.media_mime, message.media_size = name, "image/jpeg", 3
    message.created_at = when or utcnow()
    db.session.add(message)
    db.session.commit()
    path = media_store.folder() / name
    path.write_bytes(b"jpg")
    written = message.created_at.timestamp()  # the file came with its message
    os.utime(path, (written, written))


def test_forgetting_a_customer_deletes_their_files_but_not_a_shared_one(app):
    mine, shared = "a" * 64, "b" * 64
    with app.app_context():
        customer_with_photo("31600000001", mine)
        customer_with_photo("31600000002", shared)
        db.session.add(
            Message(
                contact_id=db.session.scalar(db.select(Contact.id).filter_by(phone="31600000001")),
                direction="in",
                author="customer",
                type="image",
                state="answered",
                media_file=shared,
            )
        )
        db.session.commit()
        assert contacts.forget("+31600000001")
        assert sorted(p.name for p in media_store.folder().iterdir()) == [shared]


def test_retention_deletes_the_files_of_old_messages(app):
    old, recent = "c" * 64, "d" * 64
    with app.app_context():
        customer_with_photo("31600000003", old, when=utcnow() - timedelta(days=40))
        customer_with_photo("31600000004", recent)
        settings.save({"retention_days": "30"}, author="test")
        assert retention.purge()["messages"] == 1
        assert sorted(p.name for p in media_store.folder().iterdir()) == [recent]


def test_what_a_crash_left_in_the_media_folder_goes_after_an_hour(app):
    kept, orphan = "e" * 64, "f" * 64
    with app.app_context():
        customer_with_photo("31600000005", kept)
        folder = media_store.folder()
        (folder / orphan).write_bytes(b"no message refers to me")
        (folder / ".part-x1y2").write_bytes(b"half a download")
        assert media_store.sweep_left_over() == 0  # young: may belong to a turn still running
        an_hour_later = time.time() + media_store.LEFT_OVER_SECONDS + 1
        assert media_store.sweep_left_over(an_hour_later) == 2
        assert [p.name for p in folder.iterdir()] == [kept]

"""Customers' photos, voice notes, stickers and documents, end to end: a signed webhook → the
real worker → the fake Graph API serving the file → fake OpenRouter transcribing and answering
→ the reply sent. The fakes check the access token and which models saw images."""

import base64
import hashlib
import json
import stat
import threading
import time
from pathlib import Path

from sqlalchemy import select

from tests.conftest import as_recorded, post_webhook, wait_for
from tests.support.fake_graph import API_PREFIX
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import delivery, fixture, pdf_bytes, text_message
from webapp import catalog, catalog_data, contacts, media_store, settings
from webapp.extensions import db
from webapp.models import Message, RequestLog

TOKEN = "EAAG-test-access-token"  # the `whatsapp` fixture's
CUSTOMER = "49123456789"  # the sender of the recorded image, and of the voice note written like it
PHOTO = b"\xff\xd8\xff\xe0" + b"a small photo of a broken hinge " * 40
VOICE = b"OggS\x00\x02" + b"opus frames of a 30 second voice note " * 50
TRANSCRIPT = "Hi, do you have the blue sofa in stock? I'd like to pick it up on Saturday."
TRANSCRIBE_PATH = "/api/v1/audio/transcriptions"


def setup(app, fake_graph, name: str, body: bytes, **answers) -> dict:
    """Configure for the recorded delivery `name` and host its message's file; the message."""
    as_recorded(app, name)
    fake_graph.token = TOKEN
    message = json.loads(fixture(name))["entry"][0]["changes"][0]["value"]["messages"][0]
    part = message[message["type"]]
    fake_graph.host_media(part["id"], body, part["mime_type"].replace("\\/", "/"), **answers)
    with app.app_context():
        catalog_data.store(json.loads(fixture_or("models_list_excerpt.json"))["data"])
    return message


def post(client, app, *messages: dict):
    """A delivery of `messages` to the number configured now (a recorded one's, after setup)."""
    body = delivery(*messages)
    with app.app_context():
        number = settings.get("whatsapp_phone_number_id")
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = number
    return post_webhook(client, body)


def fixture_or(name: str) -> bytes:
    return (Path(__file__).parent / "fixtures" / "openrouter" / name).read_bytes()


def chats(fake_openrouter) -> list[dict]:
    return [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]


def inbound(app) -> Message:
    with app.app_context():
        row = db.session.scalars(select(Message).where(Message.direction == "in")).one()
        db.session.expunge(row)
        return row


def answered(app) -> bool:
    return inbound(app).state not in ("received", "processing")


def log_rows(app, **where) -> list[RequestLog]:
    with app.app_context():
        rows = db.session.scalars(select(RequestLog).filter_by(**where).order_by(RequestLog.id))
        rows = rows.all()
        db.session.expunge_all()
        return rows


def make_default(app, model_id: str, others: str = catalog.AVAILABLE) -> None:
    """`model_id` the default, and every other model of the table `others`."""
    with app.app_context():
        catalog.make_default(model_id)
        for row in catalog.all_models():
            if row.model_id != model_id:
                catalog.set_role(row.model_id, others)


def test_a_voice_note_is_heard_answered_and_remembered_as_its_transcript(
    client, whatsapp, worker, fake_openrouter, fake_graph, admin
):
    setup(whatsapp, fake_graph, "audio_voice_note.json", VOICE)
    fake_openrouter.transcribes(TRANSCRIPT, cost=0.0006, seconds=30)
    fake_openrouter.reply("Yes, the blue sofa is in stock. See you Saturday!")
    assert post_webhook(client, fixture("audio_voice_note.json")).status_code == 200
    wait_for(lambda: fake_graph.sent_texts())
    [sent] = fake_graph.sent_texts()
    assert sent[1] == "Yes, the blue sofa is in stock. See you Saturday!"

    # The file was fetched with the token, both calls; stored private, named by its hash.
    assert [auth for _, auth in fake_graph.media_requests()] == [f"Bearer {TOKEN}"] * 2
    row = inbound(whatsapp)
    assert row.media_file == hashlib.sha256(VOICE).hexdigest()
    assert row.media_text == TRANSCRIPT and row.media_mime == "audio/ogg; codecs=opus"
    with whatsapp.app_context():
        path = media_store.folder() / row.media_file
        assert path.read_bytes() == VOICE and stat.S_IMODE(path.stat().st_mode) == 0o600

    # The speech-to-text call got the audio itself, in its format, from the chosen model.
    [stt] = [r.json() for r in fake_openrouter.requests if r.path == TRANSCRIBE_PATH]
    assert stt["model"] == "openai/whisper-1" and stt["input_audio"]["format"] == "ogg"
    assert base64.b64decode(stt["input_audio"]["data"]) == VOICE
    [chat] = chats(fake_openrouter)
    assert chat["messages"][-1] == {"role": "user", "content": f"[Voice note] {TRANSCRIPT}"}

    # Each call is a log row the owner sees, the transcription with its cost.
    [fetched] = log_rows(whatsapp, operation="media")
    assert (fetched.status, fetched.upstream, fetched.message_id) == ("ok", "whatsapp", row.id)
    [heard] = log_rows(whatsapp, operation="transcription")
    assert (heard.status, heard.model_requested, heard.cost) == ("ok", "openai/whisper-1", 0.0006)
    assert base64.b64encode(VOICE[:30]).decode()[:20] not in (heard.request_body or "")
    detail = admin.get(f"/admin/logs/{heard.id}").get_data(as_text=True)
    assert f"[Voice note] {TRANSCRIPT}".replace("'", "&#39;") in detail
    assert f"/admin/media/{row.id}" in detail  # the voice note itself, one click away

    # The next turn remembers what was said, not the audio.
    fake_openrouter.reply("You're welcome.")
    post(client, whatsapp, text_message(CUSTOMER, "thanks!"))
    wait_for(lambda: len(fake_graph.sent_texts()) == 2)
    remembered = chats(fake_openrouter)[-1]["messages"]
    assert {"role": "user", "content": f"[Voice note] {TRANSCRIPT}"} in remembered


def test_a_photo_with_its_caption_goes_to_the_default_model_that_can_see_it(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    setup(whatsapp, fake_graph, "image.json", PHOTO)
    fake_openrouter.reply("That looks like a cracked hinge; we have spares.")
    post_webhook(client, fixture("image.json"))
    wait_for(lambda: fake_graph.sent_texts())
    [chat] = chats(fake_openrouter)
    assert chat["model"] == "openai/gpt-4o-mini"  # the default, which reads images
    parts = chat["messages"][-1]["content"]
    data = "data:image/jpeg;base64," + base64.b64encode(PHOTO).decode()
    assert parts == [
        {"type": "text", "text": "[Photo]\nSome awesome image"},
        {"type": "image_url", "image_url": {"url": data}},
    ]
    # The log keeps a note of the photo, never its bytes.
    [row] = log_rows(whatsapp, operation=None, upstream="openrouter")
    assert data[:60] not in row.request_body and "image/jpeg" in row.request_body

    # Later turns remember that a photo came, as words.
    fake_openrouter.reply("Anything else?")
    post(client, whatsapp, text_message(CUSTOMER, "how much is a spare?"))
    wait_for(lambda: len(fake_graph.sent_texts()) == 2)
    later = chats(fake_openrouter)[-1]
    assert {"role": "user", "content": "[Photo] Some awesome image"} in later["messages"]
    assert "base64" not in json.dumps(later)


def test_a_photo_without_caption_goes_to_an_image_model_when_the_default_cannot_see(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    message = setup(whatsapp, fake_graph, "image.json", PHOTO)
    del message["image"]["caption"]
    # Llama as the table has it is not in the catalog: a model not listed counts as text-only.
    llama, gemini = "meta-llama/llama-3.3-70b-instruct", "google/gemini-2.5-flash"
    make_default(whatsapp, llama, catalog.DISABLED)
    with whatsapp.app_context():
        catalog.add(gemini)  # available: never a fallback, but the model for photos
    fake_openrouter.reply("A cracked hinge, I see.", model=gemini)
    post(client, whatsapp, message)
    wait_for(lambda: fake_graph.sent_texts())
    [chat] = chats(fake_openrouter)
    assert chat["model"] == gemini and chat.get("models", []) == []
    assert [p["type"] for p in chat["messages"][-1]["content"]] == ["text", "image_url"]
    assert fake_openrouter.images_sent_to == [gemini]  # the fake refuses them elsewhere
    assert fake_graph.sent_texts()[0][1] == "A cracked hinge, I see."


def test_with_no_model_that_can_see_a_photo_the_customer_gets_the_non_text_reply(
    client, whatsapp, worker, fake_openrouter, fake_graph, admin
):
    message = setup(whatsapp, fake_graph, "image.json", PHOTO)
    del message["image"]["caption"]
    make_default(whatsapp, "meta-llama/llama-3.3-70b-instruct", catalog.DISABLED)
    with whatsapp.app_context():
        settings.save({"non_text_reply": "Please describe it in words."}, author="test")
    post(client, whatsapp, message)
    wait_for(lambda: fake_graph.sent_texts())
    assert [body for _, body, _ in fake_graph.sent_texts()] == ["Please describe it in words."]
    assert chats(fake_openrouter) == []
    suggestion = "Customers send photos: add a model that can see them"
    assert suggestion in admin.get("/admin/").get_data(as_text=True)
    make_default(whatsapp, "openai/gpt-4o-mini")  # one that can see images
    assert suggestion not in admin.get("/admin/").get_data(as_text=True)


def test_image_model_off_answers_a_captioned_photo_from_its_caption_and_says_so(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    setup(whatsapp, fake_graph, "image.json", PHOTO)
    with whatsapp.app_context():
        settings.save({"image_model": "off"}, author="test")
    fake_openrouter.echo()
    post_webhook(client, fixture("image.json"))
    wait_for(lambda: fake_graph.sent_texts())
    [chat] = chats(fake_openrouter)
    assert chat["messages"][-1]["content"] == "[A photo you cannot see]\nSome awesome image"


def test_a_sticker_gets_no_model_call_and_the_sticker_reply(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    setup(whatsapp, fake_graph, "sticker.json", b"RIFF\x00\x00WEBPVP8 a sticker")
    with whatsapp.app_context():
        settings.save({"sticker_reply": "👍"}, author="test")
    post_webhook(client, fixture("sticker.json"))
    wait_for(lambda: fake_graph.sent_texts())
    assert [body for _, body, _ in fake_graph.sent_texts()] == ["👍"]
    assert chats(fake_openrouter) == []
    assert inbound(whatsapp).media_file  # kept, so the owner sees which sticker it was


def test_a_sticker_with_no_sticker_reply_is_left_unanswered(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    setup(whatsapp, fake_graph, "sticker.json", b"RIFF\x00\x00WEBPVP8 a sticker")
    post_webhook(client, fixture("sticker.json"))
    wait_for(lambda: answered(whatsapp))
    assert fake_graph.sent_texts() == [] and chats(fake_openrouter) == []


def test_a_pdf_is_read_like_a_long_message(client, whatsapp, worker, fake_openrouter, fake_graph):
    pdf = pdf_bytes(["Invoice 2291", "Sofa, blue: 899.00"])
    message = setup(whatsapp, fake_graph, "document.json", pdf)
    message["document"].update(filename="invoice-2291.pdf", mime_type="application/pdf")
    fake_graph.host_media(message["document"]["id"], pdf, "application/pdf")
    fake_openrouter.echo()
    post(client, whatsapp, message)
    wait_for(lambda: fake_graph.sent_texts())
    [chat] = chats(fake_openrouter)
    content = chat["messages"][-1]["content"]
    assert content.startswith("[Document: invoice-2291.pdf]\nRESTFB ANNIVERSARY\n")
    assert "Invoice 2291" in content
    assert inbound(whatsapp).media_name == "invoice-2291.pdf"


def test_a_video_or_other_document_gets_the_non_text_reply_unless_it_has_a_caption(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    setup(whatsapp, fake_graph, "video.json", b"\x00\x00\x00\x18ftypmp42 a video")
    fake_openrouter.echo()
    post_webhook(client, fixture("video.json"))
    wait_for(lambda: fake_graph.sent_texts())
    [chat] = chats(fake_openrouter)  # the caption is read, and the model told of the video
    assert chat["messages"][-1]["content"] == "[A video you cannot see]\ncaption"


def test_an_expired_media_id_is_logged_with_its_hint_and_gets_the_non_text_reply(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    message = setup(whatsapp, fake_graph, "image.json", PHOTO)
    del message["image"]["caption"]
    fake_graph.media.clear()  # Graph no longer knows the id
    post(client, whatsapp, message)
    wait_for(lambda: fake_graph.sent_texts())
    assert fake_graph.sent_texts()[0][1].startswith("Sorry, I can only read")
    [row] = log_rows(whatsapp, operation="media")
    assert (row.status, row.error_kind, row.http_status) == ("error", "whatsapp_rejected", 404)
    assert "media IDs expire after 7 days" in row.error_message
    wait_for(lambda: answered(whatsapp))
    assert inbound(whatsapp).state == "answered" and inbound(whatsapp).media_file is None


def test_an_expired_token_stops_the_download_with_whatsapp_auth(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    setup(whatsapp, fake_graph, "image.json", PHOTO)
    fake_graph.token = "EAAG-a-newer-token"
    fake_openrouter.echo()
    post_webhook(client, fixture("image.json"))
    wait_for(lambda: answered(whatsapp))
    [row] = log_rows(whatsapp, operation="media")
    assert (row.error_kind, row.http_status) == ("whatsapp_auth", 401)
    assert [p for p, _ in fake_graph.media_requests()] == ["/v25.0/400962571939895"]


def test_an_oversized_photo_is_refused_before_download(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    big = b"\xff\xd8" + b"x" * (5 * 2**20)
    setup(whatsapp, fake_graph, "image.json", big)
    fake_openrouter.echo()
    post_webhook(client, fixture("image.json"))
    wait_for(lambda: fake_graph.sent_texts())
    [row] = log_rows(whatsapp, operation="media")
    assert row.error_kind == "whatsapp_rejected" and "larger than 5 MB" in row.error_message
    assert len(fake_graph.media_requests()) == 1  # the file itself was never asked for
    with whatsapp.app_context():
        assert list(media_store.folder().iterdir()) == []


def test_a_file_that_does_not_match_its_hash_is_not_kept(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    setup(whatsapp, fake_graph, "image.json", PHOTO, sha256="0" * 64)
    fake_openrouter.echo()
    post_webhook(client, fixture("image.json"))
    wait_for(lambda: fake_graph.sent_texts())
    [row] = log_rows(whatsapp, operation="media")
    assert "does not match the sha256" in row.error_message
    assert inbound(whatsapp).media_file is None
    with whatsapp.app_context():
        assert list(media_store.folder().iterdir()) == []


def test_a_failed_transcription_is_logged_and_the_voice_note_gets_the_non_text_reply(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    setup(whatsapp, fake_graph, "audio_voice_note.json", VOICE)
    fake_openrouter.replay("error_402_requires_more_credits.json", 402, path=TRANSCRIBE_PATH)
    post_webhook(client, fixture("audio_voice_note.json"))
    wait_for(lambda: fake_graph.sent_texts())
    assert fake_graph.sent_texts()[0][1].startswith("Sorry, I can only read")
    [row] = log_rows(whatsapp, operation="transcription")
    assert (row.status, row.error_kind) == ("error", "no_credits")
    assert chats(fake_openrouter) == []


def test_a_run_after_a_failure_uses_the_file_and_transcript_it_already_has(
    client, whatsapp, worker, fake_openrouter, fake_graph, monkeypatch
):
    from webapp.replies import pipeline

    setup(whatsapp, fake_graph, "audio_voice_note.json", VOICE)
    fake_openrouter.transcribes(TRANSCRIPT)
    fake_openrouter.echo()
    real, runs = pipeline.reply_for, []

    def broken_once(*args, **kwargs):
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("a bug, for once")
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "reply_for", broken_once)
    post_webhook(client, fixture("audio_voice_note.json"))
    wait_for(lambda: fake_graph.sent_texts())
    assert len(runs) == 2
    assert fake_graph.sent_texts()[0][1] == f"echo: [Voice note] {TRANSCRIPT}"
    assert len(fake_graph.media_requests()) == 2  # the file's address and the file, once
    assert len([r for r in fake_openrouter.requests if r.path == TRANSCRIBE_PATH]) == 1


def photo_from(customer: str, number: int) -> dict:
    message = json.loads(fixture("image.json"))["entry"][0]["changes"][0]["value"]["messages"][0]
    return message | {"from": customer, "id": f"wamid.PHOTO{number}"}


def test_no_more_photo_turns_than_their_places_hold_photos_at_once(
    client, whatsapp, worker, fake_openrouter, fake_graph, monkeypatch
):
    from webapp.replies import media

    setup(whatsapp, fake_graph, "image.json", PHOTO)
    monkeypatch.setattr(media, "_photo_turns", threading.BoundedSemaphore(2))
    fake_openrouter.echo(delay=0.4)
    customers = [f"4915100000{n:02d}" for n in range(5)]
    post(client, whatsapp, *[photo_from(c, n) for n, c in enumerate(customers)])
    wait_for(lambda: len(fake_graph.sent_texts()) == 5)
    arrivals = sorted(r.at for r in fake_openrouter.requests if r.path == CHAT_PATH)
    assert len(arrivals) == 5
    # With two places, a third photo reaches the model only once a first one was answered.
    assert all(arrivals[i + 2] - arrivals[i] >= 0.35 for i in range(3))


def test_a_photo_that_finds_no_place_in_time_is_answered_unseen_and_logged(
    client, whatsapp, worker, fake_openrouter, fake_graph, monkeypatch
):
    from webapp.replies import media

    setup(whatsapp, fake_graph, "image.json", PHOTO)
    monkeypatch.setattr(media, "_photo_turns", threading.BoundedSemaphore(1))
    monkeypatch.setattr(media, "SEND_MARGIN", 10_000.0)  # no time to wait for a place
    fake_openrouter.echo(delay=1.0)
    post(client, whatsapp, photo_from("491510000001", 1), photo_from("491510000002", 2))
    wait_for(lambda: len(fake_graph.sent_texts()) == 2)
    contents = sorted(json.dumps(c["messages"][-1]["content"]) for c in chats(fake_openrouter))
    assert "image_url" in contents[1] and "[A photo you cannot see]" in contents[0]
    [crowded] = [r for r in log_rows(whatsapp) if r.upstream == "switchboard"]
    assert crowded.error_kind == "timeout" and "answered without the model seeing it" in (
        crowded.error_message
    )


def test_a_paused_customers_photo_is_fetched_for_the_person_answering_but_not_answered(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    setup(whatsapp, fake_graph, "image.json", PHOTO)
    with whatsapp.app_context():
        settings.save({"mark_read": "on", "merge_window_seconds": "1"}, author="test")
        contacts.set_paused(CUSTOMER, True)
    post_webhook(client, fixture("image.json"))
    wait_for(lambda: inbound(whatsapp).state == "paused")
    assert inbound(whatsapp).media_file == hashlib.sha256(PHOTO).hexdigest()
    assert chats(fake_openrouter) == []
    posted = [r for r, _ in fake_graph.answered if r.method == "POST"]
    assert posted == []  # no reply, no read receipt, no "typing…" for a conversation taken over


def test_a_photo_whose_download_hangs_still_gets_the_fallback_within_answer_within(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    """The turn's one deadline covers the wait for a burst, the file, the model and the send:
    a Graph that never hands over the photo's address cannot push the answer past it."""
    message = setup(whatsapp, fake_graph, "image.json", PHOTO)
    with whatsapp.app_context():
        settings.save({"answer_within_seconds": "10", "merge_window_seconds": "2"}, author="t")
    fake_graph.queue(delay=60, path=f"{API_PREFIX}/{message['image']['id']}")  # hangs
    fake_openrouter.echo()
    started = time.monotonic()
    post(client, whatsapp, message)
    wait_for(lambda: fake_graph.sent_texts(), timeout=20)
    assert time.monotonic() - started < 10.5
    [(_, body, _)] = fake_graph.sent_texts()
    with whatsapp.app_context():
        assert body == settings.get("fallback_reply")
    assert chats(fake_openrouter) == []  # no time was left to ask a model
    wait_for(lambda: answered(whatsapp))
    assert inbound(whatsapp).state == "failed"
    [media_row] = log_rows(whatsapp, operation="media")
    assert media_row.error_kind == "timeout" or media_row.error_kind.startswith("whatsapp")

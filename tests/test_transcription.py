"""Voice notes to text: the call to OpenRouter against a loopback fake, and how it is logged."""

import base64
import json

import pytest
from sqlalchemy import select

from tests.support.fakes import TRANSCRIPTION_PATH
from webapp.clients.openrouter import OpenRouterClient, audio_format, transcription_body
from webapp.clients.openrouter_errors import OpenRouterError
from webapp.extensions import db
from webapp.models import RequestLog
from webapp.requestlog import Origin, add_error, insert, transcription_ok
from webapp.troubleshooting import ErrorKind

API_KEY = "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef"
MODEL = "openai/whisper-1"
VOICE_NOTE = b"OggS\x00\x02" + bytes(range(256)) * 190  # about 48 kB, not valid UTF-8


@pytest.fixture
def openrouter(fake_openrouter):
    return OpenRouterClient(
        API_KEY, fake_openrouter.base_url, timeout=5, app_url="https://shop.example"
    )


def failure(action) -> OpenRouterError:
    with pytest.raises(OpenRouterError) as caught:
        action()
    return caught.value


def test_a_voice_note_comes_back_as_text_with_its_cost_and_length(openrouter, fake_openrouter):
    fake_openrouter.transcribes("Is the shop open on Sunday?", cost=0.0002, seconds=12)

    transcript = openrouter.transcribe(VOICE_NOTE, "ogg", MODEL)

    assert transcript.text == "Is the shop open on Sunday?"
    assert (transcript.model, transcript.cost, transcript.seconds) == (MODEL, 0.0002, 12)
    assert transcript.latency_ms >= 0
    assert transcript.raw["usage"] == {"cost": 0.0002, "seconds": 12}


def test_the_audio_is_sent_as_bare_base64_in_json_with_the_key_and_app_name(
    openrouter, fake_openrouter
):
    fake_openrouter.transcribes("hello")

    openrouter.transcribe(VOICE_NOTE, "ogg", MODEL)

    [request] = fake_openrouter.requests
    assert (request.method, request.path) == ("POST", TRANSCRIPTION_PATH)
    assert request.headers["Content-Type"].startswith("application/json")
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["X-Title"] == "Switchboard"
    assert request.headers["HTTP-Referer"] == "https://shop.example"
    assert request.json() == {
        "model": MODEL,
        "input_audio": {"data": base64.b64encode(VOICE_NOTE).decode(), "format": "ogg"},
    }


@pytest.mark.parametrize(
    "usage, cost, seconds",
    [
        ({"cost": 0.0001, "seconds": 3.5}, 0.0001, 3.5),
        (
            {"cost": 0.00003, "total_tokens": 90, "input_tokens": 80, "output_tokens": 10},
            3e-05,
            None,
        ),
        (None, None, None),
    ],
    ids=["seconds", "tokens", "no usage"],
)
def test_either_kind_of_usage_or_none_is_accepted(
    openrouter, fake_openrouter, usage, cost, seconds
):
    body = {"text": "hello"} | ({"usage": usage} if usage else {})
    fake_openrouter.queue(body=body, path=TRANSCRIPTION_PATH)

    transcript = openrouter.transcribe(VOICE_NOTE, "ogg", MODEL)

    assert (transcript.text, transcript.cost, transcript.seconds) == ("hello", cost, seconds)


@pytest.mark.parametrize(
    "fixture, status, kind",
    [
        ("error_401_user_not_found.json", 401, ErrorKind.INVALID_KEY),
        ("error_402_requires_more_credits.json", 402, ErrorKind.NO_CREDITS),
        ("error_429_upstream_rate_limited.json", 429, ErrorKind.RATE_LIMITED),
        ("doc_error_502_provider_returned_error.json", 502, ErrorKind.UPSTREAM_UNAVAILABLE),
        ("doc_error_503_service_unavailable.json", 503, ErrorKind.UPSTREAM_UNAVAILABLE),
    ],
)
def test_a_refused_transcription_has_the_same_kind_as_a_refused_chat(
    openrouter, fake_openrouter, fixture, status, kind
):
    fake_openrouter.transcribes("never heard")
    fake_openrouter.replay(fixture, status, path=TRANSCRIPTION_PATH)

    error = failure(lambda: openrouter.transcribe(VOICE_NOTE, "ogg", MODEL))

    assert (error.kind, error.http_status) == (kind, status)


def test_a_key_echoed_in_an_error_is_hidden(openrouter, fake_openrouter):
    echoed = {"error": {"message": f"Invalid key {API_KEY}", "code": 401}}
    fake_openrouter.queue(401, echoed, path=TRANSCRIPTION_PATH)

    error = failure(lambda: openrouter.transcribe(VOICE_NOTE, "ogg", MODEL))

    assert error.kind is ErrorKind.INVALID_KEY
    assert API_KEY not in f"{error} {error.raw_body}"
    assert "[key hidden]" in error.message


@pytest.mark.parametrize("body", [{"usage": {"cost": 0.0001}}, {"text": None}, {"text": 42}])
def test_an_answer_without_text_is_a_bad_response(openrouter, fake_openrouter, body):
    fake_openrouter.queue(body=body, path=TRANSCRIPTION_PATH)

    error = failure(lambda: openrouter.transcribe(VOICE_NOTE, "ogg", MODEL))

    assert error.kind is ErrorKind.BAD_RESPONSE
    assert "no 'text'" in error.message


def test_a_slow_transcription_times_out_after_the_time_asked(openrouter, fake_openrouter):
    fake_openrouter.transcribes("too late", delay=3)

    error = failure(lambda: openrouter.transcribe(VOICE_NOTE, "ogg", MODEL, timeout=0.3))

    assert error.kind is ErrorKind.TIMEOUT


def test_audio_sent_as_a_data_url_is_refused_as_a_bad_request(openrouter, fake_openrouter):
    fake_openrouter.transcribes("never heard")
    body = transcription_body(VOICE_NOTE, "ogg", MODEL)
    body["input_audio"]["data"] = "data:audio/ogg;base64," + body["input_audio"]["data"]

    error = failure(lambda: openrouter.send_transcription(body))

    assert (error.kind, error.http_status) == (ErrorKind.BAD_REQUEST, 400)
    assert "base64" in error.message


@pytest.mark.parametrize(
    "mime, expected",
    [
        ("audio/ogg; codecs=opus", "ogg"),
        ("audio/mpeg", "mp3"),
        ("audio/mp4", "m4a"),
        ("audio/aac", "aac"),
        ("audio/amr", "amr"),
        ("audio/wav", "wav"),
        ("audio/x-wav", "wav"),
        ("audio/webm", "webm"),
        ("audio/flac", "flac"),
        ("AUDIO/OGG", "ogg"),
        (None, "ogg"),
        ("", "ogg"),
    ],
)
def test_audio_format_names_what_the_transcription_api_expects(mime, expected):
    assert audio_format(mime) == expected


def logged(app) -> RequestLog:
    with app.app_context():
        return db.session.scalars(select(RequestLog)).one()


def test_a_transcription_is_logged_with_a_note_of_the_audio_never_its_bytes(
    app, openrouter, fake_openrouter
):
    fake_openrouter.transcribes("Is the shop open on Sunday?", cost=0.0002)
    body = transcription_body(VOICE_NOTE, "ogg", MODEL)
    transcript = openrouter.send_transcription(body)

    with app.app_context():
        insert(transcription_ok(Origin("whatsapp"), 1, body, transcript))
        db.session.commit()

    row = logged(app)
    assert (row.operation, row.upstream, row.status) == ("transcription", "openrouter", "ok")
    assert (row.model_requested, row.model_used, row.cost) == (MODEL, MODEL, 0.0002)
    assert body["input_audio"]["data"][:100] not in row.request_body
    assert json.loads(row.request_body)["input_audio"] == {
        "data": "<ogg audio, 49 kB>",
        "format": "ogg",
    }
    assert "Is the shop open on Sunday?" in row.response_body


def test_a_failed_transcription_is_logged_with_its_kind_and_no_audio(
    app, openrouter, fake_openrouter
):
    fake_openrouter.replay("error_402_requires_more_credits.json", 402, path=TRANSCRIPTION_PATH)
    body = transcription_body(VOICE_NOTE, "ogg", MODEL)
    error = failure(lambda: openrouter.send_transcription(body))

    with app.app_context():
        add_error(
            Origin("whatsapp"),
            1,
            error,
            upstream="openrouter",
            body=body,
            operation="transcription",
        )
        db.session.commit()

    row = logged(app)
    assert (row.operation, row.status, row.error_kind) == ("transcription", "error", "no_credits")
    assert row.model_requested == MODEL
    assert body["input_audio"]["data"][:100] not in row.request_body
    assert "<ogg audio, 49 kB>" in row.request_body

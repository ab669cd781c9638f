"""Photos in a chat: the fake refuses them to models that cannot see, as OpenRouter does, and
the log keeps a note of a photo instead of its bytes."""

import base64
import json

import pytest
from sqlalchemy import select

from tests.support.fakes import NO_IMAGE_ENDPOINTS
from webapp.clients.openrouter import OpenRouterClient, chat_body
from webapp.clients.openrouter_errors import OpenRouterError
from webapp.extensions import db
from webapp.models import RequestLog
from webapp.requestlog import Origin, insert, model_ok

TEXT_ONLY = "meta-llama/llama-3.3-70b-instruct:free"
SEEING = "openai/gpt-4o-mini"
PHOTO = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(123_000)).decode()
WITH_PHOTO = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "Is this the right part?"},
            {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PHOTO}"}},
        ],
    }
]


@pytest.fixture
def openrouter(fake_openrouter):
    return OpenRouterClient("sk-or-v1-test-key-0123456789", fake_openrouter.base_url, timeout=5)


def test_a_model_that_cannot_see_is_refused_a_photo_with_openrouters_404(
    openrouter, fake_openrouter
):
    fake_openrouter.reply("It is")

    with pytest.raises(OpenRouterError) as caught:
        openrouter.chat(WITH_PHOTO, TEXT_ONLY)

    assert caught.value.http_status == 404
    assert NO_IMAGE_ENDPOINTS in caught.value.message
    assert fake_openrouter.images_sent_to == [TEXT_ONLY]


def test_a_model_that_sees_gets_the_photo(openrouter, fake_openrouter):
    fake_openrouter.reply("Yes, that is the part", model=SEEING)

    assert openrouter.chat(WITH_PHOTO, SEEING).content == "Yes, that is the part"
    assert fake_openrouter.images_sent_to == [SEEING]


def test_a_route_with_one_model_that_cannot_see_is_refused(openrouter, fake_openrouter):
    fake_openrouter.reply("Yes")

    with pytest.raises(OpenRouterError) as caught:
        openrouter.chat(WITH_PHOTO, SEEING, fallbacks=[TEXT_ONLY])

    assert caught.value.http_status == 404
    assert fake_openrouter.images_sent_to == [SEEING, TEXT_ONLY]


def test_a_chat_without_a_photo_goes_to_any_model(openrouter, fake_openrouter):
    fake_openrouter.reply("Hello", model=TEXT_ONLY)

    assert openrouter.chat([{"role": "user", "content": "Hi"}], TEXT_ONLY).content == "Hello"
    assert fake_openrouter.images_sent_to == []


def test_a_logged_chat_keeps_a_note_of_its_photo_never_the_photo(app, openrouter, fake_openrouter):
    fake_openrouter.reply("Yes", model=SEEING)
    body = chat_body(WITH_PHOTO, SEEING)
    result = openrouter.send_chat(body)

    with app.app_context():
        insert(model_ok(Origin("whatsapp"), 1, body, result))
        db.session.commit()
        row = db.session.scalars(select(RequestLog)).one()

    assert PHOTO[:100] not in row.request_body
    [text, photo] = json.loads(row.request_body)["messages"][0]["content"]
    assert text["text"] == "Is this the right part?"
    assert photo["image_url"]["url"] == "data:image/jpeg;base64,… (124 kB)"

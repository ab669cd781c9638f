"""Photos through the flow endpoint: routed to a model that can see them, checked, and kept in
the customer's conversation like a photo sent over WhatsApp."""

import hashlib
import json
import socket
import stat

import pytest

from tests.support.fakes import fixture_bytes
from tests.support.flows import CUSTOMER, model_requests, rows
from webapp import catalog, catalog_data, content, media_store
from webapp.models import Message

PHOTO = b"\xff\xd8\xff\xe0" + b"a small photo of a broken hinge " * 40
DATA_URL = content.data_url("image/jpeg", PHOTO)
GEMINI, LLAMA = "google/gemini-2.5-flash", "meta-llama/llama-3.3-70b-instruct"


def photo_body(url: str = DATA_URL, **fields) -> dict:
    parts = [{"type": "text", "text": "What is broken here?"},
             {"type": "image_url", "image_url": {"url": url}}]  # fmt: skip
    return {"messages": [{"role": "user", "content": parts}], **fields}


@pytest.fixture
def flow(request):
    """The flow tests' `ask`: POST a body to the flow endpoint with a flow key."""
    return request.getfixturevalue("ask")


@pytest.fixture
def catalog_known(whatsapp):
    """The catalog's listings are known, so Switchboard knows which models see images."""
    with whatsapp.app_context():
        catalog_data.store(json.loads(fixture_bytes("models_list_excerpt.json"))["data"])
    return whatsapp


def only_text_models(app) -> None:
    """Llama, which reads only text, is the default and every other model is disabled."""
    with app.app_context():
        catalog.make_default(LLAMA)
        for row in catalog.all_models():
            if row.model_id != LLAMA:
                catalog.set_role(row.model_id, catalog.DISABLED)


def test_a_photo_with_no_model_named_goes_to_a_model_that_can_see_it(
    flow, catalog_known, fake_openrouter
):
    only_text_models(catalog_known)
    with catalog_known.app_context():
        catalog.add(GEMINI)  # offered to flows, no fallback
    fake_openrouter.reply("A cracked hinge.", model=GEMINI)
    response = flow(photo_body(model="default"))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["choices"][0]["message"]["content"] == "A cracked hinge."
    [sent] = model_requests(fake_openrouter)
    assert sent["model"] == GEMINI and not sent.get("models")  # not llama, not its fallbacks
    assert sent["messages"][-1] == photo_body()["messages"][0]


def test_a_photo_with_a_named_model_is_sent_to_that_model(flow, catalog_known, fake_openrouter):
    only_text_models(catalog_known)
    response = flow(photo_body(model=LLAMA))
    [sent] = model_requests(fake_openrouter)
    assert sent["model"] == LLAMA and sent["messages"][-1]["content"][1]["type"] == "image_url"
    # A text-only model is refused by OpenRouter, and the flow hears it in OpenRouter's words.
    assert response.status_code == 404
    assert "support image input" in response.get_json()["error"]["message"]


def test_a_photo_with_no_model_that_can_see_it_is_a_404_with_a_hint(
    flow, catalog_known, fake_openrouter
):
    only_text_models(catalog_known)
    response = flow(photo_body())
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["kind"] == "model_not_found"
    assert "no model offered to flows can see images" in error["message"]
    assert "google/gemini-2.5-flash" in error["hint"] and "Models page" in error["hint"]
    assert model_requests(fake_openrouter) == []


@pytest.mark.parametrize(
    ("part", "words"),
    [
        ({"type": "image_url", "image_url": "https://example.com/a.jpg"}, "image part must read"),
        ({"type": "image_url", "image_url": {"url": "http://example.com/a.jpg"}}, "https address"),
        ({"type": "image_url", "image_url": {"url": "data:image/bmp;base64,Qk0="}}, "png, webp"),
        ({"type": "image_url", "image_url": {"url": "data:image/png;base64,%%%"}}, "not valid"),
    ],
    ids=["url-not-an-object", "http", "bmp", "bad-base64"],
)
def test_a_bad_image_part_is_a_400_naming_its_message(flow, whatsapp, fake_openrouter, part, words):
    asked = {"role": "user", "content": [{"type": "text", "text": "Hi"}, part]}
    body = {"messages": [{"role": "system", "content": "Be brief."}, asked]}
    response = flow(body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["kind"] == "bad_request" and error["message"].startswith("messages[1]: ")
    assert words in error["message"]
    assert model_requests(fake_openrouter) == []


def test_a_photo_over_five_megabytes_is_a_400(flow, fake_openrouter):
    big = content.data_url("image/png", b"\x89PNG" + bytes(5 * media_store.MB))
    response = flow(photo_body(big))
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == (
        "messages[0]: the photo is larger than 5 MB."
    )
    assert model_requests(fake_openrouter) == []


def test_the_customers_question_keeps_the_photo_private_like_a_whatsapp_photo(
    flow, catalog_known, fake_openrouter
):
    fake_openrouter.reply("A cracked hinge.")
    assert flow(photo_body(user=CUSTOMER)).status_code == 200
    question, said = rows(catalog_known, Message)
    assert (question.type, question.text, question.state) == (
        "image", "What is broken here?", "answered",
    )  # fmt: skip
    assert question.media_file == hashlib.sha256(PHOTO).hexdigest()
    assert (question.media_mime, question.media_size) == ("image/jpeg", len(PHOTO))
    with catalog_known.app_context():
        path = media_store.folder() / question.media_file
        assert path.read_bytes() == PHOTO and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert [p.name for p in media_store.folder().iterdir()] == [question.media_file]
    assert said.text == "A cracked hinge." and said.reply_to_id == question.id


def test_a_photo_address_is_passed_on_and_noted_but_never_fetched(
    flow, catalog_known, fake_openrouter
):
    with socket.socket() as listener:  # where the photo is said to be
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        url = f"https://127.0.0.1:{listener.getsockname()[1]}/hinge.jpg"
        fake_openrouter.reply("A cracked hinge.")
        assert flow(photo_body(url, user=CUSTOMER)).status_code == 200
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    [sent] = model_requests(fake_openrouter)
    assert sent["messages"][-1]["content"][1] == {"type": "image_url", "image_url": {"url": url}}
    question, _ = rows(catalog_known, Message)
    assert question.text == f"[Photo: {url}]\nWhat is broken here?"
    assert (question.type, question.media_file) == ("text", None)

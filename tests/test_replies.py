"""End to end: signed webhook → the real worker → fake OpenRouter → fake Graph API."""

import json
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import event

from tests.conftest import PHONE_NUMBER_ID, as_recorded, post_webhook, wait_for
from tests.support.fake_graph import API_PREFIX
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import delivery, fixture, text_delivery, text_message
from tests.support.replies import CUSTOMER, MARKER_ASK, finished, log_rows, states
from webapp import settings
from webapp.extensions import db


def test_a_text_message_gets_the_default_models_answer(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.reply("Yes, it also comes in red and blue.")
    assert post_webhook(client, fixture("text.json")).status_code == 200
    sent = wait_for(fake_graph.sent_texts)
    assert sent == [
        (
            CUSTOMER,
            "Yes, it also comes in red and blue.",
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
        )
    ]
    wait_for(lambda: states(whatsapp) == ["answered"])
    asked = [r for r in fake_openrouter.requests if r.path == CHAT_PATH][-1].json()
    assert asked["model"] == "openai/gpt-4o-mini"
    assert asked["models"] == [
        "openai/gpt-4o-mini",
        "mistralai/mistral-small-latest",
        "meta-llama/llama-3.3-70b-instruct",
    ]
    assert asked["max_tokens"] == 1000
    assert asked["messages"][0]["role"] == "system"
    assert asked["messages"][0]["content"].startswith(
        "You are a helpful support assistant. Answer briefly.\n\nWhat you know right now:"
    )
    assert asked["messages"][0]["content"].endswith(MARKER_ASK)
    assert asked["messages"][-1] == {"role": "user", "content": "Does it come in another color?"}
    graph_request = next(r for r in fake_graph.requests if r.path.endswith("/messages"))
    assert graph_request.path == f"{API_PREFIX}/{PHONE_NUMBER_ID}/messages"
    assert graph_request.headers["Authorization"] == "Bearer EAAG-test-access-token"
    assert graph_request.json()["text"]["preview_url"] is False
    model_call, send = log_rows(whatsapp)  # every call is a log row, the send as well
    assert (model_call.channel, model_call.status, model_call.model_used) == (
        "whatsapp",
        "ok",
        "openai/gpt-4o-mini",
    )
    assert model_call.prompt_tokens == 10
    assert (send.upstream, send.status, send.model_used) == ("whatsapp", "ok", None)
    assert send.latency_ms is not None


def test_the_model_remembers_earlier_turns_with_the_same_customer(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    post_webhook(client, text_delivery(CUSTOMER, "My name is Ana."))
    wait_for(lambda: len(fake_graph.sent_texts()) == 1)
    wait_for(lambda: finished(whatsapp, 1))
    post_webhook(client, text_delivery(CUSTOMER, "What is my name?"))
    wait_for(lambda: len(fake_graph.sent_texts()) == 2)
    chats = [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]
    assert chats[1]["messages"][1:] == [
        {"role": "user", "content": "My name is Ana."},
        {"role": "assistant", "content": "echo: My name is Ana."},
        {"role": "user", "content": "What is my name?"},
    ]


def test_a_prompt_saved_just_before_a_message_arrives_is_the_one_it_is_answered_with(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    # Every commit wakes the worker. Settings it read on waking, before the message arrived,
    # would be a moment too old for it: here that moment is stretched to half a second.
    def stretch(conn, cursor, statement, *args):
        claiming = threading.current_thread().name == "_claim_loop"
        if armed.is_set() and claiming and "FROM ai_models" in statement:
            armed.clear()
            time.sleep(0.5)

    fake_openrouter.echo()
    armed = threading.Event()
    with whatsapp.app_context():
        engine = db.engine
        settings.save({"system_prompt": "The old prompt."}, author="test")
    armed.set()
    event.listen(engine, "after_cursor_execute", stretch)
    try:
        time.sleep(0.2)  # the worker has woken up for the old prompt's commit
        with whatsapp.app_context():
            settings.save({"system_prompt": "The new prompt."}, author="test")
        post_webhook(client, text_delivery(CUSTOMER, "Hello?"))
        wait_for(lambda: finished(whatsapp))
    finally:
        event.remove(engine, "after_cursor_execute", stretch)
    [chat] = [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]
    assert chat["messages"][0]["content"].startswith("The new prompt.\n\nWhat you know")
    assert chat["messages"][0]["content"].endswith(MARKER_ASK)


def test_memory_is_kept_per_customer_and_bounded_by_memory_turns(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    with whatsapp.app_context():
        settings.save({"memory_turns": "1"}, author="test")
    for number, text in enumerate(["one", "two", "three"], start=1):
        post_webhook(client, text_delivery(CUSTOMER, text))
        wait_for(lambda number=number: len(fake_graph.sent_texts()) == number)
        wait_for(lambda number=number: finished(whatsapp, number))
    post_webhook(client, text_delivery("4915112345678", "a stranger"))
    wait_for(lambda: len(fake_graph.sent_texts()) == 4)
    chats = [r.json()["messages"] for r in fake_openrouter.requests if r.path == CHAT_PATH]
    assert [m["content"] for m in chats[2][1:]] == ["two", "echo: two", "three"]
    assert [m["content"] for m in chats[3][1:]] == ["a stranger"]


def test_a_redelivery_while_answering_gets_one_reply(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo(delay=0.3)
    for _ in range(3):
        assert post_webhook(client, fixture("text.json")).status_code == 200
    wait_for(lambda: finished(whatsapp))
    assert post_webhook(client, fixture("text.json")).status_code == 200
    wait_for(lambda: fake_graph.sent_texts())
    assert len(fake_graph.sent_texts()) == 1
    assert len([r for r in fake_openrouter.requests if r.path == CHAT_PATH]) == 1


def test_a_batch_of_messages_is_answered_once_each(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    batch = delivery(
        text_message(CUSTOMER, "first"),
        text_message("4915112345678", "second"),
        text_message("447700900123", "third"),
    )
    batch["entry"].append(delivery(text_message("33612345678", "fourth"))["entry"][0])
    assert post_webhook(client, batch).status_code == 200
    wait_for(lambda: finished(whatsapp, 4))
    assert sorted((to, body) for to, body, _ in fake_graph.sent_texts()) == [
        (CUSTOMER, "echo: first"),
        ("33612345678", "echo: fourth"),
        ("447700900123", "echo: third"),
        ("4915112345678", "echo: second"),
    ]


def test_fifty_concurrent_customers_get_fifty_replies_and_no_duplicates(
    whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo(delay=0.05)
    numbers = [f"31600000{n:03d}" for n in range(50)]

    def send(number):
        assert (
            post_webhook(
                whatsapp.test_client(), text_delivery(number, f"hi from {number}")
            ).status_code
            == 200
        )

    threads = [threading.Thread(target=send, args=(number,)) for number in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_for(lambda: finished(whatsapp, 50), timeout=60)
    sent = fake_graph.sent_texts()
    assert len(sent) == 50
    assert sorted((to, body) for to, body, _ in sent) == [
        (n, f"echo: hi from {n}") for n in numbers
    ]
    assert set(states(whatsapp)) == {"answered"}


def test_a_long_answer_is_sent_in_parts_in_order(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    paragraphs = [f"Paragraph {n}. " + "word " * 300 for n in range(1, 8)]
    fake_openrouter.reply("\n\n".join(paragraphs).strip())
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    sent = fake_graph.sent_texts()
    assert len(sent) >= 3
    assert all(len(body) <= 4096 for _, body, _ in sent)
    assert sent[0][2] is not None and all(context is None for _, _, context in sent[1:])
    assert " ".join(body for _, body, _ in sent).split() == "\n\n".join(paragraphs).split()
    assert states(whatsapp) == ["answered"]


NON_TEXT = ["contacts.json", "unsupported.json"]  # stickers: see tests/test_media_turns.py


@pytest.mark.parametrize("name", NON_TEXT)
def test_a_message_the_bot_cannot_read_gets_the_non_text_reply(
    client, whatsapp, worker, fake_openrouter, fake_graph, name
):
    as_recorded(whatsapp, name)
    assert post_webhook(client, fixture(name)).status_code == 200
    wait_for(lambda: finished(whatsapp))
    [(_, body, _)] = fake_graph.sent_texts()
    assert body == "Sorry, I can only read text, voice notes and photos for now."
    assert not [r for r in fake_openrouter.requests if r.path == CHAT_PATH]


@pytest.mark.parametrize(
    ("name", "asked"),
    [
        ("interactive_button_reply.json", None),
        ("interactive_list_reply.json", None),
        ("button.json", None),
        ("location.json", None),
        ("text_reply_context.json", None),
    ],
)
def test_replies_buttons_and_locations_go_to_the_model(
    client, whatsapp, worker, fake_openrouter, fake_graph, name, asked
):
    fake_openrouter.echo()
    as_recorded(whatsapp, name)
    assert post_webhook(client, fixture(name)).status_code == 200
    wait_for(lambda: finished(whatsapp))
    chats = [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]
    assert len(chats) == 1 and chats[0]["messages"][-1]["content"].strip()
    assert len(fake_graph.sent_texts()) == 1


def test_an_empty_non_text_reply_setting_sends_nothing(client, whatsapp, worker, fake_graph):
    with whatsapp.app_context():
        settings.save({"non_text_reply": ""}, author="test")
    as_recorded(whatsapp, "sticker.json")
    post_webhook(client, fixture("sticker.json"))
    wait_for(lambda: finished(whatsapp))
    assert fake_graph.sent_texts() == []
    assert states(whatsapp) == ["answered"]


@pytest.mark.parametrize("name", ["reaction_removed.json", "system_phone_number_change.json"])
def test_reactions_and_system_messages_get_no_reply(client, whatsapp, worker, fake_graph, name):
    as_recorded(whatsapp, name)
    post_webhook(client, fixture(name))
    assert states(whatsapp) == ["ignored"]
    assert fake_graph.sent_texts() == []


def test_a_paused_customer_gets_no_reply_until_resumed(
    client, whatsapp, worker, runner, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    assert runner.invoke(args=["contacts", "pause", CUSTOMER]).exit_code == 0
    post_webhook(client, text_delivery(CUSTOMER, "hello?"))
    assert states(whatsapp) == ["paused"]
    assert runner.invoke(args=["contacts", "resume", CUSTOMER]).exit_code == 0
    post_webhook(client, text_delivery(CUSTOMER, "anyone?"))
    wait_for(lambda: fake_graph.sent_texts())
    assert [body for _, body, _ in fake_graph.sent_texts()] == ["echo: anyone?"]


def test_mark_read_shows_blue_ticks_and_typing_before_the_answer(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    with whatsapp.app_context():
        settings.save({"mark_read": "on"}, author="test")
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: fake_graph.sent_texts())
    first = fake_graph.requests[0].json()
    assert first["status"] == "read" and first["typing_indicator"] == {"type": "text"}


# Deliveries carrying a file are replayed with the file served in tests/test_media_turns.py.
MEDIA_FIXTURES = {"image.json", "audio_voice_note.json", "document.json", "sticker.json",
                  "video.json", "media_url.json"}  # fmt: skip
INBOUND_FIXTURES = sorted(
    p.name
    for p in (Path(__file__).parent / "fixtures" / "whatsapp").glob("*.json")
    if not p.name.startswith("send_") and p.name not in MEDIA_FIXTURES
)


@pytest.mark.parametrize("name", INBOUND_FIXTURES)
def test_every_recorded_delivery_gets_what_its_content_calls_for(
    client, whatsapp, worker, fake_openrouter, fake_graph, name
):
    from webapp.clients.whatsapp_webhook import parse_webhook

    fake_openrouter.echo()
    as_recorded(whatsapp, name)
    parsed = parse_webhook(json.loads(fixture(name)))
    assert post_webhook(client, fixture(name)).status_code == 200
    # One turn a customer: what they sent together is read together and answered once.
    turns = {}
    for message in parsed.messages:
        if message.reply != "none":
            turns.setdefault(message.customer_id, []).append(message)
    wait_for(lambda: all(s not in ("received", "processing") for s in states(whatsapp)))
    wait_for(lambda: len(fake_graph.sent_texts()) == len(turns))
    read = [[m.text for m in t if m.reply == "model"] for t in turns.values()]
    chats = [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]
    assert [chat["messages"][-1]["content"] for chat in chats] == [
        "\n\n".join(texts) for texts in read if texts
    ]
    non_text = [body for _, body, _ in fake_graph.sent_texts() if not body.startswith("echo: ")]
    assert len(non_text) == sum(not texts for texts in read)


def test_a_customer_known_only_by_username_is_answered_by_their_user_id(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    bsuid = "US.13491208655302741918"
    message = {"from_user_id": bsuid, "id": "wamid.USERNAME1", "timestamp": "1750000000",
               "type": "text", "text": {"body": "hi, no number here"}}  # fmt: skip
    body = delivery()
    body["entry"][0]["changes"][0]["value"]["messages"] = [message]
    body["entry"][0]["changes"][0]["value"]["contacts"] = [
        {"profile": {"name": "Sam", "username": "@sam"}, "user_id": bsuid}
    ]
    assert post_webhook(client, body).status_code == 200
    wait_for(lambda: finished(whatsapp))
    sent = next(r.json() for r in fake_graph.requests if r.path.endswith("/messages"))
    assert sent["recipient"] == bsuid and "to" not in sent
    assert sent["text"]["body"] == "echo: hi, no number here"

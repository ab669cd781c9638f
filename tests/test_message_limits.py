"""What one customer's flood of text can cost: their words are cut at MESSAGE_CHARS with a note
to the model, and the memory each call carries is bounded by size as well as by turns, so a
customer sending long messages over and over cannot make every call dearer than the last."""

import json

from sqlalchemy import select

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import text_delivery
from tests.support.replies import CUSTOMER, finished
from webapp import content, settings
from webapp.extensions import db
from webapp.models import Message
from webapp.replies import memory


def chats(fake_openrouter) -> list[dict]:
    return [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]


def prompt_chars(body: dict) -> int:
    return len(json.dumps(body["messages"], ensure_ascii=False))


def test_a_long_message_reaches_the_model_cut_with_a_note_and_is_kept_whole(
    client, whatsapp, worker, fake_openrouter
):
    fake_openrouter.reply("That is a lot of text.")
    flood = ("Where is my order? " * 700).strip()  # about 13,000 characters
    assert post_webhook(client, text_delivery(CUSTOMER, flood)).status_code == 200
    wait_for(lambda: finished(whatsapp))
    [asked] = chats(fake_openrouter)
    said = asked["messages"][-1]["content"]
    assert said.startswith(flood[: content.MESSAGE_CHARS])
    assert said.endswith(
        f"[The customer's message was {len(flood):,} characters long; only its first "
        f"{content.MESSAGE_CHARS:,} are shown.]"
    )
    assert len(said) < content.MESSAGE_CHARS + 200
    with whatsapp.app_context():  # the thread keeps what they wrote, whole
        kept = db.session.scalar(select(Message.text).where(Message.direction == "in"))
    assert kept == flood


def test_a_flood_of_long_messages_keeps_each_call_below_a_fixed_size(
    client, whatsapp, worker, fake_openrouter
):
    with whatsapp.app_context():
        settings.save({"memory_turns": "50", "merge_window_seconds": "0"}, author="test")
    fake_openrouter.echo()
    for number in range(8):
        flood = f"Message {number}: " + "x" * 12_000
        assert post_webhook(client, text_delivery(CUSTOMER, flood)).status_code == 200
        wait_for(lambda number=number: finished(whatsapp, number + 1))
    sizes = [prompt_chars(body) for body in chats(fake_openrouter)]
    system = len(json.dumps(chats(fake_openrouter)[0]["messages"][0], ensure_ascii=False))
    most = system + memory.MEMORY_CHARS + 2 * (content.MESSAGE_CHARS + 200) + 1000
    assert len(sizes) == 8 and max(sizes) < most  # without the limits: over 100,000
    assert sizes[-1] <= sizes[3] + 200  # no longer growing turn after turn
    last = chats(fake_openrouter)[-1]["messages"]
    assert last[-1]["content"].startswith("Message 7: ")
    remembered = last[1:-1]
    assert sum(len(m["content"]) for m in remembered) <= memory.MEMORY_CHARS + 1
    assert remembered[-1]["role"] == "assistant"  # the newest exchanges are the ones kept


def test_memory_keeps_the_newest_within_its_size():
    found = [{"role": "user", "content": "a" * 10}, {"role": "assistant", "content": "b" * 10},
             {"role": "user", "content": "c" * 30}]  # fmt: skip
    assert memory._within(found, 45) == found[1:]
    assert memory._within(found, 20) == [{"role": "user", "content": "…" + "c" * 20}]
    assert memory._within(found, 100) == found

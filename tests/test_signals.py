"""The model's "could not answer" signal: offered as a tool to models that take tools, asked for
as a first line from the others, and read out of the answer so the customer never sees it."""

import json

import pytest

from tests.support.fakes import CHAT_PATH, completion, fixture_bytes
from tests.support.replies import only_default_model
from webapp import catalog_data, settings
from webapp.clients.openrouter import OpenRouterClient, ToolCall
from webapp.clients.retry import Deadline
from webapp.extensions import db
from webapp.models import RequestLog
from webapp.replies import pipeline, signals
from webapp.requestlog import Origin
from webapp.snapshot import Snapshot

PLAIN = "example/plain-chat-7b"  # the catalog fixture's model without tools
ASKED = [{"role": "system", "content": "You answer for Bram's Bikes."},
         {"role": "user", "content": "Do you sell gluten-free bread?"}]  # fmt: skip


@pytest.mark.parametrize(
    "answer",
    [
        "CANNOT_ANSWER\nI will find out and get back to you.",
        "**CANNOT_ANSWER**\n\nI will find out and get back to you.",
        "cannot_answer\nI will find out and get back to you.",
        "  `CANNOT_ANSWER`  \nI will find out and get back to you.",
        "Cannot answer:\nI will find out and get back to you.",
        "CANNOT_ANSWER I will find out and get back to you.",
        "I will find out and get back to you.\n\nCANNOT_ANSWER",
    ],
)
def test_the_marker_line_is_read_and_removed_in_any_dress(answer):
    text, given = signals.read(answer, [])
    assert text == "I will find out and get back to you."
    assert given == [signals.Given("cannot_answer")]


def test_words_that_only_sound_like_the_marker_are_the_reply():
    answer = "We cannot answer questions about orders here: call the shop."
    assert signals.read(answer, []) == (answer, [])


def test_a_tool_call_gives_its_question_and_broken_arguments_give_none():
    good = ToolCall("call_1", "cannot_answer", '{"question": "Gluten-free  bread?"}')
    assert signals.read("", [good]) == ("", [signals.Given("cannot_answer", "Gluten-free bread?")])
    for broken in ('{"question": ', "[1, 2]", "", '{"question": 42}', "null"):
        call = ToolCall("call_1", "cannot_answer", broken)
        assert signals.read("Sorry.", [call]) == ("Sorry.", [signals.Given("cannot_answer")])
    other = ToolCall("call_2", "look_up_order", "{}")
    assert signals.read("Sorry.", [other]) == ("Sorry.", [])


def test_the_catalog_says_which_models_take_tools(app):
    with app.app_context():
        catalog_data.store(json.loads(fixture_bytes("models_list_excerpt.json"))["data"])
        listed = catalog_data.listings()
        assert listed["openai/gpt-4o-mini"].tools
        assert catalog_data.supports_tools(listed, "openai/gpt-4o-mini:nitro")
        catalog_data.store(
            json.loads(fixture_bytes("models_list_no_tools_RECONSTRUCTED.json"))["data"]
        )
        listed = catalog_data.listings()
        assert not catalog_data.supports_tools(listed, PLAIN)
        assert not catalog_data.supports_tools(listed, "openai/gpt-4o-mini")  # unknown now


def test_an_answer_that_only_calls_a_tool_is_read_not_refused(fake_openrouter):
    fake_openrouter.replay("chat_tool_call_only_RECONSTRUCTED.json")
    client = OpenRouterClient("sk-or-v1-" + "0" * 48, fake_openrouter.base_url, timeout=5)
    result = client.chat(ASKED, "openai/gpt-4o-mini")
    assert result.content == ""
    assert result.tool_calls == [
        ToolCall(
            "call_Qm3rT8vYk2LpZ0aX",
            "cannot_answer",
            '{"question":"Do you sell gluten-free bread?"}',
        )
    ]


def ask(app, model=None):
    with app.app_context():
        snap = Snapshot.load(app.config)
        return pipeline.ask_model(ASKED, Origin("playground"), snap, Deadline(30), model=model)


def chats(fake) -> list[dict]:
    return [r.json() for r in fake.requests if r.path == CHAT_PATH]


def use_catalog(app, fixture: str) -> None:
    with app.app_context():
        catalog_data.store(json.loads(fixture_bytes(fixture))["data"])


def test_a_model_that_takes_tools_is_offered_the_tool_and_its_prompt_stays(
    whatsapp, fake_openrouter
):
    use_catalog(whatsapp, "models_list_excerpt.json")
    only_default_model(whatsapp)
    fake_openrouter.reply("We open at 9.")
    assert ask(whatsapp).result.content == "We open at 9."
    [sent] = chats(fake_openrouter)
    assert sent["messages"] == ASKED
    assert sent["tool_choice"] == "auto"
    names = [tool["function"]["name"] for tool in sent["tools"]]
    assert names == ["cannot_answer", "hand_to_person"]
    assert sent["tools"][0]["function"]["parameters"]["required"] == ["question"]


def test_a_model_without_tools_is_asked_for_the_marker_line_and_gets_no_tools(
    whatsapp, fake_openrouter
):
    use_catalog(whatsapp, "models_list_no_tools_RECONSTRUCTED.json")
    fake_openrouter.reply("CANNOT_ANSWER\nI will ask the baker.", model=PLAIN)
    answer = ask(whatsapp, model=PLAIN)
    assert answer.result.content == "I will ask the baker."
    assert answer.signals == (signals.Given("cannot_answer"),)
    [sent] = chats(fake_openrouter)
    assert "tools" not in sent and "tool_choice" not in sent
    system = sent["messages"][0]["content"]
    assert system.startswith("You answer for Bram's Bikes.\n\n")
    assert "start your reply with the line CANNOT_ANSWER" in system
    assert sent["messages"][1:] == ASKED[1:]


def test_a_lone_tool_call_is_followed_by_one_call_for_the_words_and_both_are_logged(
    whatsapp, fake_openrouter
):
    use_catalog(whatsapp, "models_list_excerpt.json")
    only_default_model(whatsapp)
    fake_openrouter.replay("chat_tool_call_only_RECONSTRUCTED.json")
    fake_openrouter.reply("I will find out and get back to you.")
    answer = ask(whatsapp)
    assert answer.result.content == "I will find out and get back to you."
    assert answer.signals == (signals.Given("cannot_answer", "Do you sell gluten-free bread?"),)
    first, second = chats(fake_openrouter)
    assert second["tool_choice"] == "none"
    said, heard = second["messages"][-2:]
    assert said["tool_calls"][0]["function"]["name"] == "cannot_answer"
    assert heard == {"role": "tool", "tool_call_id": "call_Qm3rT8vYk2LpZ0aX",
                     "content": signals.TOOL_RESULT}  # fmt: skip
    assert second["messages"][:-2] == first["messages"]
    with whatsapp.app_context():  # the call that gave the signal; the caller logs the second
        [logged] = db.session.query(RequestLog).all()
        assert logged.status == "ok" and logged.cost == pytest.approx(0.0000432)


def test_a_marker_alone_or_a_failed_follow_up_leaves_the_fallback_reply(whatsapp, fake_openrouter):
    with whatsapp.app_context():
        settings.save({"fallback_reply": "Let me check and come back to you."}, author="test")
    only_default_model(whatsapp)
    fake_openrouter.reply("**CANNOT_ANSWER**")
    assert ask(whatsapp).result.content == "Let me check and come back to you."

    use_catalog(whatsapp, "models_list_excerpt.json")
    fake_openrouter.replay("chat_tool_call_only_RECONSTRUCTED.json")
    fake_openrouter.replay("error_429_free_models_per_min.json", 429, path=CHAT_PATH)
    answer = ask(whatsapp)
    assert answer.result.content == "Let me check and come back to you."
    assert answer.result.finish_reason == "stop" and answer.signals
    with whatsapp.app_context():
        statuses = [row.status for row in db.session.query(RequestLog).order_by(RequestLog.id)]
    assert statuses == ["error"]  # the follow-up's failure; the answer is the caller's to log


def test_an_unread_signal_never_turns_a_plain_reply_into_the_fallback(whatsapp, fake_openrouter):
    fake_openrouter.queue(body=completion("Yes: Tuesday to Saturday."), path=CHAT_PATH)
    answer = ask(whatsapp)
    assert (answer.result.content, answer.signals) == ("Yes: Tuesday to Saturday.", ())


def test_a_tool_call_beside_words_keeps_the_words_and_asks_nothing_more(whatsapp, fake_openrouter):
    use_catalog(whatsapp, "models_list_excerpt.json")
    only_default_model(whatsapp)
    fake_openrouter.calls_tool("cannot_answer", {"question": "Tandems?"}, "I will find out.")
    answer = ask(whatsapp)
    assert answer.result.content == "I will find out."
    assert answer.signals == (signals.Given("cannot_answer", "Tandems?"),)
    assert len(chats(fake_openrouter)) == 1


def test_hand_to_person_is_offered_and_read_like_cannot_answer():
    assert [tool["function"]["name"] for tool in signals.tools()] == [
        "cannot_answer", "hand_to_person"
    ]  # fmt: skip
    assert "start your reply with the line HAND_TO_PERSON" in signals.instruction()
    only = (signals.CANNOT_ANSWER,)
    assert "HAND_TO_PERSON" not in signals.instruction(only)
    assert [tool["function"]["name"] for tool in signals.tools(only)] == ["cannot_answer"]
    call = ToolCall("call_1", "hand_to_person", '{"reason": "wants the manager"}')
    assert signals.read("A person will answer soon.", [call]) == (
        "A person will answer soon.", [signals.Given("hand_to_person", "wants the manager")]
    )  # fmt: skip
    text, given = signals.read("CANNOT_ANSWER\n**HAND_TO_PERSON**\nA person will answer.", [])
    assert text == "A person will answer."
    assert given == [signals.Given("cannot_answer"), signals.Given("hand_to_person")]

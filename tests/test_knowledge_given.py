"""What the model is given besides the conversation: the prompt, the knowledge (cached where the
provider needs a mark), and the told block; and where the owner sees which knowledge it was."""

import json
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import text_delivery
from tests.support.replies import CUSTOMER, finished, log_rows
from tests.support.try_it import answered, openrouter_only
from webapp import prompts, settings
from webapp.extensions import db
from webapp.knowledge import given, retrieval, sources, told
from webapp.knowledge.retrieval import Knowledge, Passage
from webapp.models import RequestLog, Trial
from webapp.snapshot import Snapshot

MENU = Knowledge((Passage("FAQ › Delivery times", "We deliver Tuesday to Saturday."),
                  Passage("Menu.pdf, page 2", "Croissant 2.50")), whole=True)  # fmt: skip
ALL_TOLD = {"business_name": "Bella's Bakery", "timezone": "Pacific/Auckland",
            "always_tell": "business,date,hours,customer_name",
            "opening_hours": json.dumps({"mon": [["09:00", "17:30"]],
                                         "tue": [["22:00", "02:00"]]})}  # fmt: skip
# Monday 7 December 2026, 21:30 UTC is Tuesday 8 December 10:30 in Auckland (UTC+13 in summer).
MOMENT = datetime(2026, 12, 7, 21, 30, tzinfo=UTC)


def add_menu(app) -> None:
    """Two FAQ entries: small knowledge, so retrieval gives all of it, whole."""
    with app.app_context():
        sources.add_faq("Delivery times", "We deliver Tuesday to Saturday.", "owner")
        sources.add_faq("Croissant price", "Croissant 2.50", "owner")


MENU_LABELS = ["FAQ › Delivery times", "FAQ › Croissant price"]


def chats(fake_openrouter) -> list[dict]:
    return [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]


def test_the_told_block_is_in_the_owners_zone_and_says_whether_it_is_open():
    lines = told.lines(ALL_TOLD, "Sheena Nelson", now=MOMENT)
    assert lines[0] == "The business: Bella's Bakery."
    assert lines[1] == "Now: Tuesday 8 December 2026, 10:30 (Pacific/Auckland)."
    assert "  Monday: 09:00–17:30" in lines and "  Tuesday: 22:00–02:00" in lines
    assert "Right now the business is closed (opens 22:00)." in lines
    assert lines[-1] == "The customer's WhatsApp name: Sheena Nelson."


def test_each_told_line_can_be_switched_off():
    assert told.lines(ALL_TOLD | {"always_tell": ""}, "Sheena", now=MOMENT) == []
    only_date = told.lines(ALL_TOLD | {"always_tell": "date"}, "Sheena", now=MOMENT)
    assert only_date == ["Now: Tuesday 8 December 2026, 10:30 (Pacific/Auckland)."]
    no_name = told.lines(ALL_TOLD | {"always_tell": "business,hours"}, "Sheena", now=MOMENT)
    assert not any("Sheena" in line or line.startswith("Now:") for line in no_name)
    assert no_name[0] == "The business: Bella's Bakery." and "Opening hours:" in no_name


def test_no_hours_set_tells_no_hours_and_an_unset_name_no_business_line():
    bare = told.lines(ALL_TOLD | {"opening_hours": "", "business_name": ""}, None, now=MOMENT)
    assert bare == ["Now: Tuesday 8 December 2026, 10:30 (Pacific/Auckland)."]


@pytest.mark.parametrize("model", ["anthropic/claude-3.5-haiku", "google/gemini-2.5-flash"])
def test_whole_knowledge_is_a_marked_part_before_the_told_block_for_models_that_need_it(model):
    content = given.system_content("You answer for Bella's.", MENU, ["Now: Tuesday."], model)
    stable, changing = content
    assert stable["cache_control"] == {"type": "ephemeral"} and stable["type"] == "text"
    # The stable prefix: the prompt, then the knowledge, each part under its label.
    assert stable["text"].startswith("You answer for Bella's.\n\nUse this knowledge to answer")
    assert "### FAQ › Delivery times\nWe deliver Tuesday to Saturday." in stable["text"]
    assert stable["text"].index("Delivery times") < stable["text"].index("Menu.pdf, page 2")
    assert "Now:" not in stable["text"]  # the time changes: it would spoil the cache
    assert changing == {"type": "text", "text": "What you know right now:\nNow: Tuesday."}


def test_other_models_and_retrieved_knowledge_get_plain_text_in_the_same_order():
    plain = given.system_content("Prompt.", MENU, ["Now: Tuesday."], "openai/gpt-4o-mini")
    assert isinstance(plain, str)
    assert plain.index("Prompt.") < plain.index("Croissant") < plain.index("Now: Tuesday.")
    retrieved = Knowledge(MENU.passages, whole=False)  # changes per question: nothing to cache
    assert isinstance(given.system_content("P.", retrieved, [], "anthropic/claude-3.5-haiku"), str)
    assert given.system_content("Prompt.", Knowledge(), [], "google/gemini-2.5-flash") == "Prompt."


def test_the_question_is_the_new_messages_after_the_exchange_before():
    past = [{"role": "user", "content": "Do you deliver?"},
            {"role": "assistant", "content": "Yes, Tuesday to Saturday."}]  # fmt: skip
    assert given.question_of("And on Sundays?", past) == (
        "Do you deliver?\nYes, Tuesday to Saturday.\nAnd on Sundays?"
    )
    photo = [{"type": "text", "text": "Is this yours?"}, {"type": "image_url", "image_url": {}}]
    assert given.question_of(photo, []) == "Is this yours?"


def test_whatsapp_answers_are_given_the_prompt_then_the_told_block(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    with whatsapp.app_context():
        settings.save(ALL_TOLD, author="test")
        prompts.save_version("You answer for Bella's Bakery.", author="owner")
    fake_openrouter.reply("We open at 9.")
    before = datetime.now(ZoneInfo("Pacific/Auckland"))
    post_webhook(client, text_delivery(CUSTOMER, "When do you open?"))
    wait_for(lambda: finished(whatsapp))
    after = datetime.now(ZoneInfo("Pacific/Auckland"))
    [chat] = chats(fake_openrouter)
    system = chat["messages"][0]["content"]
    assert system.startswith("You answer for Bella's Bakery.\n\nWhat you know right now:\n")
    assert "The business: Bella's Bakery." in system
    assert any(f"Now: {day:%A %-d %B %Y}, " in system for day in (before, after))
    assert "Pacific/Auckland" in system and "Monday: 09:00–17:30" in system
    assert "The customer's WhatsApp name: Sheena Nelson." in system
    assert chat["messages"][-1] == {"role": "user", "content": "When do you open?"}


def test_faq_knowledge_reaches_the_model_and_its_label_is_logged(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    """Through the real retrieval: an FAQ entry of small knowledge is sent whole."""
    with whatsapp.app_context():
        sources.add_faq("Do you deliver on Sundays?", "No, Tuesday to Saturday only.", "owner")
        snap = Snapshot.load(whatsapp.config)
        found = retrieval.knowledge_for("Do you deliver on Sundays?", snap)
        db.session.rollback()
    assert found.whole and found.labels == ["FAQ › Do you deliver on Sundays?"]
    fake_openrouter.reply("No, Tuesday to Saturday only.")
    post_webhook(client, text_delivery(CUSTOMER, "Do you deliver on Sundays?"))
    wait_for(lambda: finished(whatsapp))
    [chat] = chats(fake_openrouter)
    assert "No, Tuesday to Saturday only." in json.dumps(chat["messages"][0])
    model_call = log_rows(whatsapp)[0]
    assert any("Do you deliver on Sundays?" in label for label in model_call.knowledge_labels)


def test_the_log_detail_and_try_it_show_the_knowledge_an_answer_was_given(
    app, admin, fake_openrouter, worker
):
    openrouter_only(app, fake_openrouter.base_url)
    with app.app_context():
        sources.add_faq("Delivery <times>", "We deliver Tuesday to Saturday.", "owner")
    fake_openrouter.reply("We deliver Tuesday to Saturday.")
    admin.post("/admin/try", {"message": "Do you deliver?"})
    wait_for(lambda: answered(app))
    with app.app_context():
        row = db.session.scalars(
            select(RequestLog).where(RequestLog.status == "ok", RequestLog.operation.is_(None))
        ).one()
    assert row.knowledge_labels == ["FAQ › Delivery <times>"]
    shown = "Knowledge given: FAQ › Delivery &lt;times&gt;"
    assert shown in admin.get("/admin/try").get_data(as_text=True)
    detail = admin.get(f"/admin/logs/{row.id}").get_data(as_text=True)
    assert "<dt>Knowledge given</dt>" in detail
    assert "FAQ › Delivery &lt;times&gt;" in detail and "<times>" not in detail


def test_a_flow_can_leave_the_knowledge_out_and_the_field_is_not_sent_on(
    ask, whatsapp, fake_openrouter
):
    add_menu(whatsapp)
    fake_openrouter.echo()
    asked = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Bread?"}]}
    assert ask(asked).status_code == 200
    assert ask(asked | {"knowledge": False}).status_code == 200
    with_knowledge, without = chats(fake_openrouter)
    assert "Croissant 2.50" in with_knowledge["messages"][0]["content"]
    assert "Croissant" not in without["messages"][0]["content"]
    assert "knowledge" not in without
    assert "What you know right now:" in without["messages"][0]["content"]  # told all the same
    first, second = [r for r in log_rows(whatsapp) if r.status == "ok"]
    assert first.knowledge_labels == MENU_LABELS
    assert second.knowledge_labels == []
    refused = ask(asked | {"knowledge": "no"})
    assert refused.status_code == 400
    assert "'knowledge' must be true or false" in refused.get_json()["error"]["message"]


def test_a_flows_own_system_message_gets_the_knowledge_after_it_and_no_told_block(
    ask, whatsapp, fake_openrouter
):
    add_menu(whatsapp)
    fake_openrouter.echo()
    own = {"role": "system", "content": "Be brief."}
    ask({"messages": [own, {"role": "user", "content": "Bread?"}]})
    [chat] = chats(fake_openrouter)
    first, knowledge, asked = chat["messages"]
    assert first == own and asked["content"] == "Bread?"
    assert knowledge["content"].startswith("Use this knowledge to answer")
    assert "What you know right now" not in json.dumps(chat)


def test_compare_gives_each_model_the_knowledge_marked_as_it_needs_and_shows_it(
    admin, whatsapp, worker, fake_openrouter
):
    """The worker's trial cells: the Anthropic model gets the cached part, the OpenAI one
    plain text; each cell shows the knowledge under its answer."""
    add_menu(whatsapp)
    fake_openrouter.echo()
    with whatsapp.app_context():
        prompt = prompts.current_text()
    models = ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-6"]
    form = {"models": models, "prompt": prompt, "source": "typed", "message": "Bread?",
            "customer": "", "last_n": "5"}  # fmt: skip
    response = admin.post("/admin/trials", data=form)
    trial_id = int(response.headers["Location"].rsplit("/", 1)[1])

    def done():
        with whatsapp.app_context():
            state = db.session.get(Trial, trial_id).state
            db.session.rollback()
            return state == "done"

    wait_for(done)
    by_model = {chat["model"]: chat["messages"][0]["content"] for chat in chats(fake_openrouter)}
    assert isinstance(by_model["openai/gpt-4o-mini"], str)
    stable, *_ = by_model["anthropic/claude-sonnet-4-6"]
    assert stable["cache_control"] == {"type": "ephemeral"} and "Croissant" in stable["text"]
    page = admin.get(f"/admin/trials/{trial_id}").get_data(as_text=True)
    assert page.count("Knowledge given: FAQ › Delivery times; FAQ › Croissant price") == 2

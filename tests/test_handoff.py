"""Handoff: a customer who asks for a person (a keyword, the model's hand_to_person signal), whom
the assistant could not answer twice in a row, or whose turn ended in the fallback reply is
handed over: the handoff reply (or the fallback), paused, needs you, the team's alerts queued."""

import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH, fixture_bytes
from tests.support.payloads import text_delivery
from tests.support.replies import CUSTOMER, finished, only_default_model, states
from tests.support.try_it import answered, openrouter_only
from webapp import catalog_data, settings
from webapp.extensions import db
from webapp.models import Contact, OwnerAlert, Turn, utcnow
from webapp.people import handoff
from webapp.replies import leases, turns
from webapp.worker.process import Worker

REPLY = "Someone from our team will answer you here shortly."
TEAM = "+31 6 1234 5678, +1 555 710 0007"
TEAM_IDS = ["15557100007", "31612345678"]


@pytest.fixture
def team(whatsapp):
    with whatsapp.app_context():
        settings.save({"handoff_reply": REPLY, "owner_numbers": TEAM}, author="test")
    return whatsapp


def to_customer(fake_graph) -> list[str]:
    return [body for to, body, _ in fake_graph.sent_texts() if to == CUSTOMER]


def customer(app) -> Contact:
    with app.app_context():
        contact = db.session.scalar(select(Contact).where(Contact.customer_id == CUSTOMER))
        db.session.expunge_all()
        return contact


def alerts(app) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.scalars(select(OwnerAlert).order_by(OwnerAlert.to)).all()
        return [(row.channel, row.to, row.reason) for row in rows]


def chat_requests(fake_openrouter) -> list:
    return [r for r in fake_openrouter.requests if r.path == CHAT_PATH]


def assert_handed_over(app, why: str) -> None:
    contact = customer(app)
    assert contact.paused and contact.resume_at is None
    assert contact.needs_person_since is not None and contact.needs_person_why == why
    assert alerts(app) == [("whatsapp", number, why) for number in TEAM_IDS]


def assert_next_message_not_answered(client, app, fake_graph) -> None:
    before = len(to_customer(fake_graph))
    post_webhook(client, text_delivery(CUSTOMER, "Hello? Anyone?"))
    wait_for(lambda: finished(app, 2))
    assert states(app)[-1] == "paused"
    assert len(to_customer(fake_graph)) == before


def test_a_keyword_hands_over_without_asking_the_model(
    client, team, worker, fake_openrouter, fake_graph
):
    post_webhook(client, text_delivery(CUSTOMER, "Can I talk to a real PERSON please?"))
    assert wait_for(lambda: to_customer(fake_graph)) == [REPLY]
    wait_for(lambda: finished(team))
    assert chat_requests(fake_openrouter) == []
    assert_handed_over(team, "Asked for a person (real person)")
    assert_next_message_not_answered(client, team, fake_graph)


@pytest.mark.parametrize(
    ("words", "keyword"),
    [
        ("I want a HUMAN", "human"),
        ("Human?", "human"),
        ("your staff, please", "staff"),
        ("a real   person!", "real person"),
        ("This is personal", None),
        ("humanity is great", None),
        ("Someone there?", "someone"),
        ("Ich möchte einen Menschen", None),
        ("MENSCH, bitte", "mensch"),
        ("überMensch", None),
    ],
)
def test_keywords_match_whole_words_and_phrases_in_any_case(words, keyword):
    snap = {"handoff_keywords": "real person, human, staff, someone, mensch"}
    assert handoff.keyword_in(words, snap) == keyword


def with_tools(app) -> None:
    with app.app_context():
        catalog_data.store(json.loads(fixture_bytes("models_list_excerpt.json"))["data"])
    only_default_model(app)


def test_the_models_hand_to_person_call_hands_over_with_its_reason(
    client, team, worker, fake_openrouter, fake_graph
):
    with_tools(team)
    fake_openrouter.calls_tool("hand_to_person", {"reason": "wants a refund"}, "One moment.")
    post_webhook(client, text_delivery(CUSTOMER, "This bike broke after a day. Money back!"))
    assert wait_for(lambda: to_customer(fake_graph)) == [REPLY]
    wait_for(lambda: finished(team))
    assert_handed_over(team, "Asked for a person: wants a refund")
    assert_next_message_not_answered(client, team, fake_graph)


def test_the_marker_line_of_a_model_without_tools_hands_over(
    client, team, worker, fake_openrouter, fake_graph
):
    fake_openrouter.reply("HAND_TO_PERSON\nSure, I will get you the manager.")
    post_webhook(client, text_delivery(CUSTOMER, "Get me your manager"))
    assert wait_for(lambda: to_customer(fake_graph)) == [REPLY]
    wait_for(lambda: finished(team))
    assert_handed_over(team, "Asked for a person")


def test_an_empty_handoff_reply_sends_nothing_and_still_hands_over(
    client, team, worker, fake_openrouter, fake_graph
):
    with team.app_context():
        settings.save({"handoff_reply": ""}, author="test")
    post_webhook(client, text_delivery(CUSTOMER, "agent"))
    wait_for(lambda: finished(team))
    assert to_customer(fake_graph) == []
    assert_handed_over(team, "Asked for a person (agent)")


def test_two_unanswered_questions_in_a_row_hand_over_and_an_answer_between_resets(
    client, team, worker, fake_openrouter, fake_graph
):
    fake_openrouter.reply("CANNOT_ANSWER\nLet me find out.")
    fake_openrouter.reply("We open at nine.")
    fake_openrouter.reply("CANNOT_ANSWER\nI will ask.")
    fake_openrouter.reply("CANNOT_ANSWER\nNo idea, sorry.")
    asked = ["Do you repair tandems?", "When do you open?", "Tandem tyres?", "Tandem brakes?"]
    for count, question in enumerate(asked, start=1):
        post_webhook(client, text_delivery(CUSTOMER, question))
        wait_for(lambda count=count: finished(team, count))
        if count < len(asked):
            assert not customer(team).paused
    assert customer(team).unanswered_in_row == 0  # a handoff starts the count again
    assert to_customer(fake_graph) == ["Let me find out.", "We open at nine.", "I will ask.", REPLY]
    assert_handed_over(team, handoff.UNANSWERED_TWICE)


def test_a_model_failure_sends_the_fallback_only_and_hands_over(
    client, team, worker, fake_openrouter, fake_graph
):
    with team.app_context():
        settings.save({"fallback_reply": "Sorry, we will get back to you."}, author="test")
    fake_openrouter.default(401, fixture_bytes("error_401_user_not_found.json"), path=CHAT_PATH)
    post_webhook(client, text_delivery(CUSTOMER, "Do you sell bells?"))
    wait_for(lambda: finished(team))
    assert to_customer(fake_graph) == ["Sorry, we will get back to you."]
    assert_handed_over(team, handoff.FALLBACK)


def test_a_turn_given_up_after_its_runs_died_sends_the_fallback_and_hands_over(
    client, team, fake_openrouter, fake_graph
):
    post_webhook(client, text_delivery(CUSTOMER, "hello"))
    with team.app_context():
        [lease] = leases.claim("crashed", 1, timedelta(seconds=30))
        turns.take(lease)
        db.session.execute(
            update(Turn).values(runs=leases.MAX_RUNS, lease_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()  # every run began, none ended
    worker = Worker(team, threads=2, poll=0.01, holder="test:next").start()
    try:
        wait_for(lambda: finished(team))
    finally:
        worker.stop()
    [body] = to_customer(fake_graph)
    assert body.startswith("Sorry, we can't answer right now")
    assert_handed_over(team, handoff.FALLBACK)


def test_try_it_shows_the_handoff_reply_and_a_note_but_pauses_and_alerts_nobody(
    app, admin, fake_openrouter, worker
):
    openrouter_only(app, fake_openrouter.base_url, handoff_reply=REPLY, owner_numbers=TEAM)
    admin.post("/admin/try", data={"message": "I want a human"})
    wait_for(lambda: answered(app))
    page = admin.get("/admin/try").get_data(as_text=True)
    assert REPLY in page
    assert "A real customer would now be handed to a person" in page
    assert "Asked for a person (human)" in page
    with app.app_context():
        contact = db.session.scalar(select(Contact).where(Contact.channel == "playground"))
        assert not contact.paused
        assert db.session.scalars(select(OwnerAlert)).all() == []
    fake_openrouter.reply("We open at nine.")
    admin.post("/admin/try", data={"message": "When do you open?"})
    wait_for(lambda: answered(app, 2))
    page = admin.get("/admin/try").get_data(as_text=True)
    assert "We open at nine." in page and "would now be handed" not in page


def test_two_handoffs_at_once_mark_the_customer_once_and_alert_once(team):
    with team.app_context():
        db.session.add(Contact(customer_id=CUSTOMER, phone=CUSTOMER, paused=False))
        db.session.commit()
        contact_id = db.session.scalar(select(Contact.id))
        snap = {"owner_numbers": TEAM, "smtp_host": "", "alert_email_from": "",
                "alert_email_to": ""}  # fmt: skip
    together = threading.Barrier(2)
    outcomes = []

    def hand_over(why: str) -> None:
        with team.app_context():
            together.wait()
            outcomes.append(handoff.hand_over(contact_id, why, snap))
            db.session.commit()

    threads = [threading.Thread(target=hand_over, args=(why,)) for why in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == [False, True]
    contact = customer(team)
    assert contact.paused and contact.needs_person_why in ("first", "second")
    assert alerts(team) == [("whatsapp", n, contact.needs_person_why) for n in TEAM_IDS]

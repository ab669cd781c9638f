"""Budgets: past the daily or monthly budget, customers get what `budget_action` says, flows,
Try it and Compare are refused, voice notes and knowledge wait, and the owner is told once
per period and level. Through the webhook, the real worker, the fake Graph and OpenRouter."""

import json
import threading

import pytest
from sqlalchemy import func, select

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import (
    CHAT_PATH,
    EMBEDDINGS_PATH,
    TRANSCRIPTION_PATH,
    completion,
    fixture_bytes,
)
from tests.support.flows import rows
from tests.support.payloads import delivery, file_message, text_delivery
from tests.support.replies import CUSTOMER, log_rows
from tests.support.try_it import openrouter_only
from webapp import catalog, catalog_data, settings
from webapp.extensions import db
from webapp.knowledge import embeddings, sources
from webapp.models import Contact, Message, OwnerAlert, RequestLog, Trial, TrialCell, utcnow
from webapp.money import budget_alerts
from webapp.requestlog import Origin
from webapp.snapshot import Snapshot
from webapp.troubleshooting import ErrorKind, trouble

TEAM = "31612345678"
FALLBACK = "Sorry, we cannot answer right now. Someone will get back to you."
HANDOFF = "I'm passing you to someone from our team."
FREE = "meta-llama/llama-3.3-70b-instruct:free"  # priced 0 by the catalog excerpt


def budget_of(app, daily="0.01", action="fallback_reply", **more) -> None:
    """A daily budget, what customers get past it, the shop's phone as the team's number
    (with its 24-hour window open, so alerts go as plain messages)."""
    with app.app_context():
        values = {
            "daily_budget": daily,
            "budget_action": action,
            "fallback_reply": FALLBACK,
            "handoff_reply": HANDOFF,
            "owner_numbers": TEAM,
            "embedding_model": "",
        }
        settings.save(values | more, author="test")  # fmt: skip
        if not db.session.scalar(select(Contact).where(Contact.customer_id == TEAM)):
            db.session.add(Contact(customer_id=TEAM, phone=TEAM, last_inbound_at=utcnow()))
            db.session.commit()


def spend(app, dollars: float) -> None:
    """A model call of today that cost `dollars`, as the log holds every call."""
    with app.app_context():
        db.session.add(RequestLog(channel="whatsapp", upstream="openrouter", status="ok",
                                  model_used="openai/gpt-4o-mini", cost=dollars))  # fmt: skip
        db.session.commit()


def write(client, text: str, number: str = CUSTOMER) -> None:
    assert post_webhook(client, text_delivery(number, text)).status_code == 200


def texts_to(fake_graph, number: str) -> list[str]:
    return [body for to, body, _ in fake_graph.sent_texts() if to == number]


def chats(fake_openrouter) -> list[dict]:
    return [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]


def customer(app, number: str = CUSTOMER) -> Contact:
    with app.app_context():
        row = db.session.scalar(select(Contact).where(Contact.customer_id == number))
        db.session.expunge_all()
        return row


def budget_alerts_of(app) -> list[OwnerAlert]:
    with app.app_context():
        rows = db.session.scalars(
            select(OwnerAlert).where(OwnerAlert.contact_id.is_(None)).order_by(OwnerAlert.id)
        ).all()
        db.session.expunge_all()
        return rows


@pytest.mark.parametrize(("action", "reply"), [("fallback_reply", FALLBACK), ("handoff", HANDOFF)])
def test_past_the_budget_a_customer_gets_the_action_and_waits_for_a_person(
    client, whatsapp, worker, fake_openrouter, fake_graph, action, reply
):
    budget_of(whatsapp, action=action)
    spend(whatsapp, 0.01)
    write(client, "Do you deliver on Sunday?")

    wait_for(lambda: texts_to(fake_graph, CUSTOMER))
    assert texts_to(fake_graph, CUSTOMER) == [reply]
    assert chats(fake_openrouter) == []  # nothing was spent on it
    held = customer(whatsapp)
    assert held.paused and held.needs_person_why == "The budget is spent"
    # Their message reads "not answered by the model" on the conversation page, and why.
    asked = wait_for(lambda: [m for m in rows(whatsapp, Message) if m.state == "failed"])
    assert [m.error_kind for m in asked] == ["budget_exceeded"]
    [refused] = [r for r in log_rows(whatsapp) if r.error_kind == "budget_exceeded"]
    assert refused.contact_id == held.id and "daily budget of $0.01 is spent" in (
        refused.error_message
    )
    # The owner hears both: this customer waits for them, and the budget is spent.
    told = wait_for(lambda: [t for t in texts_to(fake_graph, TEAM) if "budget is spent" in t])
    assert told[0].startswith("Switchboard has spent $0.01 of the daily budget of $0.01 today")
    wait_for(lambda: any("needs you" in t for t in texts_to(fake_graph, TEAM)))


def test_past_the_budget_cheapest_answers_with_the_cheapest_model_not_disabled(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    with whatsapp.app_context():
        catalog_data.store(json.loads(fixture_bytes("models_list_excerpt.json"))["data"])
        catalog.add(FREE)
        catalog.set_role(FREE, catalog.AVAILABLE)
    budget_of(whatsapp, action="cheapest")
    spend(whatsapp, 0.02)
    fake_openrouter.reply("We deliver on Sundays until noon.", model=FREE)
    write(client, "Do you deliver on Sunday?")

    wait_for(lambda: texts_to(fake_graph, CUSTOMER))
    assert texts_to(fake_graph, CUSTOMER) == ["We deliver on Sundays until noon."]
    [asked] = chats(fake_openrouter)
    assert asked["model"] == FREE and "models" not in asked  # that model alone, no fallback
    answered = [r for r in log_rows(whatsapp) if r.contact_id and r.model_requested == FREE]
    assert [r.status for r in answered] == ["ok"]  # the log shows who answered
    assert not customer(whatsapp).paused

    with whatsapp.app_context():  # disabled, it is never used: the next cheapest is
        catalog.set_role(FREE, catalog.DISABLED)
    fake_openrouter.reply("Yes, until noon.")
    write(client, "And on Saturday?")
    wait_for(lambda: len(texts_to(fake_graph, CUSTOMER)) == 2)
    assert chats(fake_openrouter)[-1]["model"] == "openai/gpt-4o-mini"


def test_past_the_budget_a_photo_goes_to_the_cheapest_model_that_can_see_it(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    with whatsapp.app_context():
        catalog_data.store(json.loads(fixture_bytes("models_list_excerpt.json"))["data"])
        catalog.add(FREE)  # cheaper, but it reads text only
        catalog.set_role(FREE, catalog.AVAILABLE)
    budget_of(whatsapp, action="cheapest")
    spend(whatsapp, 0.02)
    fake_graph.host_media("8812", b"\xff\xd8\xff\xe0" + b"a broken hinge " * 40, "image/jpeg")
    photo = file_message(CUSTOMER, "image", "8812", "image/jpeg", caption="Is this covered?")
    fake_openrouter.reply("Yes, the hinge is covered by the warranty.")
    assert post_webhook(client, delivery(photo)).status_code == 200

    wait_for(lambda: texts_to(fake_graph, CUSTOMER))
    assert texts_to(fake_graph, CUSTOMER) == ["Yes, the hinge is covered by the warranty."]
    [asked] = chats(fake_openrouter)
    assert asked["model"] == "openai/gpt-4o-mini" and "models" not in asked


def test_a_budget_raised_mid_month_answers_again_at_once(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    budget_of(whatsapp, daily="", monthly_budget="0.05")
    spend(whatsapp, 0.05)
    write(client, "Are you open today?")
    wait_for(lambda: texts_to(fake_graph, CUSTOMER) == [FALLBACK])

    with whatsapp.app_context():
        settings.save({"monthly_budget": "10"}, author="test")
        db.session.execute(Contact.__table__.update().values(paused=False, needs_person_since=None))
        db.session.commit()
    fake_openrouter.reply("Yes, until six.")
    write(client, "Are you open today?")
    wait_for(lambda: len(texts_to(fake_graph, CUSTOMER)) == 2)
    assert texts_to(fake_graph, CUSTOMER)[-1] == "Yes, until six."


def test_a_flow_past_the_budget_gets_402_budget_exceeded_with_its_hint(
    ask, whatsapp, fake_openrouter
):
    budget_of(whatsapp)
    spend(whatsapp, 0.5)
    response = ask({"model": "openai/gpt-4o-mini",
                    "messages": [{"role": "user", "content": "Hi"}]})  # fmt: skip
    assert response.status_code == 402
    error = response.get_json()["error"]
    assert error["kind"] == "budget_exceeded"
    assert error["hint"] == trouble(ErrorKind.BUDGET_EXCEEDED).fix
    assert "daily budget of $0.01 is spent ($0.50 today)" in error["message"]
    assert chats(fake_openrouter) == []


def test_try_it_past_the_budget_refuses_and_keeps_the_typed_message(
    app, admin, fake_openrouter, worker
):
    openrouter_only(app, fake_openrouter.base_url)
    budget_of(app)
    spend(app, 0.01)
    response = admin.post("/admin/try", {"message": "Do you sell gift cards?"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The daily budget of $0.01 is spent" in page and "Settings page" in page
    assert "Do you sell gift cards?" in page  # still in the box: nothing lost
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Contact)) == 1  # the team's
    assert chats(fake_openrouter) == []


def test_compare_past_the_budget_starts_nothing_and_says_why(app, admin, fake_openrouter):
    openrouter_only(app, fake_openrouter.base_url)
    budget_of(app, daily="", monthly_budget="1")
    spend(app, 1.25)
    with app.app_context():
        prompt = settings.get("system_prompt")
    response = admin.post("/admin/trials", data={
        "models": ["openai/gpt-4o-mini"], "prompt": prompt, "source": "typed",
        "message": "When do you open on Sunday?", "customer": "", "last_n": "5"})  # fmt: skip
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The monthly budget of $1.00 is spent ($1.25 this month)" in page
    assert "When do you open on Sunday?" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Trial)) == 0


def test_knowledge_waits_past_the_budget_with_a_note_and_resumes_when_raised(
    whatsapp, fake_openrouter
):
    budget_of(whatsapp, embedding_model="openai/text-embedding-3-small")
    spend(whatsapp, 0.02)
    with whatsapp.app_context():
        sources.add_faq("Do you deliver?", "Yes, within 10 km, every day but Sunday.", "test")
        db.session.commit()
        embeddings.embed_chunks()
        embeddings.embed_chunks()  # a second run: still waiting, no second log row
        snap = Snapshot.load(whatsapp.config)
        vector = embeddings.embed_question("Do you deliver?", snap, Origin("whatsapp"), 5)
        note = embeddings.progress().failing
    embedded = [r for r in fake_openrouter.requests if r.path == EMBEDDINGS_PATH]
    assert embedded == [] and vector is None  # the question goes by its words
    assert "waits" in note and "daily budget of $0.01 is spent" in note
    refused = [r for r in log_rows(whatsapp) if r.error_kind == "budget_exceeded"]
    assert [(r.channel, r.operation) for r in refused] == [("knowledge", "embedding")]

    with whatsapp.app_context():
        settings.save({"daily_budget": "5"}, author="test")
        embeddings.embed_chunks()
        snap = Snapshot.load(whatsapp.config)
        vector = embeddings.embed_question("Do you deliver?", snap, Origin("whatsapp"), 5)
        assert vector is not None and embeddings.progress().failing is None
    assert [r for r in fake_openrouter.requests if r.path == EMBEDDINGS_PATH]


def test_the_owner_is_told_at_80_and_at_100_percent_once_however_many_look(whatsapp):
    budget_of(whatsapp, daily="1", monthly_budget="10")

    def look_from_many_workers() -> list[int]:
        told: list[int] = []
        start = threading.Barrier(4)

        def look():
            with whatsapp.app_context():
                start.wait()
                told.append(budget_alerts.check())
                db.session.remove()

        threads = [threading.Thread(target=look) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return told

    spend(whatsapp, 0.5)
    assert sum(look_from_many_workers()) == 0  # 50 %: nothing to say
    spend(whatsapp, 0.35)
    assert sum(look_from_many_workers()) == 1  # 85 % of the day: one alert, one team number
    spend(whatsapp, 0.2)
    assert sum(look_from_many_workers()) == 1  # 105 %: the spent one, once
    assert sum(look_from_many_workers()) == 0
    reasons = [alert.reason for alert in budget_alerts_of(whatsapp)]
    assert len(reasons) == 2
    assert reasons[0].startswith("Switchboard has spent $0.85 of the daily budget of $1.00")
    assert "80 %" in reasons[0]
    assert "the budget is spent" in reasons[1] and "fallback reply" in reasons[1]
    with whatsapp.app_context():
        assert len(budget_alerts.told_names()) == 2


def test_reaching_100_percent_at_once_sends_only_the_spent_alert(whatsapp):
    budget_of(whatsapp, daily="1")
    spend(whatsapp, 1.0)
    with whatsapp.app_context():
        assert budget_alerts.check() == 1
        assert budget_alerts.check() == 0
    [alert] = budget_alerts_of(whatsapp)
    assert "the budget is spent" in alert.reason


def test_a_budget_alert_goes_to_the_team_as_a_plain_message(whatsapp, fake_graph):
    budget_of(whatsapp, daily="1", public_url="https://shop.example")
    spend(whatsapp, 1.0)
    with whatsapp.app_context():
        budget_alerts.check()
        from webapp.people import alerts

        assert alerts.send_due() == 1
    [text] = texts_to(fake_graph, TEAM)
    assert text.startswith("Switchboard has spent $1.00 of the daily budget of $1.00 today")
    assert text.endswith("Settings: https://shop.example/admin/settings")
    logged = [r for r in log_rows(whatsapp) if r.operation == "alert"]
    assert [(r.status, r.contact_id) for r in logged] == [("ok", None)]


def test_two_workers_near_the_budget_spend_past_it_by_the_calls_in_flight_at_most(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    """Customers write every 0.15 s; each answer takes 0.6 s and costs $0.006 of a $0.01
    day. Two answers spend it: no call may start after the second is logged."""
    from webapp.worker.process import Worker

    budget_of(whatsapp)
    for _ in range(12):
        fake_openrouter.queue(body=completion("Here you are.", cost=0.006), delay=0.6,
                              path=CHAT_PATH)  # fmt: skip
    second = Worker(whatsapp, threads=4, poll=0.01, holder="second-worker").start()
    try:
        numbers = [f"1650555{index:04d}" for index in range(12)]
        for number in numbers:
            write(client, "What does delivery cost?", number)
            threading.Event().wait(0.15)
        wait_for(lambda: all(texts_to(fake_graph, n) for n in numbers), timeout=30)
    finally:
        second.stop()
    answered = [r for r in fake_graph.requests if r.path.endswith("/messages")
                and "Here you are." in r.body.decode()]  # fmt: skip
    spent_at = sorted(r.at for r in answered)[1]  # the second answer sent: $0.012 spent
    started = [r.at for r in fake_openrouter.requests if r.path == CHAT_PATH]
    late = [at - spent_at for at in started if at > spent_at + 0.05]
    assert late == []  # every call started was in flight before the budget was spent
    refused = [n for n in numbers if texts_to(fake_graph, n) == [FALLBACK]]
    assert len(refused) + len(answered) == 12 and len(refused) >= 4
    with whatsapp.app_context():
        spent = db.session.scalar(select(func.sum(RequestLog.cost)))
    assert spent == pytest.approx(0.006 * len(started))


def test_a_voice_note_past_the_budget_is_not_transcribed_and_logged_once(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    budget_of(whatsapp, transcription_model="openai/whisper-1", non_text_reply="Please type.")
    spend(whatsapp, 0.01)
    message = file_message(CUSTOMER, "audio", "4477", "audio/ogg; codecs=opus", voice=True)
    fake_graph.host_media("4477", b"OggS\x00\x02" + b"opus frames " * 50, "audio/ogg")
    assert post_webhook(client, delivery(message)).status_code == 200

    wait_for(lambda: texts_to(fake_graph, CUSTOMER))
    assert texts_to(fake_graph, CUSTOMER) == ["Please type."]  # nothing it could read
    assert [r for r in fake_openrouter.requests if r.path == TRANSCRIPTION_PATH] == []
    [refused] = [r for r in log_rows(whatsapp) if r.operation == "transcription"]
    assert (refused.error_kind, refused.model_requested) == ("budget_exceeded", "openai/whisper-1")


def test_comparison_answers_already_waiting_fail_with_budget_exceeded(app, fake_openrouter):
    from webapp import trials
    from webapp.worker.process import Worker

    openrouter_only(app, fake_openrouter.base_url)
    budget_of(app)
    with app.app_context():
        trial = trials.start(["openai/gpt-4o-mini"], settings.get("system_prompt"), "typed",
                             "test", text="When do you open?")  # fmt: skip
        trial_id = trial.id
    spend(app, 0.01)  # spent after it was started, before the worker took it
    running = Worker(app, threads=2, poll=0.01).start()
    try:

        def cells():
            with app.app_context():
                rows = db.session.scalars(select(TrialCell).where(TrialCell.trial_id == trial_id))
                found = [(c.state, c.error_kind) for c in rows]
                db.session.rollback()
                return found if all(s not in ("pending", "running") for s, _ in found) else None

        assert wait_for(cells) == [("failed", "budget_exceeded")]
    finally:
        running.stop()
    assert chats(fake_openrouter) == []


def test_a_budget_alert_e_mail_says_what_is_spent_in_its_subject(whatsapp):
    from tests.support.fake_smtp import FakeSMTP
    from webapp.people import alerts

    server = FakeSMTP().start()
    try:
        budget_of(whatsapp, daily="", monthly_budget="20", owner_numbers="",
                  smtp_host="127.0.0.1", smtp_port=str(server.port), smtp_tls="none",
                  alert_email_from="switchboard@shop.example",
                  alert_email_to="owner@shop.example")  # fmt: skip
        spend(whatsapp, 16.5)
        with whatsapp.app_context():
            assert budget_alerts.check() == 1
            assert alerts.send_due() == 1
        (mail,) = server.mails
    finally:
        server.stop()
    assert mail.message["Subject"] == (
        "Switchboard has spent $16.50 of the monthly budget of $20.00 this month (80 % or more)"
    )
    assert mail.message.get_content().startswith(mail.message["Subject"])


def test_a_try_it_message_sent_before_the_budget_was_spent_is_refused_with_its_reason(
    app, admin, fake_openrouter
):
    from tests.support.try_it import answered
    from webapp.worker.process import Worker

    openrouter_only(app, fake_openrouter.base_url)
    budget_of(app)
    admin.post("/admin/try", {"message": "Do you sell gift cards?"})  # waits for the worker
    spend(app, 0.01)
    running = Worker(app, threads=2, poll=0.01).start()
    try:
        wait_for(lambda: answered(app))
    finally:
        running.stop()
    assert chats(fake_openrouter) == []
    [refused] = [r for r in log_rows(app) if r.error_kind == "budget_exceeded"]
    assert refused.channel == "playground"
    page = admin.get("/admin/try").get_data(as_text=True)
    assert trouble(ErrorKind.BUDGET_EXCEEDED).title in page
    assert "The daily budget of $0.01 is spent" in page

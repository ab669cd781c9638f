"""The team answering from their phones, end to end through the webhook and the real worker:
replies quoting an alert reach the customer, `done` gives them back to the assistant, and the
short commands answer in one line. A team number is never answered by the model."""

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import delivery, text_message
from tests.support.replies import log_rows
from webapp import contacts, settings
from webapp.extensions import db
from webapp.models import Contact, Message, OwnerAlert, utcnow
from webapp.people import alerts, commands, handoff
from webapp.snapshot import Snapshot

TEAM = "31612345678"
CUSTOMER = "16505551234"
BUSINESS = "15550783881"


@pytest.fixture
def team(whatsapp):
    with whatsapp.app_context():
        settings.save({"owner_numbers": "+31 6 1234 5678", "takeover_minutes": "30"}, "test")
    return whatsapp


def write(client, number: str, text: str, quoting: str | None = None, name="Sheena Nelson"):
    message = text_message(number, text)
    if quoting:
        message["context"] = {"from": BUSINESS, "id": quoting}
    assert post_webhook(client, delivery(message, name=name)).status_code == 200
    return message["id"]


def texts_to(fake_graph, number: str) -> list[str]:
    return [body for to, body, _ in fake_graph.sent_texts() if to == number]


def model_calls(fake_openrouter) -> int:
    return sum(1 for r in fake_openrouter.requests if r.path == CHAT_PATH)


def customer_row(app, number=CUSTOMER) -> Contact:
    with app.app_context():
        row = db.session.scalar(select(Contact).where(Contact.customer_id == number))
        db.session.expunge_all()
        return row


def handed_over_with_alert(app, client, fake_graph, fake_openrouter) -> str:
    """The team member wrote once (their window is open), Sheena wrote and was handed over,
    and the alert went to the team number; returns the alert's WhatsApp message id."""
    write(client, TEAM, "list", name="Ana from the shop")
    wait_for(lambda: texts_to(fake_graph, TEAM))
    fake_openrouter.reply("Let me check.")
    write(client, CUSTOMER, "Where is my cake?")
    wait_for(lambda: texts_to(fake_graph, CUSTOMER))
    with app.app_context():
        customer = db.session.scalar(select(Contact.id).where(Contact.customer_id == CUSTOMER))
        handoff.hand_over(customer, handoff.ASKED, Snapshot.load(app.config, commit=False))
        db.session.commit()
        alerts.send_due()  # or the worker's own alerts job, whichever claims it first

    def alert_sent():
        with app.app_context():
            return db.session.scalar(select(OwnerAlert.wa_message_id))

    return wait_for(alert_sent)


def test_the_team_answers_by_quoting_the_alert_and_done_gives_the_customer_back(
    client, team, worker, fake_graph, fake_openrouter
):
    alert_id = handed_over_with_alert(team, client, fake_graph, fake_openrouter)
    alert_text = texts_to(fake_graph, TEAM)[-1]
    assert alert_text.startswith("Sheena Nelson (+16505551234) needs you.")
    calls = model_calls(fake_openrouter)

    write(client, TEAM, "Hi Sheena, it leaves the oven at 4.", quoting=alert_id, name="Ana")

    wait_for(lambda: "Hi Sheena, it leaves the oven at 4." in texts_to(fake_graph, CUSTOMER))
    wait_for(lambda: _from_the_team(team) == [(customer_row(team).id, "+31612345678", "sent")])
    assert customer_row(team).paused and customer_row(team).needs_person_since is not None
    assert len(texts_to(fake_graph, TEAM)) == 2  # the list's answer and the alert: no noise
    sends = [r for r in log_rows(team) if r.upstream == "whatsapp" and r.status == "ok"]
    assert any(r.contact_id == customer_row(team).id for r in sends)

    write(client, CUSTOMER, "Thanks! And the candles?")  # a person answers: the bot is quiet
    wait_for(lambda: _state_of_last_from(team, CUSTOMER) == "paused")
    assert model_calls(fake_openrouter) == calls

    write(client, TEAM, " Done ", quoting=alert_id)
    wait_for(lambda: len(texts_to(fake_graph, TEAM)) == 3)
    assert texts_to(fake_graph, TEAM)[-1] == (
        "Done: the assistant answers Sheena Nelson (+16505551234) again."
    )
    assert not customer_row(team).paused and customer_row(team).needs_person_since is None

    fake_openrouter.reply("Candles come with every cake.")
    write(client, CUSTOMER, "So, candles?")
    wait_for(lambda: "Candles come with every cake." in texts_to(fake_graph, CUSTOMER))
    assert model_calls(fake_openrouter) == calls + 1
    wait_for(lambda: all(_team_states(team)))  # the team's own messages: stored, answered


def _from_the_team(app) -> list[tuple]:
    """(customer, sent by, state) of each message a person of the team wrote."""
    with app.app_context():
        found = select(Message.contact_id, Message.sent_by, Message.state)
        return [tuple(row) for row in db.session.execute(found.where(Message.author == "human"))]


def _state_of_last_from(app, number: str) -> str | None:
    with app.app_context():
        return db.session.scalar(
            select(Message.state).join(Contact, Contact.id == Message.contact_id)
            .where(Contact.customer_id == number, Message.direction == "in")
            .order_by(Message.id.desc()).limit(1)
        )  # fmt: skip


def _team_states(app) -> list[bool]:
    with app.app_context():
        rows = db.session.scalars(
            select(Message.state).join(Contact, Contact.id == Message.contact_id)
            .where(Contact.customer_id == TEAM, Message.direction == "in")
        ).all()  # fmt: skip
        return [state == "answered" for state in rows]


def test_pause_resume_and_list_answer_in_one_line(
    client, team, worker, fake_graph, fake_openrouter
):
    with team.app_context():
        db.session.add(Contact(customer_id=CUSTOMER, phone=CUSTOMER, profile_name="Sheena",
                               needs_person_since=utcnow() - timedelta(minutes=5),
                               needs_person_why="Asked for a person", paused=True))  # fmt: skip
        db.session.add(Contact(customer_id="447700900001", phone="447700900001"))
        db.session.commit()

    write(client, TEAM, "LIST")
    wait_for(lambda: texts_to(fake_graph, TEAM))
    assert texts_to(fake_graph, TEAM) == ["Needs you: Sheena (+16505551234): Asked for a person."]

    write(client, TEAM, "pause +44 7700 900001")
    wait_for(lambda: len(texts_to(fake_graph, TEAM)) == 2)
    assert texts_to(fake_graph, TEAM)[-1] == (
        "Paused: the assistant no longer answers +447700900001."
    )
    assert customer_row(team, "447700900001").paused

    write(client, TEAM, "  resume 00447700900001 ")
    wait_for(lambda: len(texts_to(fake_graph, TEAM)) == 3)
    assert texts_to(fake_graph, TEAM)[-1] == "Resumed: the assistant answers +447700900001 again."
    assert not customer_row(team, "447700900001").paused

    write(client, TEAM, "pause +1 212 555 0000")
    wait_for(lambda: len(texts_to(fake_graph, TEAM)) == 4)
    assert texts_to(fake_graph, TEAM)[-1] == "No customer with the number +1 212 555 0000."
    assert model_calls(fake_openrouter) == 0


def test_anything_else_from_a_team_number_gets_the_help_never_the_model(
    client, team, worker, fake_graph, fake_openrouter
):
    write(client, TEAM, "done with the cake?")

    wait_for(lambda: texts_to(fake_graph, TEAM))
    assert texts_to(fake_graph, TEAM) == [commands.HELP]
    assert model_calls(fake_openrouter) == 0
    wait_for(lambda: _team_states(team) == [True])  # stored, answered


def test_a_reply_to_the_alert_of_a_forgotten_customer_says_nothing_was_sent(
    client, team, worker, fake_graph, fake_openrouter
):
    alert_id = handed_over_with_alert(team, client, fake_graph, fake_openrouter)
    to_customer = len(texts_to(fake_graph, CUSTOMER))
    with team.app_context():
        assert contacts.forget(CUSTOMER)

    write(client, TEAM, "Your cake is ready", quoting=alert_id)

    wait_for(lambda: texts_to(fake_graph, TEAM)[-1] == commands.DELETED)
    assert len(texts_to(fake_graph, CUSTOMER)) == to_customer


def test_a_reply_when_the_customers_window_closed_says_so_and_sends_nothing(
    client, team, worker, fake_graph, fake_openrouter
):
    alert_id = handed_over_with_alert(team, client, fake_graph, fake_openrouter)
    to_customer = len(texts_to(fake_graph, CUSTOMER))
    with team.app_context():
        db.session.execute(
            Contact.__table__.update().where(Contact.customer_id == CUSTOMER)
            .values(last_inbound_at=utcnow() - timedelta(hours=25))
        )  # fmt: skip
        db.session.commit()

    write(client, TEAM, "Your cake is ready", quoting=alert_id)

    wait_for(lambda: texts_to(fake_graph, TEAM)[-1].startswith("Not sent:"))
    assert "last wrote over 24 hours ago" in texts_to(fake_graph, TEAM)[-1]
    assert "template" in texts_to(fake_graph, TEAM)[-1]
    assert len(texts_to(fake_graph, CUSTOMER)) == to_customer


def test_the_quoted_message_id_is_read_from_the_stored_delivery():
    raw = json.dumps({"context": {"from": BUSINESS, "id": "wamid.ALERT"}, "text": {"body": "x"}})
    assert commands.quoted_id(raw) == "wamid.ALERT"
    assert commands.quoted_id('{"text": {"body": "x"}}') is None
    assert commands.quoted_id("not json") is None


def test_a_reply_quoting_a_budget_alert_is_told_it_has_no_customer(
    team, client, worker, fake_graph, fake_openrouter
):
    write(client, TEAM, "list", name="Ana from the shop")  # the team number's window opens
    wait_for(lambda: texts_to(fake_graph, TEAM))
    with team.app_context():
        alerts.queue_note("Switchboard has spent $16.00 of the monthly budget.", Snapshot.load(
            team.config, commit=False))  # fmt: skip
        db.session.commit()
        alerts.send_due()

    def alert_sent():
        with team.app_context():
            return db.session.scalar(select(OwnerAlert.wa_message_id))

    told = wait_for(alert_sent)
    assert any("monthly budget" in text for text in texts_to(fake_graph, TEAM))
    write(client, TEAM, "Thanks, raising it now", quoting=told, name="Ana from the shop")
    wait_for(lambda: commands.NO_CUSTOMER in texts_to(fake_graph, TEAM))
    assert {to for to, _, _ in fake_graph.sent_texts()} == {TEAM}
    assert model_calls(fake_openrouter) == 0

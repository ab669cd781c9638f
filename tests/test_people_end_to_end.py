"""A person when it matters, from start to finish, with the real worker process, the webhook and
the fake Graph and OpenRouter: a customer asks for a person and is handed over (the handoff
reply, paused, needs you, the alert on the team's phone); the team member quotes the alert and
the customer gets the answer while the bot stays quiet; `done` gives them back and the bot
answers their next message. Then the WhatsApp Business app writes to them (an echo): the bot
is quiet again; and once their 24-hour window has closed, a template goes out with its
variables."""

import json
from datetime import timedelta

from sqlalchemy import select, update

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import delivery, fixture, text_message
from tests.support.processes import start_worker_process
from tests.support.templates import positional
from webapp import settings
from webapp.extensions import db
from webapp.models import Contact, Message, OwnerAlert, WhatsAppTemplate, utcnow
from webapp.people import needs

TEAM = "31612345678"  # the shop's own phone
CUSTOMER = "16505551234"  # Sheena Nelson: also the customer of Meta's recorded echo
HANDOFF = "I'm passing you to someone from our team. They'll reply here as soon as they can."


def write(client, number: str, text: str, quoting: str | None = None, name="Sheena Nelson"):
    message = text_message(number, text)
    if quoting:
        message["context"] = {"from": "15550783881", "id": quoting}
    assert post_webhook(client, delivery(message, name=name)).status_code == 200


def texts_to(fake_graph, number: str) -> list[str]:
    return [body for to, body, _ in fake_graph.sent_texts() if to == number]


def model_calls(fake_openrouter) -> int:
    return sum(1 for request in fake_openrouter.requests if request.path == CHAT_PATH)


def customer(app) -> Contact:
    with app.app_context():
        row = db.session.scalar(select(Contact).where(Contact.customer_id == CUSTOMER))
        db.session.expunge_all()
        return row


def last_state(app) -> str | None:
    with app.app_context():
        return db.session.scalar(
            select(Message.state)
            .join(Contact)
            .where(Contact.customer_id == CUSTOMER, Message.direction == "in")
            .order_by(Message.id.desc())
            .limit(1)
        )


def alert_id(app) -> str | None:
    with app.app_context():
        return db.session.scalar(select(OwnerAlert.wa_message_id))


def test_a_customer_handed_to_a_person_answered_from_the_phone_and_given_back(
    client, admin, whatsapp, fake_graph, fake_openrouter
):
    with whatsapp.app_context():
        settings.save({"owner_numbers": "+31 6 1234 5678", "merge_window_seconds": "0"}, "test")
    worker = start_worker_process(whatsapp)
    try:
        write(client, TEAM, "list", name="Ana from the shop")  # the team's window is open
        wait_for(lambda: texts_to(fake_graph, TEAM), timeout=30)

        write(client, CUSTOMER, "Can I talk to a real person please?")
        wait_for(lambda: HANDOFF in texts_to(fake_graph, CUSTOMER), timeout=30)
        assert model_calls(fake_openrouter) == 0  # the words asked for a person: no model
        held = customer(whatsapp)
        assert held.paused and held.needs_person_since is not None
        with whatsapp.app_context():
            [waiting] = needs.waiting()
        assert (waiting.contact.id, waiting.why) == (held.id, "Asked for a person (real person)")
        assert "Asked for a person (real person)" in admin.get("/admin/").get_data(as_text=True)
        quoted = wait_for(lambda: alert_id(whatsapp), timeout=30)
        assert "Sheena Nelson (+16505551234) needs you." in texts_to(fake_graph, TEAM)[-1]

        write(client, TEAM, "Hi Sheena, Ana here: of course, how can I help?", quoting=quoted)
        wait_for(lambda: "Hi Sheena, Ana here: of course, how can I help?"
                 in texts_to(fake_graph, CUSTOMER), timeout=30)  # fmt: skip
        write(client, CUSTOMER, "My cake order is for Saturday.")
        wait_for(lambda: last_state(whatsapp) == "paused", timeout=30)
        assert model_calls(fake_openrouter) == 0  # a person answers: the bot is quiet

        write(client, TEAM, "done", quoting=quoted)
        wait_for(lambda: not customer(whatsapp).paused, timeout=30)
        assert customer(whatsapp).needs_person_since is None
        fake_openrouter.reply("Saturday is fine: pick it up from 9.")
        write(client, CUSTOMER, "And when can I pick it up?")
        wait_for(lambda: "Saturday is fine: pick it up from 9."
                 in texts_to(fake_graph, CUSTOMER), timeout=30)  # fmt: skip

        assert post_webhook(client, fixture("smb_message_echoes_text.json")).status_code == 200
        assert customer(whatsapp).paused and customer(whatsapp).resume_at is not None
        calls = model_calls(fake_openrouter)
        write(client, CUSTOMER, "Thanks for the link!")
        wait_for(lambda: last_state(whatsapp) == "paused", timeout=30)
        assert model_calls(fake_openrouter) == calls  # the owner answers from the app
    finally:
        worker.terminate()
        worker.wait(timeout=30)

    with whatsapp.app_context():  # two days later: only a template can reach her
        db.session.execute(
            update(Contact)
            .where(Contact.customer_id == CUSTOMER)
            .values(last_inbound_at=utcnow() - timedelta(days=2))
        )
        template = positional()
        db.session.add(
            WhatsAppTemplate(name=template["name"], language=template["language"],
                             status="APPROVED", category="UTILITY",
                             parameter_format="POSITIONAL",
                             components=json.dumps(template["components"]))
        )  # fmt: skip
        db.session.commit()
        chosen = db.session.scalar(select(WhatsAppTemplate.id))
    thread = f"/admin/conversations/{held.id}"
    assert "Choose this template" in admin.get(thread).get_data(as_text=True)
    admin.post(f"{thread}/template", {"template": chosen, "header_1": "B-17",
                                      "body_1": "Sheena", "body_2": "Saturday 9:00"})  # fmt: skip
    [(to, name, components)] = fake_graph.sent_templates()
    assert (to, name) == (CUSTOMER, "appointment_reminder")
    assert [p["text"] for c in components for p in c["parameters"]] == [
        "B-17", "Sheena", "Saturday 9:00"
    ]  # fmt: skip

"""A daily budget reached, from start to finish, with the real worker process, the webhook and
the fake Graph and OpenRouter: the fake reports each answer's cost; once $0.01 is spent the
next customer gets the handoff reply and waits for a person, and the owner's phone is told
that the budget is spent."""

from sqlalchemy import select

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import delivery, text_message
from tests.support.processes import start_worker_process
from webapp import settings
from webapp.extensions import db
from webapp.models import Contact, OwnerAlert

TEAM = "31612345678"
FIRST, NEXT = "16505551234", "16505559876"
HANDOFF = "I'm passing you to someone from our team. They'll reply here as soon as they can."


def write(client, number: str, text: str, name="Sheena Nelson"):
    message = text_message(number, text)
    assert post_webhook(client, delivery(message, name=name)).status_code == 200


def texts_to(fake_graph, number: str) -> list[str]:
    return [body for to, body, _ in fake_graph.sent_texts() if to == number]


def test_a_daily_budget_reached_hands_the_next_customer_over_and_tells_the_owner(
    client, whatsapp, fake_graph, fake_openrouter
):
    with whatsapp.app_context():
        settings.save({"owner_numbers": "+31 6 1234 5678", "daily_budget": "0.01",
                       "budget_action": "handoff", "embedding_model": ""}, "test")  # fmt: skip
    worker = start_worker_process(whatsapp)
    try:
        write(client, TEAM, "list", name="Ana from the shop")  # the team's window is open
        wait_for(lambda: texts_to(fake_graph, TEAM), timeout=30)

        fake_openrouter.reply("Our sofas come in blue and grey.", cost=0.01)
        write(client, FIRST, "Which colours do the sofas come in?")
        wait_for(lambda: texts_to(fake_graph, FIRST), timeout=30)
        assert texts_to(fake_graph, FIRST) == ["Our sofas come in blue and grey."]

        write(client, NEXT, "Do you deliver on Sunday?", name="Tom")
        wait_for(lambda: texts_to(fake_graph, NEXT), timeout=30)
        assert texts_to(fake_graph, NEXT) == [HANDOFF]
        calls = [r for r in fake_openrouter.requests if r.path == CHAT_PATH]
        assert len(calls) == 1  # the budget was spent: the next customer cost nothing

        told = wait_for(lambda: [t for t in texts_to(fake_graph, TEAM) if "budget" in t],
                        timeout=30)  # fmt: skip
        assert told[0].startswith(
            "Switchboard has spent $0.01 of the daily budget of $0.01 today: the budget is spent."
        )
        wait_for(lambda: any(t.startswith("Tom (+16505559876) needs you.\nWhy: The budget is "
                                          "spent") for t in texts_to(fake_graph, TEAM)),
                 timeout=30)  # fmt: skip
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    with whatsapp.app_context():
        held = db.session.scalar(select(Contact).where(Contact.customer_id == NEXT))
        assert held.paused and held.needs_person_why == "The budget is spent"
        budget_alerts = db.session.scalars(
            select(OwnerAlert.state).where(OwnerAlert.contact_id.is_(None))
        ).all()
        assert budget_alerts == ["sent"]  # once, though the job and the turn both looked

"""Outside opening hours: answer as usual, answer with a note, or the away message at most
once in 12 hours a customer and nothing else (the real worker, the real database)."""

import html
import json
import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import text_delivery
from tests.support.processes import start_worker_process
from tests.support.replies import CUSTOMER, finished, states
from tests.support.try_it import answered, openrouter_only
from webapp import contacts, settings
from webapp.extensions import db, transaction
from webapp.knowledge import after_hours
from webapp.models import Contact

AWAY = "Thanks! We're closed now and reply when we open."


def closed_now() -> str:
    """Hours that are set, with yesterday, today and tomorrow (UTC) closed dates."""
    today = datetime.now(UTC).date()
    dates = [(today + timedelta(days=d)).isoformat() for d in (-1, 0, 1)]
    return json.dumps({"mon": [["09:00", "17:00"]], "closed": dates})


ALWAYS_OPEN = json.dumps({day: [["00:00", "24:00"]] for day in
                          ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})  # fmt: skip


def chats(fake_openrouter) -> list[dict]:
    return [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]


def configure(app, **values) -> None:
    with app.app_context():
        settings.save({"timezone": "UTC", "away_message": AWAY, **values}, author="test")


def test_outside_hours_the_note_follows_the_answer(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    configure(whatsapp, opening_hours=closed_now(), after_hours="note",
              after_hours_note="We're closed; a person follows up tomorrow.")  # fmt: skip
    fake_openrouter.reply("Yes, we have rye bread.")
    post_webhook(client, text_delivery(CUSTOMER, "Rye bread?"))
    wait_for(lambda: fake_graph.sent_texts())
    [(_, text, _)] = fake_graph.sent_texts()
    assert text == "Yes, we have rye bread.\n\nWe're closed; a person follows up tomorrow."
    assert "Right now the business is closed" in chats(fake_openrouter)[0]["messages"][0]["content"]


def test_inside_hours_there_is_no_note_and_no_away_message(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    configure(whatsapp, opening_hours=ALWAYS_OPEN, after_hours="away")
    fake_openrouter.reply("Yes, we have rye bread.")
    post_webhook(client, text_delivery(CUSTOMER, "Rye bread?"))
    wait_for(lambda: fake_graph.sent_texts())
    assert [text for _, text, _ in fake_graph.sent_texts()] == ["Yes, we have rye bread."]


def test_the_away_message_goes_once_in_12_hours_from_the_worker_process(
    client, whatsapp, fake_openrouter, fake_graph
):
    configure(whatsapp, opening_hours=closed_now(), after_hours="away")
    fake_openrouter.reply("The model must not be asked.")
    worker = start_worker_process(whatsapp)
    try:
        post_webhook(client, text_delivery(CUSTOMER, "Hello?", "wamid.AWAY1"))
        wait_for(lambda: finished(whatsapp, 1), timeout=30)
        post_webhook(client, text_delivery(CUSTOMER, "Anyone there?", "wamid.AWAY2"))
        wait_for(lambda: finished(whatsapp, 2), timeout=30)
        assert [text for _, text, _ in fake_graph.sent_texts()] == [AWAY]
        assert states(whatsapp) == ["answered", "answered"]  # nothing more: not a failure
        with whatsapp.app_context():  # 13 hours later, the customer hears it again
            earlier = datetime.now(UTC) - timedelta(hours=13)
            db.session.execute(update(Contact).values(away_sent_at=earlier))
            db.session.commit()
        post_webhook(client, text_delivery(CUSTOMER, "Open yet?", "wamid.AWAY3"))
        wait_for(lambda: finished(whatsapp, 3), timeout=30)
        assert [text for _, text, _ in fake_graph.sent_texts()] == [AWAY, AWAY]
    finally:
        worker.terminate()
        worker.wait(30)
    assert chats(fake_openrouter) == []


def test_of_two_turns_racing_only_one_sends_the_away_message(app):
    with app.app_context():
        contact_id, _ = contacts.upsert("31612345678", phone="31612345678")
        db.session.commit()
    rounds, racers = 10, 4
    for _ in range(rounds):
        with app.app_context():
            db.session.execute(update(Contact).values(away_sent_at=None))
            db.session.commit()
        start, won = threading.Barrier(racers), []

        def race(start=start, won=won):
            with app.app_context():
                start.wait()
                with transaction():
                    if after_hours.claim_away(contact_id):
                        won.append(1)
                db.session.remove()

        threads = [threading.Thread(target=race) for _ in range(racers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert len(won) == 1
    with app.app_context():
        sent_at = db.session.scalar(select(Contact.away_sent_at).where(Contact.id == contact_id))
        assert sent_at is not None


def test_try_it_gets_the_away_message_as_a_customer_would(app, admin, fake_openrouter, worker):
    openrouter_only(app, fake_openrouter.base_url)
    configure(app, opening_hours=closed_now(), after_hours="away")
    admin.post("/admin/try", {"message": "Hello?"})
    wait_for(lambda: answered(app))
    admin.post("/admin/try", {"message": "Still there?"})
    wait_for(lambda: answered(app, 2))
    page = admin.get("/admin/try").get_data(as_text=True)
    assert html.unescape(page).count(AWAY) == 1
    assert chats(fake_openrouter) == []


def test_a_flow_is_answered_outside_hours_without_the_note(ask, whatsapp, fake_openrouter):
    configure(whatsapp, opening_hours=closed_now(), after_hours="away")
    fake_openrouter.reply("We open on Monday.")
    fake_openrouter.reply("We open on Monday.")
    answer = ask({"messages": [{"role": "user", "content": "Open?"}]}).get_json()
    assert answer["choices"][0]["message"]["content"] == "We open on Monday."
    configure(whatsapp, after_hours="note")
    answer = ask({"messages": [{"role": "user", "content": "Open?"}]}).get_json()
    assert answer["choices"][0]["message"]["content"] == "We open on Monday."

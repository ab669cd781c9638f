"""A customer's limits: past their answers per hour or cost per day they get the limit reply
once, then silence (no model called, no file read) until the period ends or the owner lifts it."""

import threading
from datetime import timedelta

from sqlalchemy import func, select

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import delivery, text_message
from tests.support.processes import start_worker_process
from tests.support.replies import finished, log_rows, states
from tests.support.try_it import answered, openrouter_only
from webapp import settings
from webapp.extensions import db
from webapp.models import Contact, Message, Turn, utcnow
from webapp.money import limits
from webapp.snapshot import Snapshot

CUSTOMER = "16505551234"
LIMIT_REPLY = "You've sent a lot of messages; I'll be able to answer again a little later."


def write(client, text: str, number: str = CUSTOMER):
    assert post_webhook(client, delivery(text_message(number, text))).status_code == 200


def texts_to(fake_graph, number: str = CUSTOMER) -> list[str]:
    return [body for to, body, _ in fake_graph.sent_texts() if to == number]


def model_calls(fake_openrouter) -> int:
    return sum(1 for request in fake_openrouter.requests if request.path == CHAT_PATH)


def contact(app) -> Contact:
    with app.app_context():
        row = db.session.scalar(select(Contact).where(Contact.customer_id == CUSTOMER))
        db.session.expunge_all()
        return row


def limited_messages(app) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).where(Message.error_kind == "customer_limited")
        )


def test_forty_messages_in_an_hour_get_the_limit_reply_once_and_then_nothing(
    client, whatsapp, fake_graph, fake_openrouter
):
    with whatsapp.app_context():
        settings.save({"merge_window_seconds": "0", "max_turns_per_customer_per_hour": "3"}, "t")
    worker = start_worker_process(whatsapp)
    try:
        for n in range(3):  # answered one by one: three turns, three model calls
            fake_openrouter.reply(f"Answer {n}")
            write(client, f"Question {n}")
            wait_for(lambda n=n: len(texts_to(fake_graph)) == n + 1, timeout=30)
        for n in range(3, 40):
            write(client, f"Question {n}")
        wait_for(lambda: finished(whatsapp, 40), timeout=60)
    finally:
        worker.terminate()
        worker.wait(timeout=10)
    sent = texts_to(fake_graph)
    assert sent.count(LIMIT_REPLY) == 1
    assert len(sent) == 4  # three answers and the limit reply: nothing after it
    assert model_calls(fake_openrouter) == 3
    held = contact(whatsapp)
    assert held.limited_until > utcnow() + timedelta(minutes=55)
    assert "3 answers within an hour" in held.limited_why
    assert limited_messages(whatsapp) == 37
    limited_rows = [r for r in log_rows(whatsapp) if r.error_kind == "customer_limited"]
    assert len(limited_rows) == 1 and "Lift" in limited_rows[0].error_message


def test_a_customer_who_cost_the_days_limit_is_limited_until_midnight(
    client, whatsapp, worker, fake_graph, fake_openrouter
):
    # The fake OpenRouter reports $0.005 a call: two calls reach the day's $0.01.
    with whatsapp.app_context():
        settings.save({"merge_window_seconds": "0", "max_cost_per_customer_per_day": "0.01",
                       "limit_reply": ""}, "t")  # fmt: skip
    for n in range(2):
        fake_openrouter.reply(f"Answer {n}", cost=0.005)
        write(client, f"Question {n}")
        wait_for(lambda n=n: finished(whatsapp, n + 1), timeout=30)
    write(client, "Question 2")
    write(client, "Question 3")
    wait_for(lambda: finished(whatsapp, 4), timeout=30)
    assert model_calls(fake_openrouter) == 2
    assert len(texts_to(fake_graph)) == 2  # an empty limit reply: nothing is sent
    held = contact(whatsapp)
    assert "cost $0.01 today" in held.limited_why
    assert held.limited_until.hour == 0 and held.limited_until > utcnow()  # the next midnight (UTC)
    assert states(whatsapp)[-1] == "failed" and limited_messages(whatsapp) == 2


def test_lifted_a_customer_is_answered_again_and_counted_afresh(
    client, whatsapp, worker, fake_graph, fake_openrouter, runner
):
    with whatsapp.app_context():
        settings.save({"merge_window_seconds": "0", "max_turns_per_customer_per_hour": "1"}, "t")
    fake_openrouter.reply("Answer 0")
    write(client, "Question 0")
    wait_for(lambda: finished(whatsapp, 1), timeout=30)
    write(client, "Question 1")
    wait_for(lambda: LIMIT_REPLY in texts_to(fake_graph), timeout=30)
    result = runner.invoke(args=["contacts", "lift", "+1 (650) 555-1234"])
    assert result.exit_code == 0 and "answered again" in result.output
    assert contact(whatsapp).limited_until is None
    fake_openrouter.reply("Answer 2")
    write(client, "Question 2")
    wait_for(lambda: finished(whatsapp, 3), timeout=30)
    assert model_calls(fake_openrouter) == 2
    again = runner.invoke(args=["contacts", "lift", "+1 650 555 1234"])
    assert again.exit_code == 1 and "is not limited" in again.output
    unknown = runner.invoke(args=["contacts", "lift", "+44 20 7946 0000"])
    assert unknown.exit_code == 1 and "No customer" in unknown.output


def test_two_workers_limiting_the_same_customer_at_once_tell_them_once(app):
    with app.app_context():
        settings.save({"max_turns_per_customer_per_hour": "1"}, "t")
        db.session.add(Contact(customer_id=CUSTOMER, phone=CUSTOMER))
        db.session.commit()
        contact_id = db.session.scalar(select(Contact.id))
        db.session.execute(Turn.__table__.insert().values(contact_id=contact_id, state="answered"))
        db.session.commit()
        snap = Snapshot.load(app.config)
    told, ready = [], threading.Barrier(2)

    def look():
        with app.app_context():
            ready.wait()
            limited = limits.look(contact_id, snap)
            db.session.commit()
            told.append(limited.now_limited)

    threads = [threading.Thread(target=look) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(told) == [False, True]


def test_the_try_it_test_customer_is_never_limited(admin, app, worker, fake_openrouter):
    openrouter_only(app, fake_openrouter.base_url, max_turns_per_customer_per_hour="1")
    for n in range(3):
        fake_openrouter.reply(f"Answer {n}")
        assert admin.post("/admin/try", {"message": f"Question {n}"}).status_code == 303
        wait_for(lambda n=n: answered(app, n + 1), timeout=30)
    assert model_calls(fake_openrouter) == 3 and limited_messages(app) == 0

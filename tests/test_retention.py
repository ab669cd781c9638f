"""Retention deletes what is older than the setting, and never what a customer has just sent,
what the queue still holds, or a row the database will not let go."""

import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from tests.conftest import post_webhook, wait_for
from tests.support.interleaving import interleaved
from tests.support.payloads import text_delivery
from tests.support.replies import CUSTOMER
from webapp import contacts, media_store, settings
from webapp.data import retention
from webapp.extensions import db
from webapp.models import Contact, Message, RequestLog, Turn, utcnow
from webapp.worker.process import Worker

LONG_AGO = timedelta(days=40)  # the tests keep 30 days
NEW_TEXT = "are you open today?"


def gone(**counts: int) -> dict[str, int]:
    """What retention says it deleted: `counts`, and nothing of the rest."""
    return dict.fromkeys(retention.COUNTED, 0) | counts


def keep_30_days() -> None:
    settings.save({"retention_days": "30"}, author="test")


def customer(number: str, age: timedelta = LONG_AGO, **values) -> Contact:
    """A customer first seen `age` ago, with a question and its answer from then."""
    when = utcnow() - age
    contact = Contact(customer_id=number, phone=number, created_at=when, **values)
    db.session.add(contact)
    db.session.flush()
    question = Message(contact_id=contact.id, direction="in", author="customer", text="hello",
                       state="answered", created_at=when)  # fmt: skip
    db.session.add(question)
    db.session.flush()
    db.session.add(Message(contact_id=contact.id, direction="out", author="bot", text="hi!",
                           state="read", reply_to_id=question.id, created_at=when))  # fmt: skip
    db.session.commit()
    return contact


def texts() -> list[str]:
    return list(db.session.scalars(select(Message.text).order_by(Message.id)))


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def answers(app, fake_graph) -> list[str]:
    """What the worker sends: it answers the waiting messages (and, as it starts, runs
    retention itself, which may then delete a 40-day-old message it answered)."""
    worker = Worker(app, threads=2, poll=0.01).start()
    try:
        wait_for(fake_graph.sent_texts)
    finally:
        worker.stop()
    return [body for _to, body, _quoted in fake_graph.sent_texts()]


def test_an_old_conversation_goes_with_the_customer_who_has_nothing_left(app):
    with app.app_context():
        customer("31600000001")
        customer("31600000002", paused=True)  # a person took over: remembered
        kept = customer("31600000003")
        db.session.add(Message(contact_id=kept.id, direction="in", author="customer",
                               text="me again", state="answered"))  # fmt: skip
        db.session.commit()
        keep_30_days()
        assert retention.purge() == gone(messages=6, contacts=1)
        assert db.session.scalars(select(Contact.customer_id).order_by(Contact.id)).all() == [
            "31600000002",
            "31600000003",
        ]
        assert texts() == ["me again"]


def test_a_reply_keeps_its_text_when_the_message_it_quoted_goes(app):
    with app.app_context():
        contact = customer(CUSTOMER)
        question = db.session.scalar(select(Message.id).where(Message.direction == "in"))
        db.session.add(Message(contact_id=contact.id, direction="out", author="human",
                               text="sorry for the wait", state="read", reply_to_id=question,
                               created_at=utcnow() - timedelta(days=10)))  # fmt: skip
        db.session.commit()
        keep_30_days()
        assert retention.purge()["messages"] == 2
        reply = db.session.scalar(select(Message))
        assert (reply.text, reply.reply_to_id) == ("sorry for the wait", None)


def test_a_message_still_waiting_for_its_answer_is_kept_and_answered(
    client, whatsapp, fake_openrouter, fake_graph
):
    """No worker ran for weeks: the message Meta was told was stored is still answered."""
    fake_openrouter.echo()
    assert post_webhook(client, text_delivery(CUSTOMER, NEW_TEXT)).status_code == 200
    with whatsapp.app_context():
        db.session.execute(update(Message).values(created_at=utcnow() - LONG_AGO))
        db.session.execute(update(Contact).values(created_at=utcnow() - LONG_AGO))
        db.session.commit()
        keep_30_days()
        assert retention.purge() == gone()
    assert answers(whatsapp, fake_graph) == [f"echo: {NEW_TEXT}"]


def test_a_row_the_database_refuses_to_delete_is_logged_and_the_rest_still_goes(app, caplog):
    """A table retention knows nothing of still points at one customer: that customer stays,
    the server log says so, the others go, and the next run tries again."""
    with app.app_context():
        numbers = ["31600000011", "31600000012", "31600000013"]
        ids = [customer(number).id for number in numbers]
        db.session.execute(
            text("CREATE TABLE notes (id INTEGER PRIMARY KEY, contact_id INTEGER NOT NULL "
                 "REFERENCES contacts (id))")
        )  # fmt: skip
        db.session.execute(text("INSERT INTO notes (id, contact_id) VALUES (1, :c)"), {"c": ids[1]})
        db.session.commit()
        keep_30_days()
        with caplog.at_level(logging.WARNING, logger=retention.__name__):
            assert retention.purge() == gone(messages=6, contacts=2)
            assert retention.purge()["contacts"] == 0  # still refused, and no loop
        assert db.session.scalars(select(Contact.customer_id)).all() == [numbers[1]]
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 2
        assert f"left contacts the database refused to delete: 1, ids {ids[1]} (" in warnings[0]
        assert warnings[0].endswith("the next run tries again")
        db.session.execute(text("DELETE FROM notes"))
        db.session.commit()
        assert retention.purge()["contacts"] == 1


def test_a_file_fetched_again_while_retention_runs_stays_for_its_turn(app):
    """The customer sends the photo of 40 days ago again: the turn answering it has just
    stored the file and not yet recorded it on the message when retention deletes the old
    one. The file stays for the turn."""
    photo = "c" * 64
    with app.app_context():
        contact = customer(CUSTOMER)
        db.session.execute(update(Message).values(media_file=photo))
        again = Message(contact_id=contact.id, direction="in", author="customer", type="image",
                        state="processing")  # fmt: skip
        db.session.add(again)
        db.session.commit()
        path = media_store.folder() / photo
        path.write_bytes(b"jpg")  # by the turn, just now
        keep_30_days()
        assert retention.purge()["messages"] == 2
        assert path.exists()
        again.media_file = photo  # the turn records what it fetched
        db.session.commit()
        assert media_store.sweep_left_over(time.time() + media_store.LEFT_OVER_SECONDS + 1) == 0
        assert path.exists()


# PostgreSQL: the webhook and the purge really run at once, on two connections.


def new_message_stored(session) -> bool:
    """The webhook's transaction: the customer's row and their new message written."""
    return bool(session.scalar(select(func.count(Message.id)).where(Message.text == NEW_TEXT)))


def customer_deleted(session) -> bool:
    """Retention's last transaction: the idle customer's row deleted."""
    return not session.scalar(select(func.count()).select_from(Contact))


@pytest.mark.postgresql_only("SQLite writes one transaction at a time: the purge waits")
def test_a_message_stored_while_retention_deletes_the_customer_is_kept_and_answered(
    client, whatsapp, fake_openrouter, fake_graph
):
    """The customer's old conversation is being deleted when they write again."""
    fake_openrouter.echo()
    with whatsapp.app_context():
        customer(CUSTOMER)
        keep_30_days()
    with interleaved(whatsapp, new_message_stored, retention.purge) as purge:
        assert post_webhook(client, text_delivery(CUSTOMER, NEW_TEXT)).status_code == 200
    with whatsapp.app_context():
        assert texts() == [NEW_TEXT]
    # The old conversation went, the customer the webhook was writing was skipped, not waited for.
    assert purge.outcome == [gone(messages=2)]
    assert not purge.waited
    assert answers(whatsapp, fake_graph) == [f"echo: {NEW_TEXT}"]


@pytest.mark.postgresql_only("SQLite writes one transaction at a time: forget waits")
def test_forgetting_a_customer_as_they_write_deletes_all_that_was_stored(client, whatsapp):
    with whatsapp.app_context():
        customer(CUSTOMER, age=timedelta(0))
    with interleaved(whatsapp, new_message_stored, lambda: contacts.forget(CUSTOMER)) as forget:
        assert post_webhook(client, text_delivery(CUSTOMER, NEW_TEXT)).status_code == 200
    assert forget.outcome == [True] and forget.waited
    with whatsapp.app_context():
        assert [count(model) for model in (Contact, Message, Turn, RequestLog)] == [0, 0, 0, 0]


@pytest.mark.postgresql_only("SQLite writes one transaction at a time: the webhook waits")
def test_a_message_arriving_as_retention_deletes_the_idle_customer_is_kept_and_answered(
    client, whatsapp, fake_openrouter, fake_graph
):
    """The other order: retention has deleted the customer, not yet committed, when they
    write again. The webhook waits for it, then stores them afresh with their message."""
    fake_openrouter.echo()
    with whatsapp.app_context():
        customer(CUSTOMER)
        keep_30_days()

        def deliver() -> int:
            return post_webhook(client, text_delivery(CUSTOMER, NEW_TEXT)).status_code

        with interleaved(whatsapp, customer_deleted, deliver) as webhook:
            assert retention.purge() == gone(messages=2, contacts=1)
        assert webhook.outcome == [200] and webhook.waited
        assert texts() == [NEW_TEXT]
    assert answers(whatsapp, fake_graph) == [f"echo: {NEW_TEXT}"]

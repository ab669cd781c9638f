"""Who a customer is: one normaliser for numbers however typed; contacts created race-free."""

import pytest
from sqlalchemy import func, select

from tests.conftest import deliver_together, post_webhook, wait_for
from tests.support.payloads import delivery, text_delivery, text_message
from tests.support.replies import finished, states
from webapp.contacts import normalise_number
from webapp.extensions import db
from webapp.models import Contact, Message


@pytest.mark.parametrize(
    ("typed", "wa_id"),
    [
        ("15557100007", "15557100007"),
        ("+1 555-710-0007", "15557100007"),
        ("+1 (555) 710.0007", "15557100007"),
        ("0031 6 1234 5678", "31612345678"),
        ("  +31 6-12 34 56 78 ", "31612345678"),
        ("+44\u00a07700 900123", "447700900123"),
        ("US.13491208655302741918", "US.13491208655302741918"),
    ],
)
def test_a_number_typed_as_people_type_it_is_the_number_whatsapp_sends(typed, wa_id):
    assert normalise_number(typed) == wa_id


def test_pausing_a_typed_number_pauses_the_customer_not_a_phantom(
    client, whatsapp, worker, runner, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    post_webhook(client, text_delivery("15557100007", "hello"))
    wait_for(lambda: finished(whatsapp))
    result = runner.invoke(args=["contacts", "pause", "+1 555-710-0007"])
    assert result.exit_code == 0, result.output
    post_webhook(client, text_delivery("15557100007", "still there?"))
    assert states(whatsapp) == ["answered", "paused"]
    assert len(fake_graph.sent_texts()) == 1
    with whatsapp.app_context():
        assert db.session.scalar(select(func.count()).select_from(Contact)) == 1
    result = runner.invoke(args=["contacts", "resume", "0015557100007"])
    assert result.exit_code == 0, result.output
    with whatsapp.app_context():
        assert db.session.scalar(select(Contact.paused)) is False


def test_the_log_filter_finds_a_customer_by_a_typed_number(
    client, admin, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    post_webhook(client, text_delivery("15557100007", "hello"))
    wait_for(lambda: finished(whatsapp))
    page = admin.get("/admin/logs?contact=%2B1+555-710-0007").get_data(as_text=True)
    assert "+15557100007" in page and "No calls" not in page


def test_two_first_messages_of_a_new_customer_at_the_same_instant_are_both_kept(
    whatsapp, live_server
):
    """Against the real server (waitress): the contact is created once, no message is lost."""

    for round_ in range(20):
        number = f"3165000{round_:04d}"
        bodies = [text_delivery(number, f"message {n}", f"wamid.RACE{round_}x{n}") for n in (1, 2)]
        assert deliver_together(live_server, bodies) == [200, 200]
    with whatsapp.app_context():
        assert db.session.scalar(select(func.count()).select_from(Contact)) == 20
        assert db.session.scalar(select(func.count()).select_from(Message)) == 40


def test_a_redelivery_is_acknowledged_and_stored_once_while_a_new_message_in_it_is_kept(
    client, whatsapp
):
    first = text_message("15557100007", "one", "wamid.SEEN")
    assert post_webhook(client, delivery(first)).status_code == 200
    again = delivery(first, text_message("15557100007", "two", "wamid.NEW"))
    assert post_webhook(client, again).status_code == 200
    with whatsapp.app_context():
        texts = db.session.scalars(select(Message.text).order_by(Message.id)).all()
    assert texts == ["one", "two"]

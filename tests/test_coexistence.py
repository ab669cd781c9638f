"""The WhatsApp Business app on the same number: echoes hold the bot, history fills past
threads unanswered, the app's address book names customers. Meta's recorded examples are
posted, signed, through the real webhook route; the real worker answers (or not)."""

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from tests.conftest import post_webhook, wait_for
from tests.support.payloads import fixture, text_delivery
from tests.support.replies import CUSTOMER, states
from webapp import contacts, settings
from webapp.extensions import db
from webapp.models import Contact, Message, RequestLog, Turn, utcnow
from webapp.people.coexistence import APP

ECHO = "smb_message_echoes_text.json"
ECHO_ID = "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBIyNDlBOEI5QUQ4NDc0N0FCNjMA"
OTHER = "12125557890"  # the second thread of Meta's history example


def messages(app, **where) -> list[Message]:
    with app.app_context():
        query = select(Message).filter_by(**where).order_by(Message.created_at, Message.id)
        found = db.session.scalars(query).all()
        db.session.expunge_all()
        return found


def contact(app, number: str) -> Contact | None:
    with app.app_context():
        found = contacts.find(number)
        if found is not None:
            db.session.expunge(found)
        return found


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def echo_rows(app) -> list[RequestLog]:
    with app.app_context():
        rows = db.session.scalars(select(RequestLog).where(RequestLog.operation == "echo")).all()
        db.session.expunge_all()
        return rows


def texts_sent(fake_graph) -> list[str]:
    return [body for _, body, _ in fake_graph.sent_texts()]


def test_an_echo_is_the_teams_message_and_the_bot_stays_quiet_until_the_hold_ends(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    assert post_webhook(client, fixture(ECHO)).status_code == 200

    [sent] = messages(whatsapp)
    assert (sent.direction, sent.author, sent.sent_by) == ("out", "human", APP)
    assert (sent.state, sent.wa_message_id) == ("sent", ECHO_ID)
    assert sent.text.startswith("Here's the info you requested!")
    held = contact(whatsapp, CUSTOMER)  # unknown before: the echo made them a customer
    assert held.paused and held.last_inbound_at is None  # only the customer opens the window
    assert abs(held.resume_at - (utcnow() + timedelta(minutes=30))) < timedelta(minutes=1)
    [logged] = echo_rows(whatsapp)
    assert (logged.upstream, logged.status, logged.contact_id) == ("whatsapp", "ok", held.id)

    post_webhook(client, text_delivery(CUSTOMER, "and the price?"))
    assert states(whatsapp) == ["paused"]

    with whatsapp.app_context():  # the 30 minutes have passed
        past = utcnow() - timedelta(seconds=1)
        db.session.execute(update(Contact).where(Contact.id == held.id).values(resume_at=past))
        db.session.commit()
    post_webhook(client, text_delivery(CUSTOMER, "hello again"))
    wait_for(lambda: fake_graph.sent_texts())
    assert texts_sent(fake_graph) == ["echo: hello again"]
    assert count(whatsapp, Turn) == 1


def test_an_echo_leaves_the_customers_window_as_they_left_it(client, whatsapp):
    post_webhook(client, text_delivery(CUSTOMER, "are you open?"))
    before = contact(whatsapp, CUSTOMER).last_inbound_at
    post_webhook(client, fixture(ECHO))
    assert contact(whatsapp, CUSTOMER).last_inbound_at == before
    assert len(messages(whatsapp, direction="in")) == 1


def test_an_echo_delivered_twice_is_stored_and_logged_once(client, whatsapp):
    assert post_webhook(client, fixture(ECHO)).status_code == 200
    assert post_webhook(client, fixture(ECHO)).status_code == 200
    assert len(messages(whatsapp)) == 1
    assert len(echo_rows(whatsapp)) == 1


def test_without_pause_on_staff_reply_an_echo_is_stored_but_the_bot_answers_on(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    with whatsapp.app_context():
        settings.save({"pause_on_staff_reply": "off"}, author="test")
    post_webhook(client, fixture(ECHO))
    assert not contact(whatsapp, CUSTOMER).paused
    post_webhook(client, text_delivery(CUSTOMER, "thanks, and the price?"))
    wait_for(lambda: fake_graph.sent_texts())
    assert texts_sent(fake_graph) == ["echo: thanks, and the price?"]


def test_history_fills_past_threads_and_nothing_is_answered(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    assert post_webhook(client, fixture("history_threads.json")).status_code == 200

    thread = messages(whatsapp, contact_id=contact(whatsapp, CUSTOMER).id)
    assert [(m.direction, m.author, m.sent_by, m.type, m.state) for m in thread] == [
        ("out", "human", APP, "text", "read"),
        ("out", "human", APP, "media_placeholder", "read"),  # PLAYED
        ("in", "customer", None, "text", "ignored"),
    ]
    assert thread[0].created_at.replace(tzinfo=UTC) == datetime.fromtimestamp(1739230955, UTC)
    [other] = messages(whatsapp, contact_id=contact(whatsapp, OTHER).id)
    assert (other.author, other.state) == ("human", "delivered")
    customer = contact(whatsapp, CUSTOMER)
    assert customer.last_inbound_at.replace(tzinfo=UTC) == datetime.fromtimestamp(1739230970, UTC)
    assert not customer.paused  # the past is no reply of the team's now
    assert contact(whatsapp, OTHER).last_inbound_at is None
    assert echo_rows(whatsapp) == []

    # A customer writing now is answered: the worker ran, and history got nothing from it.
    post_webhook(client, text_delivery("31612345678", "hi"))
    wait_for(lambda: fake_graph.sent_texts())
    assert texts_sent(fake_graph) == ["echo: hi"]
    assert count(whatsapp, Turn) == 1


def test_history_delivered_twice_and_an_echo_it_repeats_are_stored_once(client, whatsapp):
    post_webhook(client, fixture(ECHO))  # its id is the first message of the history example
    post_webhook(client, fixture("history_threads.json"))
    post_webhook(client, fixture("history_threads.json"))
    assert len(messages(whatsapp)) == 4
    assert len(messages(whatsapp, wa_message_id=ECHO_ID)) == 1


def test_a_files_contents_sent_after_its_placeholder_fill_it_in(
    client, whatsapp, worker, fake_graph
):
    post_webhook(client, fixture("history_threads.json"))
    post_webhook(client, fixture("history_media_contents.json"))
    [filled] = messages(whatsapp, type="image")
    assert filled.text == "Black Prince echeveria"
    assert len(messages(whatsapp)) == 4
    assert count(whatsapp, Turn) == 0 and fake_graph.sent_texts() == []


def test_history_the_owner_declined_to_share_is_said_in_the_log(client, whatsapp):
    assert post_webhook(client, fixture("history_declined.json")).status_code == 200
    with whatsapp.app_context():
        row = db.session.scalar(select(RequestLog).where(RequestLog.status == "error"))
        assert "History sync is turned off" in row.error_message
    assert messages(whatsapp) == []


def test_the_apps_address_book_names_customers_and_a_removal_clears_the_name(
    client, whatsapp, admin
):
    post_webhook(client, fixture("text.json"))  # from Sheena Nelson, 16505551234
    post_webhook(client, fixture("smb_app_state_sync_add.json"))
    named = contact(whatsapp, CUSTOMER)
    assert named.saved_name == "Pablo Morales"
    assert contacts.name_of(named) == "Pablo Morales"
    page = admin.get(f"/admin/conversations/{named.id}")
    assert page.status_code == 200 and "Pablo Morales" in page.get_data(as_text=True)
    assert "Pablo Morales" in admin.get("/admin/conversations").get_data(as_text=True)

    post_webhook(client, fixture("smb_app_state_sync_remove_RECONSTRUCTED.json"))
    cleared = contact(whatsapp, CUSTOMER)
    assert cleared.saved_name is None
    assert contacts.name_of(cleared) == "Sheena Nelson"


def test_a_removed_number_never_seen_is_not_made_a_customer(client, whatsapp):
    post_webhook(client, fixture("smb_app_state_sync_remove_RECONSTRUCTED.json"))
    assert count(whatsapp, Contact) == 0
    post_webhook(client, fixture("smb_app_state_sync_add.json"))
    assert contact(whatsapp, CUSTOMER).saved_name == "Pablo Morales"


def test_malformed_echoes_and_history_are_skipped_and_the_rest_stored(client, whatsapp):
    echoes = json.loads(fixture(ECHO))
    value = echoes["entry"][0]["changes"][0]["value"]
    good = value["message_echoes"][0]
    value["message_echoes"] = [
        {**good, "id": None},  # nothing to dedupe on
        {k: v for k, v in good.items() if k != "to"},  # nobody's thread
        "not an echo",
        {**good, "to": "+1 650-555-1234"},  # as typed: the same customer
    ]
    history = json.loads(fixture("history_threads.json"))
    chunk = history["entry"][0]["changes"][0]["value"]["history"][0]
    chunk["threads"][0]["messages"][0].pop("from")
    chunk["threads"].insert(0, {"id": None, "messages": [good]})
    chunk["threads"].append(["not", "a", "thread"])
    assert post_webhook(client, echoes).status_code == 200
    assert post_webhook(client, history).status_code == 200
    stored = messages(whatsapp)
    assert [m.wa_message_id for m in stored].count(ECHO_ID) == 1
    assert len(stored) == 4  # the echo, and history's three whole messages
    assert contact(whatsapp, CUSTOMER).phone == CUSTOMER


def test_each_recorded_delivery_is_read_as_what_the_app_did():
    from webapp.clients.whatsapp_webhook import parse_webhook

    def read(name):
        return parse_webhook(json.loads(fixture(name)))

    [echo] = read(ECHO).echoes
    assert (echo.customer_id, echo.from_business, echo.type) == ("16505551234", True, "text")
    past = read("history_threads.json").history
    assert [(m.customer_id, m.from_business, m.status) for m in past] == [
        (CUSTOMER, True, "read"), (CUSTOMER, True, "played"), (CUSTOMER, False, "read"),
        (OTHER, True, "delivered"),
    ]  # fmt: skip
    [contents] = read("history_media_contents.json").history
    assert (contents.type, contents.text) == ("image", "Black Prince echeveria")
    [added] = read("smb_app_state_sync_add.json").names
    [removed] = read("smb_app_state_sync_remove_RECONSTRUCTED.json").names
    assert (added.phone, added.name, removed.name) == (CUSTOMER, "Pablo Morales", None)


def test_a_history_of_thousands_is_stored_whole_each_message_once(client, whatsapp):
    body = json.loads(fixture("history_threads.json"))
    chunk = body["entry"][0]["changes"][0]["value"]["history"][0]
    threads = []
    for customer in range(3):
        number = f"3161234{customer:04d}"
        said = [{"from": number if i % 2 else "15550783881", "id": f"wamid.PAST{customer}.{i}",
                 "timestamp": str(1739230000 + i), "type": "text", "text": {"body": f"#{i}"},
                 "history_context": {"status": "READ"}} for i in range(400)]  # fmt: skip
        threads.append({"id": number, "messages": said + said[:5]})  # five sent twice
    chunk["threads"] = threads
    assert post_webhook(client, body).status_code == 200
    assert count(whatsapp, Message) == 1200
    assert count(whatsapp, Contact) == 3
    last = contact(whatsapp, "31612340002").last_inbound_at.replace(tzinfo=UTC)
    assert last == datetime.fromtimestamp(1739230000 + 399, UTC)  # the customer's last

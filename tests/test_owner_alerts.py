"""The team told on their own phones that a customer needs a person: a plain WhatsApp message
inside the staff member's 24-hour window, the approved alert template outside it, and the
dashboard saying so when neither can go."""

import json
import threading
from datetime import timedelta

from sqlalchemy import select

from tests.conftest import wait_for
from tests.support.replies import log_rows
from webapp import settings
from webapp.extensions import db
from webapp.models import Contact, Message, OwnerAlert, WhatsAppTemplate, utcnow
from webapp.people import alerts, handoff
from webapp.snapshot import Snapshot

TEAM = "31612345678"
OTHER_TEAM = "447700900123"


def a_customer_needing_you(app, words=("Where is my order?", "I want a person")) -> int:
    """Sheena wrote `words` and was handed over; returns her contact id."""
    with app.app_context():
        customer = Contact(customer_id="16505551234", phone="16505551234",
                           profile_name="Sheena Nelson", last_inbound_at=utcnow())  # fmt: skip
        db.session.add(customer)
        db.session.flush()
        for text in words:
            db.session.add(Message(contact_id=customer.id, direction="in", author="customer",
                                   text=text, state="answered"))  # fmt: skip
        snap = Snapshot.load(app.config, commit=False)
        handoff.hand_over(customer.id, handoff.ASKED, snap)
        db.session.commit()
        return customer.id


def team_member(app, number: str, wrote_hours_ago: float | None) -> None:
    """A team number that wrote to the business number that long ago (None: never)."""
    with app.app_context():
        wrote = None if wrote_hours_ago is None else utcnow() - timedelta(hours=wrote_hours_ago)
        db.session.add(Contact(customer_id=number, phone=number, last_inbound_at=wrote))
        db.session.commit()


def team_settings(app, **more) -> None:
    with app.app_context():
        values = {"owner_numbers": "+31 6 1234 5678", "public_url": "https://shop.example"}
        settings.save(values | more, author="test")


def send_alerts(app) -> int:
    with app.app_context():
        return alerts.send_due()


def alert_rows(app) -> list[OwnerAlert]:
    with app.app_context():
        rows = db.session.scalars(select(OwnerAlert).order_by(OwnerAlert.id)).all()
        db.session.expunge_all()
        return rows


def approved_template(
    app, name="needs_you", status="APPROVED", body="{{1}} needs you: {{2}}. {{3}}"
):
    with app.app_context():
        components = [{"type": "BODY", "text": body}]
        db.session.add(WhatsAppTemplate(name=name, language="en", status=status,
                                        category="UTILITY", parameter_format="POSITIONAL",
                                        components=json.dumps(components)))  # fmt: skip
        db.session.commit()


def test_inside_the_window_each_team_number_gets_a_plain_message(whatsapp, fake_graph):
    team_settings(whatsapp, owner_numbers="+31 6 1234 5678, +44 7700 900123")
    team_member(whatsapp, TEAM, wrote_hours_ago=2)
    team_member(whatsapp, OTHER_TEAM, wrote_hours_ago=23)
    customer = a_customer_needing_you(whatsapp)

    assert send_alerts(whatsapp) == 2

    sent = fake_graph.sent_texts()
    assert sorted(to for to, _, _ in sent) == [TEAM, OTHER_TEAM]
    text = sent[0][1]
    assert text.startswith("Sheena Nelson (+16505551234) needs you.\nWhy: Asked for a person\n")
    assert "> Where is my order?\n> I want a person" in text
    assert f"https://shop.example/admin/conversations/{customer}" in text
    assert text.endswith("Reply to this message to answer them; 'done' when finished.")
    rows = alert_rows(whatsapp)
    assert [r.state for r in rows] == ["sent", "sent"]
    assert all(r.wa_message_id and r.wa_message_id.startswith("wamid.FAKE") for r in rows)
    logged = [r for r in log_rows(whatsapp) if r.operation == "alert"]
    assert [(r.upstream, r.status, r.contact_id) for r in logged] == [
        ("whatsapp", "ok", customer),
        ("whatsapp", "ok", customer),
    ]
    assert send_alerts(whatsapp) == 0  # sent once


def test_outside_the_window_the_approved_template_goes_with_its_variables(whatsapp, fake_graph):
    team_settings(whatsapp, owner_alert_template="needs_you")
    team_member(whatsapp, TEAM, wrote_hours_ago=30)
    approved_template(whatsapp)
    customer = a_customer_needing_you(whatsapp)

    send_alerts(whatsapp)

    assert fake_graph.sent_texts() == []
    link = f"https://shop.example/admin/conversations/{customer}"
    assert fake_graph.sent_templates() == [
        (TEAM, "needs_you", [{"type": "body", "parameters": [
            {"type": "text", "text": "Sheena Nelson (+16505551234)"},
            {"type": "text", "text": "Asked for a person"},
            {"type": "text", "text": link},
        ]}]),
    ]  # fmt: skip
    (row,) = alert_rows(whatsapp)
    assert (row.state, row.template) == ("sent", "needs_you")
    assert row.wa_message_id


def test_a_template_with_fewer_variables_gets_only_as_many(whatsapp, fake_graph):
    team_settings(whatsapp, owner_alert_template="needs_you", public_url="")
    team_member(whatsapp, TEAM, wrote_hours_ago=None)
    approved_template(whatsapp, body="A customer needs you: {{1}}")
    a_customer_needing_you(whatsapp)

    send_alerts(whatsapp)

    (sent,) = fake_graph.sent_templates()
    assert sent[2] == [{"type": "body", "parameters": [
        {"type": "text", "text": "Sheena Nelson (+16505551234)"}]}]  # fmt: skip


def test_outside_the_window_without_an_approved_template_the_dashboard_says_who_was_not_told(
    whatsapp, fake_graph, admin
):
    team_settings(whatsapp, owner_alert_template="needs_you")
    team_member(whatsapp, TEAM, wrote_hours_ago=25)
    approved_template(whatsapp, status="PENDING")
    customer = a_customer_needing_you(whatsapp)

    send_alerts(whatsapp)

    assert fake_graph.sent_texts() == [] and fake_graph.sent_templates() == []
    (row,) = alert_rows(whatsapp)
    assert (row.state, row.error_kind) == ("failed", "alert_not_sent")
    (logged,) = [r for r in log_rows(whatsapp) if r.operation == "alert"]
    assert (logged.status, logged.error_kind, logged.contact_id) == (
        "error", "alert_not_sent", customer)  # fmt: skip
    assert "PENDING" in logged.error_message
    page = admin.get("/admin/").get_data(as_text=True)
    assert 'id="alerts-failing"' in page
    assert "+31612345678" in page and "is PENDING, not approved" in page
    assert "write to your business number" in page or "Have each team number" in page


def test_a_later_alert_that_arrives_clears_the_banner(whatsapp, fake_graph, admin):
    team_settings(whatsapp)
    team_member(whatsapp, TEAM, wrote_hours_ago=None)
    customer = a_customer_needing_you(whatsapp)
    send_alerts(whatsapp)
    assert 'id="alerts-failing"' in admin.get("/admin/").get_data(as_text=True)

    with whatsapp.app_context():  # the staff member wrote ("list"), and the customer asks again
        db.session.execute(
            Contact.__table__.update().where(Contact.customer_id == TEAM)
            .values(last_inbound_at=utcnow())
        )  # fmt: skip
        db.session.add(OwnerAlert(contact_id=customer, channel="whatsapp", to=TEAM, reason="x"))
        db.session.commit()
    send_alerts(whatsapp)

    assert 'id="alerts-failing"' not in admin.get("/admin/").get_data(as_text=True)


def test_an_alert_a_crash_left_sending_becomes_unknown_and_is_not_sent_again(whatsapp, fake_graph):
    team_settings(whatsapp)
    team_member(whatsapp, TEAM, wrote_hours_ago=1)
    a_customer_needing_you(whatsapp)
    with whatsapp.app_context():
        db.session.execute(
            OwnerAlert.__table__.update().values(
                state="sending", updated_at=utcnow() - timedelta(minutes=6))
        )  # fmt: skip
        db.session.commit()

    send_alerts(whatsapp)

    assert fake_graph.sent_texts() == []
    (row,) = alert_rows(whatsapp)
    assert (row.state, row.error_kind) == ("unknown", "whatsapp_unknown")
    (logged,) = [r for r in log_rows(whatsapp) if r.operation == "alert"]
    assert (logged.status, logged.error_kind) == ("error", "whatsapp_unknown")
    assert "not known whether it arrived" in logged.error_message


def test_two_workers_at_once_send_each_alert_once(whatsapp, fake_graph):
    team_settings(whatsapp, owner_numbers="+31 6 1234 5678, +44 7700 900123")
    team_member(whatsapp, TEAM, wrote_hours_ago=1)
    team_member(whatsapp, OTHER_TEAM, wrote_hours_ago=1)
    for number in range(5):
        with whatsapp.app_context():
            customer = Contact(customer_id=f"1650555000{number}", phone=f"1650555000{number}")
            db.session.add(customer)
            db.session.flush()
            handoff.hand_over(customer.id, handoff.ASKED, Snapshot.load(whatsapp.config))
            db.session.commit()
    counts, start = [], threading.Barrier(2)

    def worker():
        start.wait()
        counts.append(send_alerts(whatsapp))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sum(counts) == 10
    assert len(fake_graph.sent_texts()) == 10
    assert {r.state for r in alert_rows(whatsapp)} == {"sent"}


def test_the_settings_page_says_how_to_make_the_alert_template_and_how_it_stands(whatsapp, admin):
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert "Create template" in page and "Utility" in page
    assert 'id="alert-template-status"' not in page  # none named yet

    team_settings(whatsapp, owner_alert_template="needs_you")
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert "&#39;needs_you&#39; was not found: press Sync on the Templates page." in page

    approved_template(whatsapp, status="REJECTED")
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert "&#39;needs_you&#39; has status REJECTED: Meta has not approved it." in page

    with whatsapp.app_context():
        db.session.execute(WhatsAppTemplate.__table__.update().values(status="APPROVED"))
        db.session.commit()
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert "&#39;needs_you&#39; is approved (en)." in page


def test_the_running_worker_sends_a_handoffs_alert_by_itself(whatsapp, fake_graph, worker):
    team_settings(whatsapp)
    team_member(whatsapp, TEAM, wrote_hours_ago=1)

    a_customer_needing_you(whatsapp)

    sent = wait_for(lambda: [body for to, body, _ in fake_graph.sent_texts() if to == TEAM])
    assert sent[0].startswith("Sheena Nelson (+16505551234) needs you.")
    wait_for(lambda: [r.state for r in alert_rows(whatsapp)] == ["sent"])


def test_a_rate_limited_alert_is_tried_again_and_an_expired_token_is_shown(
    whatsapp, fake_graph, admin
):
    team_settings(whatsapp, owner_numbers="+31 6 1234 5678, +44 7700 900123")
    team_member(whatsapp, TEAM, wrote_hours_ago=1)
    team_member(whatsapp, OTHER_TEAM, wrote_hours_ago=1)
    fake_graph.replay("errors_130429_rate_limit.json", status=429)  # the first send: later
    a_customer_needing_you(whatsapp)

    send_alerts(whatsapp)

    assert sorted(to for to, _, _ in fake_graph.sent_texts()) == [TEAM, OTHER_TEAM]
    logged = [(r.status, r.error_kind) for r in log_rows(whatsapp) if r.operation == "alert"]
    assert sorted(logged, key=str) == [
        ("error", "whatsapp_rate_limited"), ("ok", None), ("ok", None)]  # fmt: skip

    fake_graph.replay("send_error_190_token_expired.json", status=401)
    with whatsapp.app_context():
        customer = db.session.scalar(select(Contact.id).where(Contact.profile_name.is_not(None)))
        db.session.add(OwnerAlert(contact_id=customer, channel="whatsapp", to=TEAM, reason="x"))
        db.session.commit()
    send_alerts(whatsapp)

    failed = [r for r in alert_rows(whatsapp) if r.state == "failed"]
    assert [(r.to, r.error_kind) for r in failed] == [(TEAM, "whatsapp_auth")]
    assert len([r for r in log_rows(whatsapp) if r.error_kind == "whatsapp_auth"]) == 1
    page = admin.get("/admin/").get_data(as_text=True)
    assert 'id="alerts-failing"' in page and "+31612345678" in page


def test_template_variables_carry_no_line_breaks(whatsapp, fake_graph):
    team_settings(whatsapp, owner_alert_template="needs_you", public_url="")
    team_member(whatsapp, TEAM, wrote_hours_ago=None)
    approved_template(whatsapp)
    with whatsapp.app_context():
        customer = Contact(customer_id="16505551234", phone="16505551234", profile_name="Sheena")
        db.session.add(customer)
        db.session.flush()
        db.session.add(Message(contact_id=customer.id, direction="in", author="customer",
                               text="My order\n\n   is late\tagain", state="answered"))  # fmt: skip
        why = "Asked for a person: the model says\nshe is upset"
        handoff.hand_over(customer.id, why, Snapshot.load(whatsapp.config, commit=False))
        db.session.commit()

    send_alerts(whatsapp)

    ((_, _, components),) = fake_graph.sent_templates()
    assert [p["text"] for p in components[0]["parameters"]] == [
        "Sheena (+16505551234)",
        "Asked for a person: the model says she is upset",
        "My order is late again",
    ]

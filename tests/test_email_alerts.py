"""E-mail alerts through the owner's mail server, here a loopback fake that speaks SMTP."""

import pytest
from sqlalchemy import select

from tests.support.fake_smtp import FakeSMTP
from tests.support.replies import log_rows
from tests.support.tls import server_context
from webapp import settings
from webapp.extensions import db
from webapp.models import Contact, Message, OwnerAlert, utcnow
from webapp.people import alerts, handoff
from webapp.snapshot import Snapshot

PASSWORD = "mail-password-for-tests"


@pytest.fixture
def smtp():
    server = FakeSMTP().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_tls(tmp_path, monkeypatch):
    """A mail server offering STARTTLS with a certificate of the test authority, which the
    app's default TLS context trusts (SSL_CERT_FILE)."""
    context, authority = server_context(tmp_path, ["localhost"])
    monkeypatch.setenv("SSL_CERT_FILE", str(authority))
    server = FakeSMTP(tls_context=context).start()
    yield server
    server.stop()


def mail_settings(app, server: FakeSMTP, tls: str, login: bool = True, **more) -> None:
    values = {
        "smtp_host": "127.0.0.1",
        "smtp_port": str(server.port),
        "smtp_tls": tls,
        "smtp_user": server.user if login else "",
        "smtp_password": PASSWORD if login else "",
        "alert_email_from": "switchboard@shop.example",
        "alert_email_to": "owner@shop.example, help@shop.example",
        "public_url": "https://shop.example",
    }
    with app.app_context():
        settings.save(values | more, author="test")


def hand_over_sheena(app) -> int:
    with app.app_context():
        customer = Contact(customer_id="16505551234", phone="16505551234",
                           profile_name="Sheena Nelson", last_inbound_at=utcnow())  # fmt: skip
        db.session.add(customer)
        db.session.flush()
        db.session.add(Message(contact_id=customer.id, direction="in", author="customer",
                               text="Can I talk to someone?", state="answered"))  # fmt: skip
        handoff.hand_over(customer.id, handoff.ASKED, Snapshot.load(app.config, commit=False))
        db.session.commit()
        return customer.id


def send_alerts(app) -> None:
    with app.app_context():
        alerts.send_due()


def the_alert(app) -> OwnerAlert:
    with app.app_context():
        row = db.session.scalar(select(OwnerAlert).where(OwnerAlert.channel == "email"))
        db.session.expunge_all()
        return row


def test_an_alert_e_mail_goes_over_starttls_with_the_login(app, smtp_tls):
    mail_settings(app, smtp_tls, "starttls")
    customer = hand_over_sheena(app)

    send_alerts(app)

    assert smtp_tls.started_tls
    assert smtp_tls.logins == [(smtp_tls.user, PASSWORD)]
    (mail,) = smtp_tls.mails
    assert mail.sender == "switchboard@shop.example"
    assert mail.recipients == ["owner@shop.example", "help@shop.example"]
    message = mail.message
    assert message["Subject"] == "Needs you: Sheena Nelson"
    body = message.get_content()
    assert "Sheena Nelson (+16505551234) needs you." in body
    assert "Why: Asked for a person" in body
    assert "> Can I talk to someone?" in body
    assert f"https://shop.example/admin/conversations/{customer}" in body
    assert "Reply to this message" not in body  # an e-mail reply reaches nobody
    assert the_alert(app).state == "sent"
    (logged,) = [r for r in log_rows(app) if r.operation == "alert"]
    assert (logged.upstream, logged.status, logged.contact_id) == ("email", "ok", customer)


def test_an_alert_e_mail_goes_over_tls_from_the_first_byte(app, tmp_path, monkeypatch):
    context, authority = server_context(tmp_path, ["localhost"])
    monkeypatch.setenv("SSL_CERT_FILE", str(authority))
    server = FakeSMTP(tls_context=context, implicit_tls=True).start()
    try:
        mail_settings(app, server, "tls")
        hand_over_sheena(app)

        send_alerts(app)

        assert server.logins == [(server.user, PASSWORD)]
        assert len(server.mails) == 1
        assert the_alert(app).state == "sent"
    finally:
        server.stop()


def test_starttls_to_a_server_without_it_is_email_failed_in_plain_words(app, smtp):
    mail_settings(app, smtp, "starttls")
    hand_over_sheena(app)

    send_alerts(app)

    alert = the_alert(app)
    assert (alert.state, alert.error_kind) == ("failed", "email_failed")
    assert "does not support" in alert.error_detail and "Encryption" in alert.error_detail
    assert smtp.mails == [] and smtp.logins == []


def test_the_password_is_never_sent_unencrypted_to_another_machine(app, smtp):
    mail_settings(app, smtp, "none", smtp_host="mail.velo-verde.example")
    hand_over_sheena(app)

    send_alerts(app)

    alert = the_alert(app)
    assert (alert.state, alert.error_kind) == ("failed", "email_failed")
    assert alert.error_detail.startswith(
        "The password is not sent unencrypted to mail.velo-verde.example"
    )
    assert smtp.lines == []  # not even a connection


def test_a_mail_server_on_this_machine_without_encryption_or_login(app, smtp):
    mail_settings(app, smtp, "none", login=False)
    hand_over_sheena(app)

    send_alerts(app)

    assert smtp.logins == [] and not smtp.started_tls
    assert len(smtp.mails) == 1
    assert the_alert(app).state == "sent"


def test_a_server_offering_only_auth_login_is_logged_in_to(app, smtp):
    smtp.mechanisms = "LOGIN"
    mail_settings(app, smtp, "none")
    hand_over_sheena(app)

    send_alerts(app)

    assert smtp.logins == [(smtp.user, PASSWORD)]
    assert any(line.upper().startswith("AUTH LOGIN") for line in smtp.lines)
    assert len(smtp.mails) == 1


def test_a_refused_login_is_email_failed_with_the_servers_words_and_never_the_password(
    app, smtp, admin
):
    smtp.refuse_logins = True
    mail_settings(app, smtp, "none")
    hand_over_sheena(app)

    send_alerts(app)

    assert smtp.mails == []
    alert = the_alert(app)
    assert (alert.state, alert.error_kind) == ("failed", "email_failed")
    assert "535 5.7.8 Authentication credentials invalid" in alert.error_detail
    (logged,) = [r for r in log_rows(app) if r.operation == "alert"]
    assert (logged.upstream, logged.status, logged.error_kind) == ("email", "error", "email_failed")
    page = admin.get("/admin/").get_data(as_text=True)
    assert "owner@shop.example" in page and "refused the login" in page
    logs = admin.get("/admin/logs").get_data(as_text=True)
    for shown in (alert.error_detail, logged.error_message, page, logs):
        assert PASSWORD not in shown


def test_the_settings_page_test_button_sends_a_test_e_mail_and_shows_the_answer(app, smtp, admin):
    mail_settings(app, smtp, "none")
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert 'formaction="/admin/settings/test-email"' in page

    page = admin.post("/admin/settings/test-email", follow_redirects=True).get_data(as_text=True)

    assert "Test e-mail sent to owner@shop.example, help@shop.example." in page
    assert "The mail server answered: 250" in page
    (mail,) = smtp.mails
    assert mail.message["Subject"] == "Test e-mail from Switchboard"


def test_the_test_button_without_the_pages_csrf_token_sends_nothing(app, smtp, admin):
    mail_settings(app, smtp, "none")

    assert admin.client.post("/admin/settings/test-email").status_code == 400
    assert smtp.mails == []


def test_the_test_button_shows_a_refused_login_in_plain_words(app, smtp, admin):
    smtp.refuse_logins = True
    mail_settings(app, smtp, "none")

    page = admin.post("/admin/settings/test-email", follow_redirects=True).get_data(as_text=True)

    assert "The test e-mail was not sent." in page
    assert "refused the login of alerts@example.com: 535" in page
    assert PASSWORD not in page


def test_the_test_button_without_a_mail_server_says_what_to_set(app, admin):
    page = admin.post("/admin/settings/test-email", follow_redirects=True).get_data(as_text=True)

    assert (
        "Save a mail server, &#39;Send alerts from&#39; and &#39;Send alerts to&#39; first." in page
    )


def test_an_unreachable_mail_server_is_email_failed(app, refused_url):
    port = refused_url.rsplit(":", 1)[1].split("/")[0]
    with app.app_context():
        settings.save({"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_tls": "none",
                       "alert_email_from": "a@shop.example", "alert_email_to": "b@shop.example"},
                      author="test")  # fmt: skip
    hand_over_sheena(app)

    send_alerts(app)

    alert = the_alert(app)
    assert (alert.state, alert.error_kind) == ("failed", "email_failed")
    assert alert.error_detail.startswith(f"Could not reach the mail server 127.0.0.1:{port}")

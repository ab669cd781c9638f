"""The alerts' parts of the admin in a browser: the dashboard's banner of team members not told
and the Settings page's alert template check and test button fit a phone and a laptop and pass
axe-core."""

import pytest
from playwright.sync_api import expect

from tests.support.browser import misfits, serious_violations, sign_in
from tests.support.fake_smtp import FakeSMTP
from webapp import settings
from webapp.extensions import db
from webapp.models import Contact, OwnerAlert

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}


@pytest.fixture
def alerts_failed(app):
    with app.app_context():
        settings.save({"owner_numbers": "+31 6 1234 5678", "owner_alert_template": "needs_you",
                       "smtp_host": "mail.example.com",
                       "alert_email_to": "owner@velo-verde.example, workshop@velo-verde.example"},
                      author="test")  # fmt: skip
        customer = Contact(customer_id="16505551234", phone="16505551234", profile_name="Ana")
        db.session.add(customer)
        db.session.flush()
        db.session.add_all([
            OwnerAlert(contact_id=customer.id, channel="whatsapp", to="31612345678",
                       reason="Asked for a person", state="failed", error_kind="alert_not_sent",
                       error_detail="+31612345678 has not written to the business number in the "
                       "last 24 hours, and the alert template 'needs_you' was not found "
                       "(Templates page, Sync)."),
            OwnerAlert(contact_id=customer.id, channel="email",
                       to="owner@velo-verde.example, workshop@velo-verde.example",
                       reason="Asked for a person", state="failed", error_kind="email_failed",
                       error_detail="The mail server refused the login of alerts@velo-verde."
                       "example: 535 5.7.8 Authentication credentials invalid"),
        ])  # fmt: skip
        db.session.commit()


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("path", ["/admin/", "/admin/settings"])
def test_the_alert_parts_fit_and_pass_axe(chromium, live_server, alerts_failed, viewport, path):
    context = chromium.new_context(viewport=VIEWPORTS[viewport])
    page = context.new_page()
    page.set_default_timeout(10_000)
    sign_in(page, live_server)
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(live_server + path)
    shown = "#alerts-failing" if path == "/admin/" else "#alert-template-status"
    assert page.locator(shown).is_visible()
    if path != "/admin/":
        assert page.get_by_role("button", name="Send a test e-mail").is_visible()
    assert not misfits(page), "\n".join(misfits(page))
    found = serious_violations(page)
    assert not found, "\n".join(found)
    context.close()


def test_pressing_send_a_test_e_mail_sends_it_and_says_what_the_server_answered(
    app, page, live_server
):
    server = FakeSMTP().start()
    try:
        with app.app_context():
            mail = {"smtp_host": "127.0.0.1", "smtp_port": str(server.port), "smtp_tls": "none",
                    "alert_email_from": "shop@velo-verde.example",
                    "alert_email_to": "owner@velo-verde.example"}  # fmt: skip
            settings.save(mail, author="test")
        page.set_viewport_size(VIEWPORTS["phone"])
        sign_in(page, live_server)
        page.wait_for_url(lambda url: "/login" not in url)
        page.goto(f"{live_server}/admin/settings#email-alerts")

        page.get_by_role("button", name="Send a test e-mail").click()

        expect(page.locator(".flash-success")).to_contain_text(
            "Test e-mail sent to owner@velo-verde.example. The mail server answered: 250"
        )
        assert [mail.recipients for mail in server.mails] == [["owner@velo-verde.example"]]
    finally:
        server.stop()

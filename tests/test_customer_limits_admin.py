"""A limited customer on the owner's pages: the badge on the list, the card saying why and
until when, and Lift, which answers them again and counts afresh."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from tests.support.browser import misfits, serious_violations, sign_in
from webapp.extensions import db
from webapp.models import Contact, utcnow

WHY = "They had 30 answers within an hour, the most allowed. <b>not bold</b>"


def limited_customer(app) -> int:
    with app.app_context():
        until = utcnow() + timedelta(minutes=40)
        contact = Contact(customer_id="16505551234", phone="16505551234", profile_name="Ana")
        contact.limited_until, contact.limited_why = until, WHY
        db.session.add(contact)
        db.session.commit()
        return contact.id


def stored(app, contact_id: int) -> Contact:
    with app.app_context():
        row = db.session.get(Contact, contact_id)
        db.session.expunge_all()
        return row


def test_the_owner_sees_why_a_customer_is_limited_and_lifts_it(admin, app):
    contact_id = limited_customer(app)
    listing = admin.get("/admin/conversations").get_data(as_text=True)
    assert "Limited</span>" in listing
    page = admin.get(f"/admin/conversations/{contact_id}").get_data(as_text=True)
    assert 'id="limited"' in page and "Limited until" in page
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page  # the reason is shown escaped
    response = admin.post(f"/admin/conversations/{contact_id}/lift")
    assert response.status_code == 302
    lifted = stored(app, contact_id)
    assert lifted.limited_until is None and lifted.limited_why is None
    assert utcnow() - lifted.limit_lifted_at < timedelta(minutes=1)
    page = admin.get(f"/admin/conversations/{contact_id}").get_data(as_text=True)
    assert "is answered again from their next message" in page and 'id="limited"' not in page
    assert "Limited</span>" not in admin.get("/admin/conversations").get_data(as_text=True)


def test_lift_needs_the_csrf_token(admin, app):
    contact_id = limited_customer(app)
    response = admin.client.post(f"/admin/conversations/{contact_id}/lift")
    assert response.status_code == 400
    assert stored(app, contact_id).limited_until is not None


def test_a_limit_that_ended_shows_no_more(admin, app):
    contact_id = limited_customer(app)
    with app.app_context():
        db.session.execute(
            Contact.__table__.update().values(limited_until=utcnow() - timedelta(minutes=1))
        )
        db.session.commit()
        assert db.session.scalar(select(Contact.limited_why)) == WHY
    page = admin.get(f"/admin/conversations/{contact_id}").get_data(as_text=True)
    assert 'id="limited"' not in page


@pytest.mark.parametrize("width", [390, 1280])
def test_the_limited_card_fits_and_passes_axe(page, live_server, app, width, tmp_path):
    contact_id = limited_customer(app)
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server)
    page.goto(f"{live_server}/admin/conversations/{contact_id}")
    assert page.locator("#limited").is_visible()
    page.screenshot(path=tmp_path / f"limited-{width}.png", full_page=True)
    assert misfits(page) == [] and serious_violations(page) == []

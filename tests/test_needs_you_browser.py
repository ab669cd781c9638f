"""Needs you in a real browser, on a phone and on a laptop: the dashboard lists who waits for a
person oldest first, the conversation says why, Done resumes the bot and empties the list; no
sideways scrolling, and axe-core finds nothing serious."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from tests.support.browser import misfits, serious_violations, sign_in
from tests.support.records import add_contact, add_message, ago
from webapp.extensions import db
from webapp.models import Contact

SIZES = [pytest.param((390, 844), id="phone"), pytest.param((1280, 800), id="laptop")]


def handed_over(app, phone: str, name: str, minutes: int, why: str) -> int:
    contact = add_contact(app, phone, name, wrote=timedelta(minutes=minutes))
    add_message(
        app, contact, "customer", "I want to talk to someone", "answered", ago(minutes=minutes)
    )
    with app.app_context():
        db.session.execute(
            update(Contact)
            .where(Contact.id == contact)
            .values(paused=True, needs_person_since=ago(minutes=minutes), needs_person_why=why)
        )
        db.session.commit()
    return contact


def looked_at(page, size, tmp_path, name: str) -> None:
    assert misfits(page) == []
    assert serious_violations(page) == []
    page.screenshot(path=tmp_path / f"{name}-{size[0]}x{size[1]}.png", full_page=True)


@pytest.mark.parametrize("size", SIZES)
def test_the_owner_sees_who_needs_them_and_presses_done(page, live_server, app, size, tmp_path):
    handed_over(app, "31611111111", "Ana Lima", 20, "Asked for a person: wants a refund")
    handed_over(app, "31622222222", "Bea", 90, "The assistant could not answer twice in a row")
    page.set_viewport_size({"width": size[0], "height": size[1]})
    sign_in(page, live_server)
    page.goto(f"{live_server}/admin/")
    waiting = page.locator("#needs-you li")
    expect(waiting).to_have_count(2)
    expect(waiting.nth(0)).to_contain_text("Bea")
    expect(waiting.nth(1)).to_contain_text("wants a refund")
    looked_at(page, size, tmp_path, "dashboard")

    waiting.nth(1).get_by_role("link", name="Ana Lima").click()
    banner = page.locator("#needs-you")
    expect(banner).to_contain_text("Needs you since")
    expect(banner).to_contain_text("wants a refund")
    expect(page.locator("#resumes-at")).to_have_text("It waits for you to press Done above.")
    looked_at(page, size, tmp_path, "conversation")
    banner.get_by_role("button", name="Done").click()
    expect(page.locator(".flash-success")).to_contain_text("Done: the bot answers Ana Lima again")
    expect(page.locator("#needs-you")).to_have_count(0)
    expect(page.get_by_role("button", name="Hand to me")).to_be_visible()

    page.goto(f"{live_server}/admin/conversations")
    expect(page.locator("#needs-you li")).to_have_count(1)
    expect(page.locator("#needs-you li")).to_contain_text("Bea")
    looked_at(page, size, tmp_path, "conversations")

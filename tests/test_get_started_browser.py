"""Get started on a phone, in a real browser: the first page after sign-in, nothing wider than
the screen, and the template one tap away."""

import re

from playwright.sync_api import expect

from tests.support.browser import misfits, serious_violations, sign_in

PHONE = {"width": 390, "height": 844}


def test_get_started_on_a_phone(chromium, live_server, app, tmp_path):
    context = chromium.new_context(viewport=PHONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        sign_in(page, live_server)
        expect(page).to_have_url(f"{live_server}/admin/")
        started = page.locator("#get-started")
        expect(started).to_contain_text("1 of 5 steps done")
        assert started.bounding_box()["y"] < page.locator(".figures").bounding_box()["y"]
        expect(page.locator("#webhook-not-public")).to_contain_text("Meta cannot reach")
        page.screenshot(path=str(tmp_path / "get-started-phone.png"))
        assert misfits(page) == []
        assert serious_violations(page) == []

        page.set_viewport_size({"width": 1280, "height": 800})
        page.screenshot(path=str(tmp_path / "get-started-desktop.png"))
        assert misfits(page) == []

        page.set_viewport_size(PHONE)
        page.click("#use-template")
        expect(page).to_have_url(f"{live_server}/admin/prompt?template=business")
        expect(page.locator("#text")).to_have_value(
            re.compile(r"^You are the WhatsApp assistant of \[business name\]")
        )
        page.screenshot(path=str(tmp_path / "template-phone.png"))
        assert misfits(page) == []
    finally:
        context.close()

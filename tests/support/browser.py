"""Signing in through a real browser page."""

from tests.conftest import ADMIN_PASSWORD


def sign_in(page, live_server):
    page.goto(f"{live_server}/admin/settings")
    page.fill("#username", "owner")
    page.fill("#password", ADMIN_PASSWORD)
    page.click("button[type=submit]")

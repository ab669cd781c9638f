"""The settings page in a real browser, on a phone and on a desktop: the parts fit the screen,
a part's Save button stays in view, and a key that fails its test stays where it was typed."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.support.browser import sign_in
from webapp import settings

WRONG = "sk-or-v1-wrong000000000000000000000000000000000000000000000000dead"
SCREENS = {"phone": (390, 844), "desktop": (1280, 800)}
# The page's own content; the menu above it is the layout's, checked with every page's.
WIDER_THAN_SCREEN = """width => [...document.querySelectorAll('main *')]
    .filter(e => e.getBoundingClientRect().right > width + 0.5)
    .map(e => e.outerHTML.slice(0, 80))"""


@pytest.mark.parametrize("screen", SCREENS)
def test_the_settings_page_fits_and_keeps_a_failed_key_in_its_field(
    page, live_server, app, fake_openrouter, screen, tmp_path
):
    width, height = SCREENS[screen]
    page.set_viewport_size({"width": width, "height": height})
    fake_openrouter.keys = set()  # no key works
    with app.app_context():
        settings.save({"openrouter_base_url": fake_openrouter.base_url}, author="test")
    sign_in(page, live_server)
    page.goto(f"{live_server}/admin/settings")
    assert page.evaluate(WIDER_THAN_SCREEN, width) == []

    page.fill("#openrouter_api_key", WRONG)
    page.click("button:has-text('Test key')")
    expect(page.locator("#key-test-result")).to_contain_text("invalid_key")
    expect(page.locator("#openrouter_api_key")).to_have_value(WRONG)
    assert page.evaluate(WIDER_THAN_SCREEN, width) == []

    page.screenshot(path=str(tmp_path / f"settings-key-{screen}.png"), full_page=False)
    # Colours are the stylesheet's, checked on every page at once; here, the page's own markup.
    rules = {"rules": {"color-contrast": {"enabled": False}}}
    found = Axe().run(page, options={**rules, "resultTypes": ["violations"]}).response
    assert [v["id"] for v in found["violations"] if v["impact"] in ("serious", "critical")] == []
    # Halfway through the longest part, its own Save button is on screen.
    page.locator("label[for=provider_sort]").evaluate("e => e.scrollIntoView()")
    save = page.locator("#advanced .section-actions button")
    box, viewport = save.bounding_box(), page.viewport_size
    assert box["y"] >= 0 and box["y"] + box["height"] <= viewport["height"]
    page.screenshot(path=str(tmp_path / f"settings-{screen}.png"), full_page=False)
    with app.app_context():
        assert not settings.is_set("openrouter_api_key")

    # A change in another part is not lost without a word: the owner is asked first.
    page.fill("#fallback_reply", "Back at nine.")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.click("#openrouter .section-actions button")
    expect(page.locator("#fallback_reply")).to_have_value("Back at nine.")
    with app.app_context():
        assert not settings.is_set("openrouter_api_key")

    page.fill("#memory_turns", "12")
    page.press("#memory_turns", "Enter")  # saves its part, as its Save button does
    expect(page.locator("body")).to_contain_text("Assistant settings saved.")
    with app.app_context():
        assert settings.get("memory_turns") == 12

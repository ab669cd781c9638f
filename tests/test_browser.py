"""The owner's first session in a real browser: sign in, add a key, pick a model, write a prompt."""

from playwright.sync_api import expect

from tests.support.browser import sign_in
from webapp import catalog, prompts, settings

KEY = "sk-or-v1-browser0000000000000000000000000000000000000000000000beef"


def test_owner_sets_up_the_assistant_in_the_browser(page, live_server, app, fake_openrouter):
    sign_in(page, live_server)
    expect(page).to_have_url(f"{live_server}/admin/")  # no key yet: Get started comes first
    page.click("#step-key >> text=Paste your key in Settings")

    page.fill("#openrouter_api_key", KEY)
    page.fill("#openrouter_base_url", fake_openrouter.base_url)
    page.click("button:has-text('Test key')")  # tests the key typed, and saves it: it works
    expect(page.locator(".flash-success").first).to_have_text("The key works.")
    expect(page.locator("body")).to_contain_text("OpenRouter settings saved.")
    expect(page.locator("body")).to_contain_text("sk-or-…beef")
    assert KEY not in page.content()
    result = page.locator("#key-test-result")
    expect(result).to_contain_text("Key works")
    expect(result).to_contain_text("$74.50")

    page.click("nav >> text=Models")
    row = page.locator("tr[data-model='anthropic/claude-sonnet-4-6']")
    row.locator("button:has-text('Make default')").click()
    expect(page.locator("tr.default")).to_have_attribute(
        "data-model", "anthropic/claude-sonnet-4-6"
    )

    page.click("nav >> text=Prompt")
    page.fill("#text", "You answer for Bram's Bikes in Ghent. Opening hours 9-18.")
    page.click("text=Save as new version")
    expect(page.locator(".flash-success")).to_contain_text("new version")

    page.click("nav >> text=Dashboard")
    expect(page.locator("body")).to_contain_text("Claude Sonnet 4.6")
    expect(page.locator("body")).to_contain_text("Bram's Bikes")
    expect(page.locator("#get-started .checklist > li.done")).to_have_count(3)

    with app.app_context():
        assert settings.get("openrouter_api_key") == KEY
        assert catalog.default_model().model_id == "anthropic/claude-sonnet-4-6"
        assert prompts.current_text().startswith("You answer for Bram's Bikes")


def test_removing_a_model_asks_for_confirmation_first(page, live_server, app):
    sign_in(page, live_server)
    page.goto(f"{live_server}/admin/models")
    row = page.locator("tr[data-model='perplexity/sonar']")
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("button:has-text('Remove')").click()
    expect(page.locator("tr[data-model='perplexity/sonar']")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button:has-text('Remove')").click()
    expect(page.locator(".flash-success")).to_contain_text("removed")
    expect(page.locator("tr[data-model='perplexity/sonar']")).to_have_count(0)

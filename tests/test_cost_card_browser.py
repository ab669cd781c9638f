"""The cost card in a real browser, on a phone and on a laptop: a busy month with a budget
nearly spent, Meta's counts and long model names, no sideways scrolling, axe-core clean."""

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.support.browser import misfits, serious_violations, sign_in
from tests.support.records import add_row
from webapp import settings
from webapp.extensions import db
from webapp.models import WhatsAppCharge

SIZES = [pytest.param((390, 844), id="phone"), pytest.param((1280, 800), id="laptop")]


def a_busy_month(app) -> None:
    now = datetime.now(UTC) - timedelta(seconds=5)
    for channel, operation, model, cost in [
        ("whatsapp", None, "openai/gpt-4o-mini", 11.5),
        ("flow", None, "anthropic/claude-3.7-sonnet:thinking-with-a-very-long-name", 5.25),
        ("playground", None, "google/gemini-2.5-flash-preview-05-20", 1.0),
        ("whatsapp", "transcription", "openai/whisper-1", 0.004),
        ("knowledge", "embedding", "openai/text-embedding-3-small", 0.0000387),
    ]:
        add_row(app, created_at=now, channel=channel, operation=operation,
                model_requested=model, model_used=model, cost=cost)  # fmt: skip
    with app.app_context():
        for n, (billable, category) in enumerate(
            [(True, "utility"), (True, "marketing"), (False, "service"), (False, "service")]
        ):
            db.session.add(WhatsAppCharge(wa_message_id=f"wamid.{n}", billable=billable,
                                          category=category, pricing_model="PMP"))  # fmt: skip
        settings.save({"monthly_budget": "20", "daily_budget": "50"}, author="test")
        db.session.commit()


@pytest.mark.parametrize("size", SIZES)
def test_the_cost_card_and_the_budget_banner_fit_and_read(page, live_server, app, size, tmp_path):
    a_busy_month(app)
    page.set_viewport_size({"width": size[0], "height": size[1]})
    sign_in(page, live_server)
    page.goto(f"{live_server}/admin/")
    banner = page.locator("#budget-banner")
    expect(banner).to_contain_text("You have used 88 % of this month's budget of $20.00")
    expect(banner.get_by_role("link", name="Money settings")).to_be_visible()
    cost = page.locator("#cost-card")
    expect(cost).to_contain_text("$17.75")
    expect(cost).to_contain_text("2 billable, 2 not billable")
    expect(cost.get_by_role("link", name="Meta's pricing")).to_be_visible()
    assert misfits(page) == []
    assert serious_violations(page) == []
    page.screenshot(path=tmp_path / f"dashboard-{size[0]}.png", full_page=True)
    cost.screenshot(path=tmp_path / f"cost-card-{size[0]}.png")
    banner.screenshot(path=tmp_path / f"banner-{size[0]}.png")
    cost.get_by_role("link", name="Flows").click()
    expect(page.locator("table.log tbody tr")).to_have_count(1)
    expect(page.locator("table.log")).to_contain_text("thinking-with-a-very-long-name")
    assert misfits(page) == []
    assert serious_violations(page) == []

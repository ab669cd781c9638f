"""The template picker in a real browser, on a phone and on a laptop: sync on the Templates
page, choose a template in a conversation whose 24-hour window is closed, fill its variables
(an empty one refused on its field), send; no sideways scrolling, axe-core finds nothing
serious."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.support.browser import misfits, serious_violations, sign_in
from tests.support.records import add_contact
from tests.support.templates import WABA_ID, named, positional, with_business_account

SIZES = [pytest.param((390, 844), id="phone"), pytest.param((1280, 800), id="laptop")]
CUSTOMER = "16505551234"


def looked_at(page, size, tmp_path, name: str) -> None:
    """The page fits the window, axe-core passes it, and a screenshot is kept to look at."""
    assert misfits(page) == []
    assert serious_violations(page) == []
    page.screenshot(path=tmp_path / f"{name}-{size[0]}x{size[1]}.png", full_page=True)


@pytest.mark.parametrize("size", SIZES)
def test_choose_a_template_fill_its_variables_and_send_it(
    page, live_server, whatsapp, fake_graph, size, tmp_path
):
    with_business_account(whatsapp)
    fake_graph.host_templates(WABA_ID, [positional(), named()])
    contact = add_contact(whatsapp, CUSTOMER, "Ana", wrote=timedelta(hours=30))
    page.set_viewport_size({"width": size[0], "height": size[1]})
    sign_in(page, live_server)

    page.goto(f"{live_server}/admin/templates")
    page.get_by_role("button", name="Sync templates").click()
    expect(page.locator("main")).to_contain_text("Synced: Meta lists 2 templates, 2 approved.")
    looked_at(page, size, tmp_path, "templates-page")

    page.goto(f"{live_server}/admin/conversations/{contact}")
    picker = page.locator("#template-picker")
    picker.get_by_label("Template").select_option(label="appointment_reminder (en_US, utility)")
    picker.get_by_role("button", name="Choose this template").click()
    picker.get_by_label("Header {{1}}").fill("B-17")
    picker.get_by_label("Body {{1}}").fill("Ana")
    picker.get_by_role("button", name="Send template").click()
    error = page.locator("#template-picker .has-error")
    expect(error).to_contain_text("Fill in Body {{2}}")
    expect(picker.get_by_label("Body {{1}}")).to_have_value("Ana")  # what was typed is kept
    looked_at(page, size, tmp_path, "template-picker-error")
    assert fake_graph.sent_templates() == []

    picker.get_by_label("Body {{2}}").fill("Friday 10:00")
    picker.get_by_role("button", name="Send template").click()
    expect(page.locator("main")).to_contain_text("Template appointment_reminder sent to Ana.")
    bubble = page.locator(".bubble.from-team .text").last
    expect(bubble).to_contain_text("Hello Ana, your appointment is on Friday 10:00.")
    [(to, name, given)] = fake_graph.sent_templates()
    assert (to, name) == (CUSTOMER, "appointment_reminder")
    assert [p["text"] for c in given for p in c["parameters"]] == ["B-17", "Ana", "Friday 10:00"]
    looked_at(page, size, tmp_path, "template-sent")

"""Opening hours: read and checked from the setting, asked "open now?" (spans past midnight,
closed dates, 24:00), edited on their page, and offered as checkboxes in Settings."""

import html
import json
import re
from datetime import datetime

import pytest

from tests.support.install import section_form
from webapp import settings
from webapp.knowledge import hours

WEEK = hours.parse({
    "mon": [["13:30", "17:30"], ["09:00", "12:30"]],  # put in order when read
    "fri": [["22:00", "02:00"]],
    "sat": [["00:00", "24:00"]],
    "closed": ["2026-12-25", "2026-12-18"],
})  # fmt: skip


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)  # 2026-12-07 is a Monday


@pytest.mark.parametrize(
    ("moment", "is_open", "said"),
    [
        ("2026-12-07 08:59", False, "closed (opens 09:00)"),
        ("2026-12-07 09:00", True, "open (closes 12:30)"),
        ("2026-12-07 12:30", False, "closed (opens 13:30)"),
        ("2026-12-07 17:30", False, "closed (opens Friday 22:00)"),
        ("2026-12-11 23:59", True, "open (closes Sunday 00:00)"),  # runs on through Saturday
        ("2026-12-12 01:00", True, "open (closes at midnight)"),
        ("2026-12-13 00:00", False, "closed (opens Monday 09:00)"),
        ("2026-12-13 01:30", False, "closed (opens Monday 09:00)"),  # Saturday ends at 24:00
        # Friday 18 December is closed: its night does not open, Saturday still does.
        ("2026-12-18 23:00", False, "closed (opens Saturday 00:00)"),
        ("2026-12-19 01:00", True, "open (closes at midnight)"),
    ],
)
def test_open_now_and_when_that_changes(moment, is_open, said):
    assert WEEK.is_open(at(moment)) is is_open
    assert hours.right_now(WEEK, at(moment)) == said


def test_a_night_before_a_closed_date_still_runs_past_midnight_into_it():
    night = hours.parse({"thu": [["22:00", "02:00"]], "closed": ["2026-12-25"]})
    assert night.is_open(at("2026-12-25 01:00"))  # Thursday 24 December's night
    assert not night.is_open(at("2026-12-25 23:00"))


def test_the_hours_are_described_a_day_a_line_with_the_closed_dates_to_come():
    lines = WEEK.describe(at("2026-12-20").date())
    assert lines[0] == "Monday: 09:00–12:30, 13:30–17:30"
    assert lines[1] == "Tuesday: closed" and lines[4] == "Friday: 22:00–02:00"
    assert lines[-1] == "Closed on: Fri 25 Dec 2026"  # 18 December is past


def test_no_hours_set_is_never_closed():
    assert not hours.parse("").set and hours.right_now(hours.parse(""), at("2026-12-07")) == ""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"mon": [["9", "17:00"]]}, "Monday: '9' is not a time like 09:00."),
        ({"mon": [["09:00", "25:00"]]}, "Monday: '25:00' is not a time of day."),
        ({"mon": [["24:00", "02:00"]]}, "Monday: a span cannot open at 24:00"),
        ({"mon": [["09:00", "09:00"]]}, "Monday: a span opens and closes at 09:00."),
        ({"tue": [["09:00", "13:00"], ["12:00", "17:00"]]}, "Tuesday: the spans 09:00–13:00"),
        ({"funday": []}, "'funday' is not a weekday"),
        ({"closed": ["25-12-2026"]}, "'25-12-2026' is not a date like 2026-12-25."),
        ("{not json", "the opening hours are not valid JSON."),
    ],
)
def test_wrong_hours_are_refused_in_plain_words(value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        hours.parse(value)


def test_the_same_hours_are_stored_the_same_way():
    assert hours.clean(json.dumps({"Monday": [[" 9:00", "17:00"]]})) == (
        '{"mon": [["09:00", "17:00"]]}'
    )


def page_text(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


def week_form(**changes) -> dict:
    values = {day: "" for day in hours.DAYS} | {
        "mon": "09:00-12:30, 13:30-17:30", "sat": "10:00–14:00",
        "closed": "2026-12-25\n\n2026-12-26", "business_name": "Bella's Bakery",
        "after_hours": "note", "after_hours_note": "Closed now; we answer tomorrow.",
        "away_message": "Away.", "always_tell": ["date", "hours"],
    }  # fmt: skip
    return values | changes


def test_the_hours_page_saves_the_week_and_shows_it_again(app, admin):
    saved = admin.post("/admin/knowledge/hours", week_form())
    assert saved.status_code == 302
    with app.app_context():
        assert json.loads(settings.get("opening_hours")) == {
            "mon": [["09:00", "12:30"], ["13:30", "17:30"]],
            "sat": [["10:00", "14:00"]],
            "closed": ["2026-12-25", "2026-12-26"],
        }
        assert settings.get("always_tell") == "date,hours"
        assert settings.get("after_hours") == "note"
        assert settings.get("business_name") == "Bella's Bakery"
    page = admin.get("/admin/knowledge/hours")
    body = page.get_data(as_text=True)
    assert 'value="09:00-12:30, 13:30-17:30"' in body
    assert re.search(r'value="date"[^>]*checked|checked[^>]*value="date"', body)
    assert not re.search(r'value="business"[^>]*checked', body)
    assert "Right now: " in page_text(page)


def test_a_wrong_time_is_refused_beside_its_day_and_nothing_is_saved(app, admin):
    refused = admin.post("/admin/knowledge/hours", week_form(tue="9 to 5", closed="Christmas"))
    text = page_text(refused)
    assert refused.status_code == 200 and "Nothing was saved" in text
    tuesday = re.search(r'<div class="field has-error">\s*<label for="tue">.*?</div>',
                        refused.get_data(as_text=True), re.S)  # fmt: skip
    assert tuesday and "write each span as 09:00-17:30, not &#39;9 to 5&#39;" in tuesday[0]
    assert "'Christmas' is not a date like 2026-12-25." in text
    assert 'value="9 to 5"' in refused.get_data(as_text=True)  # what was typed stays
    with app.app_context():
        assert settings.get("opening_hours") == "" and settings.get("business_name") == ""


def test_a_business_name_of_two_lines_is_refused_beside_it(app, admin):
    refused = admin.post("/admin/knowledge/hours", week_form(business_name="Bella\nBakery"))
    assert "Business name must be one line." in page_text(refused)
    with app.app_context():
        assert settings.get("opening_hours") == ""


def test_settings_offers_always_tell_as_checkboxes_and_saves_those_ticked(app, admin):
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert re.search(r'<input[^>]*type="checkbox"[^>]*value="customer_name"', page) or re.search(
        r'<input[^>]*value="customer_name"[^>]*type="checkbox"', page
    )
    assert re.search(r'<input[^>]*name="business_name"[^>]*type="text"', page) or re.search(
        r'<input[^>]*type="text"[^>]*name="business_name"', page
    )
    response = admin.post(
        "/admin/settings", section_form("Business", always_tell=["business", "customer_name"])
    )
    assert response.status_code == 302
    with app.app_context():
        assert settings.get("always_tell") == "business,customer_name"
    admin.post("/admin/settings", section_form("Business", always_tell=[]))
    with app.app_context():
        assert settings.get("always_tell") == ""


def test_the_business_template_is_filled_with_the_name_and_the_opening_hours(app, admin):
    with app.app_context():
        settings.save({"business_name": "Bella's Bakery", "opening_hours": json.dumps(
            {"tue": [["07:00", "17:00"]], "closed": ["2026-12-25"]})}, author="test")  # fmt: skip
    editor = admin.get("/admin/prompt?template=business").get_data(as_text=True)
    textarea = html.unescape(re.search(r"<textarea[^>]*>(.*?)</textarea>", editor, re.S)[1])
    assert "You are the WhatsApp assistant of Bella's Bakery." in textarea
    assert "Opening hours: Monday: closed; Tuesday: 07:00–17:00; Wednesday: closed" in textarea
    assert "2026" not in textarea  # closed dates are told each time, never kept in a prompt
    assert "What we sell: [e.g." in textarea  # the slots nothing fills stay for the owner


def test_without_settings_the_template_keeps_its_slots(app, admin):
    editor = admin.get("/admin/prompt?template=business").get_data(as_text=True)
    assert "[business name]" in editor and "Opening hours: [e.g." in editor

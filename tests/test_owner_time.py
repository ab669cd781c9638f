"""The owner's time zone: every time the admin shows, the dashboard's days and the CSV use it."""

import csv
import io
import json
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from tests.support.install import populate, section_form
from tests.support.records import BASE, add_row, text_of
from webapp import settings, stats
from webapp.extensions import db
from webapp.models import (
    AdminSession,
    Contact,
    FlowToken,
    Message,
    PromptVersion,
    RequestLog,
    Trial,
)

KOLKATA = "Asia/Kolkata"  # UTC+05:30 all year: BASE, 12:00 UTC, is 17:30 there
UTC_TIME, OWNERS_TIME = "2026-01-10 12:00", "2026-01-10 17:30"


def owner_in(app, zone: str) -> None:
    with app.app_context():
        settings.save({"timezone": zone}, author="test")


def test_the_time_zone_takes_an_iana_name(runner, app):
    result = runner.invoke(args=["settings", "set", "timezone", "Europe/Amsterdam"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert settings.get("timezone") == "Europe/Amsterdam"


def test_a_name_that_is_no_time_zone_is_refused_with_the_names_it_may_mean(runner, app):
    result = runner.invoke(args=["settings", "set", "timezone", "Amsterdam"])
    assert result.exit_code != 0
    assert "not a time zone" in result.output and "Europe/Amsterdam" in result.output
    result = runner.invoke(args=["settings", "set", "timezone", "Mars/Olympus_Mons"])
    assert result.exit_code != 0 and "not a time zone" in result.output


def test_until_one_is_chosen_the_zone_is_the_servers(app, monkeypatch):
    monkeypatch.setenv("TZ", "America/Lima")
    with app.app_context():
        assert settings.get("timezone") == "America/Lima"
        settings.save({"timezone": "Asia/Tokyo"}, author="test")
        assert settings.get("timezone") == "Asia/Tokyo"
        settings.save({"timezone": ""}, author="test")  # empty: the server's again
        assert settings.get("timezone") == "America/Lima"


@pytest.fixture
def everything_at_base(app, admin):
    """A populated install whose every moment is BASE, and a trial made then; the owner in
    Kolkata."""
    populate(app)
    with app.app_context():
        db.session.add(
            Trial(author="owner", models=json.dumps(["openai/gpt-4o-mini"]), source="typed",
                  questions=json.dumps([{"text": "Open on Sunday?", "message_id": None,
                                         "contact_id": None}]), created_at=BASE)
        )  # fmt: skip
        for table in (Message, RequestLog, PromptVersion, FlowToken, Trial, AdminSession):
            db.session.execute(update(table).values(created_at=BASE))
        db.session.execute(update(FlowToken).values(last_used_at=BASE))
        db.session.execute(update(Contact).values(last_inbound_at=BASE))
        db.session.commit()
    owner_in(app, KOLKATA)
    return admin


def ids_of(app):
    with app.app_context():
        return {
            "row": db.session.scalar(db.select(RequestLog.id).limit(1)),
            "contact": db.session.scalar(db.select(Contact.id)),
            "trial": db.session.scalar(db.select(Trial.id)),
        }


@pytest.mark.parametrize(
    "page",
    [
        "/admin/",
        "/admin/logs",
        "/admin/logs/{row}",
        "/admin/conversations",
        "/admin/conversations/{contact}",
        "/admin/trials",
        "/admin/trials/{trial}",
        "/admin/tokens",
        "/admin/prompt",
        "/account/password",
    ],
)
def test_every_page_shows_times_in_the_owners_zone(everything_at_base, app, page):
    shown = text_of(everything_at_base.get(page.format(**ids_of(app))))
    assert OWNERS_TIME in shown
    assert UTC_TIME not in shown and "UTC" not in shown


def test_the_csv_gives_times_in_the_owners_zone_with_their_offset(app, admin):
    add_row(app, 0)
    owner_in(app, KOLKATA)
    rows = list(csv.reader(io.StringIO(admin.get("/admin/logs.csv").get_data(as_text=True))))
    assert rows[1][0] == "2026-01-10T17:30:00+05:30"


def test_the_log_dates_are_the_owners_days(app, admin):
    evening = add_row(app, 9 * 60)  # 2026-01-10 21:00 UTC: 2026-01-11 02:30 in Kolkata
    owner_in(app, KOLKATA)
    page = admin.get("/admin/logs?since=2026-01-11&until=2026-01-11").get_data(as_text=True)
    assert f'href="/admin/logs/{evening}"' in page


def test_the_dashboard_counts_a_message_on_the_owners_day(app):
    zone = "Pacific/Kiritimati"  # UTC+14: its midnight is 10:00 the day before in UTC
    owner_in(app, zone)
    local_today = datetime.now(ZoneInfo(zone)).date()
    just_after_midnight = datetime.combine(local_today, time(0, 0, 1), ZoneInfo(zone))
    with app.app_context():
        contact = Contact(customer_id="31600000009", phone="31600000009")
        db.session.add(contact)
        db.session.flush()
        db.session.add(Message(contact_id=contact.id, direction="in", author="customer",
                               text="hi", state="answered",
                               created_at=just_after_midnight.astimezone(UTC)))  # fmt: skip
        db.session.commit()
        days = stats.per_day()
        today = stats.figures(stats.window(1))
    assert days[-1].day == local_today and days[-1].messages_in == 1
    assert days[-2].messages_in == 0
    assert today.messages_in == 1


def test_the_dashboard_and_the_log_say_which_zone_their_times_are_in(app, admin):
    owner_in(app, "Europe/Amsterdam")
    for page in ("/admin/", "/admin/logs"):
        body = admin.get(page).get_data(as_text=True)
        assert "Europe/Amsterdam" in body and 'href="/admin/settings#timezone"' in body


def test_the_settings_page_sets_the_zone_in_the_assistant_part(app, admin):
    admin.get("/admin/settings")
    response = admin.post("/admin/settings", section_form("Assistant", timezone=KOLKATA))
    assert response.status_code == 302
    with app.app_context():
        assert settings.get("timezone") == KOLKATA
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert '<option selected value="Asia/Kolkata">Kolkata</option>' in page
    refused = admin.post("/admin/settings", section_form("Assistant", timezone="Kolkata"))
    assert refused.status_code == 200 and "Asia/Kolkata" in text_of(refused)

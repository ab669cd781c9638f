"""Dashboard figures from a known data set, the credit warning, charts, and retention."""

from datetime import timedelta

import pytest

from tests.conftest import wait_for
from tests.support.records import NOW
from tests.support.setup_steps import finish_setup
from webapp import settings, state, stats
from webapp.data import retention
from webapp.extensions import db
from webapp.models import Message, RequestLog
from webapp.worker.process import Worker


def gone(**counts: int) -> dict[str, int]:
    return dict.fromkeys(retention.COUNTED, 0) | counts


def test_todays_figures_are_computed_from_the_data(known_data):
    with known_data.app_context():
        today = stats.figures(stats.window(1))
    assert (today.messages_in, today.replies_out) == (3, 2)
    assert (today.attempts, today.errors) == (4, 1)
    assert today.error_rate == pytest.approx(0.25)
    assert (today.median_ms, today.p95_ms) == (200, 900)
    assert today.tokens == 45
    assert today.cost == pytest.approx(0.012)


def test_fourteen_day_figures_leave_older_rows_out(known_data):
    with known_data.app_context():
        fortnight = stats.figures(stats.window(14))
        top = stats.top_errors(stats.window(14))
        models = {m.model: m for m in stats.per_model(stats.window(14))}
    assert (fortnight.messages_in, fortnight.attempts, fortnight.errors) == (4, 6, 3)
    assert top == [("no_credits", 2), ("timeout", 1)]
    assert models["openai/gpt-4o-mini"].requests == 5
    assert models["openai/gpt-4o-mini"].success_rate == pytest.approx(0.4)
    assert models["anthropic/claude-sonnet-4-6"].median_ms == 900


def test_per_day_counts_land_on_their_days(known_data):
    with known_data.app_context():
        days = stats.per_day()
    assert len(days) == 14
    assert days[-1].messages_in == 3 and days[-1].errors == {"timeout": 1}
    assert days[-6].errors == {"no_credits": 2}


def test_the_dashboard_shows_figures_fixes_and_charts(known_data, admin):
    page = admin.get("/admin/").get_data(as_text=True)
    assert "Out of credits" in page  # the top problem, by its troubleshooting title
    assert "Add credits at openrouter.ai/settings/credits" in page
    assert page.count('<svg class="chart"') == 3
    assert "25.0%" in page  # today's error rate
    assert "<script" not in page.split("</head>")[1]


def test_an_empty_install_shows_a_calm_dashboard(admin):
    page = admin.get("/admin/").get_data(as_text=True)
    assert "Nothing has gone wrong in the last 14 days." in page
    assert "No model has been asked anything yet." in page


def test_low_credit_on_the_last_key_test_is_a_warning(app, admin):
    with app.app_context():
        state.put(
            "key_test",
            {"ok": True, "limit_remaining": 0.42, "limit": 5, "usage": 4.58, "at": "now"},
        )
    page = admin.get("/admin/").get_data(as_text=True)
    assert "Only $0.42 of credit left" in page


def test_retention_deletes_what_is_older_than_the_setting(known_data):
    with known_data.app_context():
        settings.save({"retention_days": "30"}, author="test")
        removed = retention.purge()
        assert removed == gone(log_rows=1, messages=1)
        assert db.session.query(Message).count() == 7
        assert db.session.query(RequestLog).count() == 6


def test_retention_zero_keeps_everything(known_data):
    with known_data.app_context():
        settings.save({"retention_days": "0"}, author="test")
        assert retention.purge() == gone()
        assert db.session.query(Message).count() == 8


def message_count(app) -> int:
    with app.app_context():
        return db.session.query(Message).count()


def test_retention_runs_in_the_worker(known_data):
    with known_data.app_context():
        settings.save({"retention_days": "1"}, author="test")
    worker = Worker(known_data, threads=1).start()  # its periodic jobs run when it starts
    try:
        wait_for(lambda: message_count(known_data) == 6)
    finally:
        worker.stop()


def test_a_small_database_gets_figures_computed_for_every_view(known_data, admin):
    assert "25.0%" in admin.get("/admin/").get_data(as_text=True)
    with known_data.app_context():
        db.session.add(RequestLog(channel="whatsapp", status="error", error_kind="timeout"))
        db.session.commit()
    assert "40.0%" in admin.get("/admin/").get_data(as_text=True)


def slow_to_compute(app):
    """Pretend the kept figures took long to compute, as they do at a million rows."""
    with app.app_context():
        kept = state.get("dashboard")
        kept["took_ms"] = 1500
        state.put("dashboard", kept)


def error_rate_kept(app) -> float:
    with app.app_context():
        today = state.get("dashboard")["today"]
        return today["errors"] / today["attempts"]


def test_on_a_big_database_the_dashboard_reads_the_figures_the_worker_keeps(known_data, admin):
    with known_data.app_context():
        stats.refresh()  # what the worker does every minute
    slow_to_compute(known_data)
    with known_data.app_context():
        db.session.add(RequestLog(channel="whatsapp", status="error", error_kind="timeout"))
        db.session.commit()
    assert "25.0%" in admin.get("/admin/").get_data(as_text=True)  # the kept figures
    worker = Worker(known_data, threads=1).start()  # it refreshes the figures when it starts
    try:
        wait_for(lambda: error_rate_kept(known_data) == 0.4)
    finally:
        worker.stop()
    slow_to_compute(known_data)
    assert "40.0%" in admin.get("/admin/").get_data(as_text=True)  # 2 errors in 5 attempts


def test_stale_figures_are_computed_again_by_the_page(known_data, admin):
    with known_data.app_context():
        stats.refresh()
    slow_to_compute(known_data)
    with known_data.app_context():
        kept = state.get("dashboard")
        kept["computed_at"] = (NOW - timedelta(minutes=10)).isoformat()
        state.put("dashboard", kept)
        db.session.add(RequestLog(channel="whatsapp", status="error", error_kind="timeout"))
        db.session.commit()
    assert "40.0%" in admin.get("/admin/").get_data(as_text=True)


def checklist_state(page: str, label: str) -> str | None:
    import re

    tick = r'<span class="tick"[^>]*>[^<]*</span>'
    item = re.search(rf'<li class="(\w+)">\s*{tick}\s*<a [^>]*>{label}', page)
    return item and item.group(1)


def test_the_checklist_marks_the_first_delivered_reply(known_data, admin):
    finish_setup(known_data)
    page = admin.get("/admin/").get_data(as_text=True)
    assert checklist_state(page, "First reply delivered") == "done"


def test_a_set_up_install_has_no_delivered_reply_yet(app, admin):
    finish_setup(app)
    page = admin.get("/admin/").get_data(as_text=True)
    assert checklist_state(page, "First reply delivered") == "todo"

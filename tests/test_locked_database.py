"""A locked database shows: /healthz says so at once, pages still open, and the dashboard says
when a worker was last seen."""

import sqlite3
import time
from contextlib import contextmanager
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select, update

from tests.conftest import ADMIN_PASSWORD, CSRF_FIELD, wait_for
from tests.support.databases import environment_of
from tests.support.served import serving
from webapp import heartbeats, state, stats
from webapp.extensions import db
from webapp.health import PROBE_KEPT
from webapp.models import AdminSession, AppState, Contact, RequestLog, utcnow
from webapp.worker.process import Worker


@contextmanager
def locked(app):
    """Another program's write transaction held open on the database file, as a backup tool,
    the sqlite3 shell or a stuck process would hold it."""
    with app.app_context():
        path = db.engine.url.database
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def last_seen_minutes_ago(app, minutes: int) -> None:
    """A worker that died without stopping: its heartbeat is left, `minutes` old."""
    with app.app_context():
        heartbeats.beat("gone-host:4242", {})
        when = utcnow() - timedelta(minutes=minutes)
        db.session.execute(update(AppState).values(updated_at=when))
        db.session.commit()
        return when


# Another program holding SQLite's one write lock stops every writer; PostgreSQL has no such
# lock (writers wait only for the rows they share).
WHOLE_FILE_LOCK = pytest.mark.sqlite_only("another program holding SQLite's write lock")


@WHOLE_FILE_LOCK
def test_health_answers_503_within_seconds_while_the_database_is_locked(app, live_server):
    with locked(app):
        started = time.monotonic()
        response = requests.get(f"{live_server}/healthz", timeout=15)
        took = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert "cannot write within 1.5 s (database is locked)" in response.json()["database"]
    assert took < 5


@WHOLE_FILE_LOCK
def test_health_is_up_again_a_second_after_the_lock_is_released(app, live_server):
    with locked(app):
        assert requests.get(f"{live_server}/healthz", timeout=15).status_code == 503
    released = time.monotonic()

    def up() -> bool:
        return requests.get(f"{live_server}/healthz", timeout=15).status_code == 200

    wait_for(up, timeout=10)
    assert time.monotonic() - released < 3  # the probe's last answer is kept a second


@WHOLE_FILE_LOCK
def test_while_the_database_is_locked_a_monitor_asking_again_gets_the_answer_at_once(app):
    with serving(environment_of(app)) as url, locked(app):
        time.sleep(PROBE_KEPT)  # the answer kept from before the lock has run out
        started = time.monotonic()
        answers = [requests.get(f"{url}/healthz", timeout=15).status_code for _ in range(6)]
        took = time.monotonic() - started
    assert answers == [503] * 6
    assert took < 4  # one probe's 1.5 s wait, not six of them


def test_health_probing_leaves_nothing_written(app, client):
    client.get("/healthz")
    with app.app_context():
        assert state.get("health:probe") is None


def test_health_reports_when_a_worker_was_last_seen(app, client):
    assert client.get("/healthz").json["worker_last_seen"] is None
    when = last_seen_minutes_ago(app, 5)
    body = client.get("/healthz").json
    assert body["worker_last_seen"] == when.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert body["status"] == "degraded"


def test_a_worker_that_stopped_cleanly_is_still_reported_as_last_seen(app, client):
    Worker(app, threads=1).start().stop()
    assert client.get("/healthz").json["worker_last_seen"] is not None


def test_the_dashboard_says_when_the_worker_was_last_seen(app, admin):
    when = last_seen_minutes_ago(app, 3)
    page = admin.get("/admin/").get_data(as_text=True)
    assert "No worker is running" in page
    assert f"A worker was last seen at {when:%Y-%m-%d %H:%M}." in page


def test_the_dashboard_says_when_no_worker_has_run_yet(admin):
    assert "No worker has run yet." in admin.get("/admin/").get_data(as_text=True)


@pytest.fixture
def some_of_everything(app, request):
    """Customers, messages and log rows, and figures the worker kept: ids for the pages."""
    request.getfixturevalue("known_data")  # the dashboard tests' data
    with app.app_context():
        stats.refresh()
        ids = {"contact": select(Contact.id), "row": select(func.min(RequestLog.id))}
        return {name: db.session.scalar(query.limit(1)) for name, query in ids.items()}


PAGES = [
    "/admin/", "/admin/conversations", "/admin/conversations/{contact}", "/admin/logs",
    "/admin/logs/{row}", "/admin/logs.csv", "/admin/models", "/admin/settings", "/admin/prompt",
    "/admin/tokens", "/admin/trials", "/account/password",
]  # fmt: skip


@WHOLE_FILE_LOCK
@pytest.mark.parametrize("page", PAGES)
def test_a_page_opens_while_the_database_is_locked(app, admin, some_of_everything, page):
    with app.app_context():  # a session last seen long ago: a page must not write that down
        db.session.execute(update(AdminSession).values(last_seen_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    with locked(app):
        response = admin.get(page.format(**some_of_everything))
    assert response.status_code == 200


@WHOLE_FILE_LOCK
def test_the_dashboard_opens_from_the_server_while_the_database_is_locked(app, live_server):
    session = requests.Session()
    token = next(filter(None, CSRF_FIELD.search(session.get(f"{live_server}/login").text).groups()))
    form = {"csrf_token": token, "username": "owner", "password": ADMIN_PASSWORD}
    assert session.post(f"{live_server}/login", data=form, timeout=15).ok
    with locked(app):
        response = session.get(f"{live_server}/admin/", timeout=30)
    assert response.status_code == 200 and "Figures as of" in response.text

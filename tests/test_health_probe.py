"""/healthz asked by many callers at once, over real HTTP as `make run` serves it: its write
probe runs about once a second, whoever asks, and webhooks keep answering meanwhile."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.conftest import APP_SECRET, wait_for
from tests.support.databases import environment_of
from tests.support.payloads import text_delivery
from tests.support.served import serving
from webapp.clients.whatsapp_webhook import sign
from webapp.extensions import db

CALLERS = 16
SECONDS = 4.0


def ask_health_until(url: str, stop: threading.Event) -> int:
    """/healthz asked again as soon as it answers, until `stop`: how many answers came."""
    answers = 0
    with requests.Session() as session:
        while not stop.is_set():
            session.get(f"{url}/healthz", timeout=10)
            answers += 1
    return answers


def deliveries_while_health_is_asked(url: str) -> tuple[list[float], list[int], int]:
    """Signed webhooks posted one after another while CALLERS ask /healthz for SECONDS: how
    long each took to be acknowledged, their statuses, and how many health answers came."""
    stop = threading.Event()
    took, statuses = [], []
    with ThreadPoolExecutor(CALLERS) as pool, requests.Session() as meta:
        callers = [pool.submit(ask_health_until, url, stop) for _ in range(CALLERS)]
        until = time.monotonic() + SECONDS
        while time.monotonic() < until:
            raw = text_delivery("16505551234", f"Order {len(took)}", f"wamid.{len(took)}")
            headers = {"X-Hub-Signature-256": sign(APP_SECRET, raw)}
            started = time.monotonic()
            response = meta.post(f"{url}/webhook/whatsapp", data=raw, headers=headers, timeout=10)
            took.append(time.monotonic() - started)
            statuses.append(response.status_code)
        stop.set()
        return took, statuses, sum(caller.result() for caller in callers)


def test_webhooks_keep_answering_while_sixteen_callers_ask_for_health(whatsapp):
    with serving(environment_of(whatsapp)) as url:
        took, statuses, health_answers = deliveries_while_health_is_asked(url)
    assert health_answers > CALLERS * SECONDS  # they did ask, many times a second
    assert set(statuses) == {200}
    assert max(took) < 2  # generous: on one machine a webhook takes milliseconds


@pytest.mark.postgresql_only("PostgreSQL counts every row inserted, rolled back or not")
def test_sixteen_callers_cause_about_one_write_probe_a_second(whatsapp):
    """Each probe inserts a row into app_state and rolls it back; nothing else inserts there
    meanwhile (no worker runs, the webhooks are for the configured number)."""
    with whatsapp.app_context():
        url = db.engine.url.render_as_string(hide_password=False)
        db.engine.dispose()  # the test's own connections: their counts are in from here on
    before = rows_inserted(url)
    with serving(environment_of(whatsapp)) as served:
        started = time.monotonic()
        deliveries_while_health_is_asked(served)
        seconds = time.monotonic() - started
    probes = rows_inserted(url) - before  # serve has stopped: its connections' counts are in
    assert 1 <= probes <= seconds + 2  # and one while `serving` waited for the server


def rows_inserted(url: str) -> int:
    """app_state's rows inserted so far, as PostgreSQL counts them once every other
    connection to the database has ended (a connection sends its counts as it ends)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            others = text(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

            def alone() -> bool:
                connection.rollback()  # statistics are read once per transaction
                return connection.scalar(others) == 0

            wait_for(alone, timeout=10)
            connection.rollback()
            inserted = "SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = 'app_state'"
            return connection.scalar(text(inserted))
    finally:
        engine.dispose()

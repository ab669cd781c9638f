"""`GET /healthz`: whether the database and the queue answer, and whether anything needs the owner.

503 when the database (and with it the queue, which lives in it) cannot be read, or cannot be
written within a second and a half: webhooks would fail then. Stored secrets nobody can decrypt,
or no worker at work, make the status "degraded" with HTTP 200: the admin must stay reachable
behind a load balancer, since it is where they are fixed.

Anyone may ask, as often as they like, so the write probe runs at most once a second and one
at a time: every caller meanwhile gets its last answer. Each probe takes the database's write
lock for a moment, and webhooks wait for that lock.
"""

import threading
import time

from flask import Blueprint, current_app, jsonify
from sqlalchemy import func, insert, select
from sqlalchemy.exc import SQLAlchemyError

from . import crypto, heartbeats, settings, sqlite_writes
from .extensions import db
from .models import AppState, Message
from .states import MessageState

bp = Blueprint("health", __name__)
PROBE_SECONDS = 1.5
PROBE_KEPT = 1.0  # seconds a probe's answer is given to later callers
PROBE = insert(AppState).values(name="health:probe", value="{}")


@bp.get("/healthz")
def healthz():
    try:
        waiting = db.session.scalar(
            select(func.count()).where(
                Message.direction == "in", Message.state == MessageState.RECEIVED
            )
        )
        last_seen = heartbeats.last_seen()
        db.session.rollback()  # the read ends here: the probe must not wait behind it
        problem = current_app.extensions["write_probe"].problem()
    except SQLAlchemyError as exc:
        problem = f"error: {exc.__class__.__name__}"
    if problem:
        return jsonify({"status": "error", "database": problem, "queue": problem}), 503
    body = {"status": "ok", "database": "ok", "queue": "ok", "waiting": waiting}
    body["worker_last_seen"] = last_seen and last_seen.strftime("%Y-%m-%dT%H:%M:%SZ")
    workers = heartbeats.alive()
    body["workers"] = len(workers)
    if not workers:
        body["status"] = "degraded"
        body["worker"] = "no worker is running: messages are stored but not answered"
    if settings.unreadable():
        body["status"] = "degraded"
        body["secrets"] = crypto.UNREADABLE
    return jsonify(body), 200


class WriteProbe:
    """The last answer of `write_problem`, kept PROBE_KEPT seconds. Callers that come while a
    probe runs wait for it and take its answer: a probe that waits out a held lock is not
    followed by one more for each of them."""

    def __init__(self):
        self._one_at_a_time = threading.Lock()
        self._answer: str | None = None
        self._until = float("-inf")

    def problem(self) -> str | None:
        with self._one_at_a_time:
            if time.monotonic() >= self._until:
                try:
                    self._answer = write_problem()
                except SQLAlchemyError as exc:  # no connection to probe with: kept too
                    self._answer = f"error: {exc.__class__.__name__}"
                self._until = time.monotonic() + PROBE_KEPT
            return self._answer


@bp.record_once
def _one_probe_per_app(state) -> None:
    state.app.extensions["write_probe"] = WriteProbe()


def write_problem() -> str | None:
    """Why a write would not go through within PROBE_SECONDS (a held lock, a read-only or
    full disk); None when it would. The probe writes a row and rolls it back."""
    ms = int(PROBE_SECONDS * 1000)
    with db.engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            busy = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
            connection.exec_driver_sql(f"PRAGMA busy_timeout = {ms}")
        try:
            if connection.dialect.name == "postgresql":
                connection.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
                connection.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")
            sqlite_writes.outside_the_turns(connection)
            connection.execute(PROBE)
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", exc)).splitlines()[0]
            return f"error: cannot write within {PROBE_SECONDS:g} s ({reason})"
        finally:
            connection.rollback()
            if sqlite:  # the connection goes back to the pool: later writes wait as usual
                connection.exec_driver_sql(f"PRAGMA busy_timeout = {busy}")
    return None

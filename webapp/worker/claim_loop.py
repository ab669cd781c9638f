"""The worker's one claim loop, for customers' turns and trial cells alike: claim while a
lane's pool has room, look at the database only when it may have changed, and every second
for work whose holder stopped."""

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress

import psycopg
from flask import has_app_context
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db

log = logging.getLogger(__name__)

# Claimed per transaction: enough to spare most of a transaction each, few enough that a
# webhook never waits long for SQLite's write lock behind a claim.
CLAIM_BATCH = 8
EXPIRED_EVERY = 1.0  # seconds between looks for work whose holder stopped renewing its lease
LOG_END = "SELECT pg_current_wal_insert_lsn()"  # PostgreSQL's write-ahead log
MOVING, OPEN_FOR = 20, 10.0  # PostgreSQL: after 20 looks that all saw it move, 10 s unlooked


class Changes:
    """Whether the database may have changed since the last look, for a fraction of a
    claim's cost: every commit writes to the database's write-ahead log, so an idle worker
    reads where the log ends instead of querying for work 20 times a second. SQLite: a stat
    of the WAL file (microseconds). PostgreSQL: one statement on a connection of the gate's
    own, outside any transaction. That log is the whole server's: when it moved at every look
    (a server shared with busy databases, or this one busy), the gate stays open a while
    without looking, and the loop polls as it would without it. (A commit logged just before
    a look but visible just after the claim is found by the look for stopped work, within a
    second.)"""

    def __init__(self, engine: Engine):
        sqlite = engine.url.get_backend_name() == "sqlite"
        self.engine = engine
        self.wal = f"{engine.url.database}-wal" if sqlite else None
        self.connection = None  # PostgreSQL: the gate's own, out of the pool
        self.last = None
        self.moved = 0  # looks in a row that found the log moved
        self.open_until = 0.0  # time.monotonic()

    def seen(self) -> bool:
        if time.monotonic() < self.open_until:
            return True
        now = self._log_end()
        changed, self.last = now is None or now != self.last, now
        self.moved = self.moved + 1 if changed else 0
        if self.wal is None and self.moved >= MOVING:  # looking costs more than it spares
            self.moved, self.open_until = 0, time.monotonic() + OPEN_FOR
        return changed

    def _log_end(self):
        if self.wal is not None:
            try:
                info = os.stat(self.wal)
            except OSError:
                return None  # "maybe": the claim tells
            return info.st_ino, info.st_size, info.st_mtime_ns
        try:
            if self.connection is None:
                self.connection = self.engine.raw_connection()
                self.connection.detach()  # closed with the gate, never back in the pool
                self.connection.dbapi_connection.autocommit = True
            return self.connection.dbapi_connection.execute(LOG_END).fetchone()[0]
        except (SQLAlchemyError, psycopg.Error):
            self.close()  # a new connection next time
            return None

    def close(self) -> None:
        if self.connection is not None:
            with suppress(Exception):
                self.connection.close()
            self.connection = None


class Lane:
    """One kind of work (customers' turns, trial cells) on a pool of threads of its own, so a
    burst of one never keeps the other waiting. `claim(limit, expired)` claims up to `limit`
    and commits (with `expired`, also work whose holder stopped renewing); `run(job)` does one,
    on a pool thread that keeps one app context for its life."""

    def __init__(self, app, name: str, threads: int, claim: Callable, run: Callable):
        self.app, self.name, self.threads = app, name, threads
        self._claim, self._run = claim, run
        self.in_flight = 0
        self.pending = True  # something may be waiting: look at the first pass
        self.freed = False  # a job of this lane ended since its last claim
        self.backlog = False  # its last claim took all it asked for: more may be waiting
        self.last_claim = 0.0  # time.monotonic()
        self.next_expired = 0.0  # time.monotonic() of the next look for stopped work
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix=name)

    def room(self) -> int:
        return self.threads - self.in_flight

    def claimed_within(self, seconds: float) -> bool:
        return time.monotonic() - self.last_claim < seconds

    def claim(self, limit: int, expired: bool, stopping: threading.Event, done) -> int:
        """Claim and hand to the pool; `done()` is called as each job ends. How many came."""
        self.freed, self.last_claim = False, time.monotonic()
        try:
            jobs = self._claim(limit, expired)
        except Exception:
            db.session.rollback()
            log.exception("claiming %s failed; trying again in a moment", self.name)
            stopping.wait(1)
            return 0
        for job in jobs:
            with self._lock:
                self.in_flight += 1
            self._pool.submit(self._run_one, job, done)
        return len(jobs)

    def _run_one(self, job, done) -> None:
        if not has_app_context():
            # A job needs an app context (and its database session); making one per job
            # costs more than it should, so each pool thread keeps one.
            self.app.app_context().push()
        try:
            self._run(job)
        finally:
            with self._lock:
                self.in_flight -= 1
            self.freed = True
            done()

    def finish(self) -> None:
        """Wait for the jobs in flight to end (after the loop stopped claiming)."""
        self._pool.shutdown(wait=True)


class ClaimLoop:
    """The worker's one claim loop: claims for every lane while its pool has room, looks at the
    database only when it may have changed (see Changes), and every EXPIRED_EVERY for work
    whose holder stopped (a lease running out writes nothing the gate could see)."""

    def __init__(self, lanes: list[Lane], stopping: threading.Event, poll: float):
        self.lanes, self.stopping, self.poll = lanes, stopping, poll
        self.wake = threading.Event()  # a job ended, or the worker stops

    def run(self) -> None:
        """Until `stopping`; needs an app context for its whole life."""
        changes = Changes(db.engine)
        try:
            while not self.stopping.is_set():
                if self._pass(changes):
                    continue
                if any(lane.room() <= 0 for lane in self.lanes):
                    self.wake.wait(self.poll)  # a full pool claims again as soon as a job ends
                else:
                    # Everything waiting is claimed: what arrives meanwhile is claimed together
                    # a poll later, one query for many, not one query after every answer.
                    self.stopping.wait(self.poll)
                self.wake.clear()
        finally:
            changes.close()

    def _pass(self, changes: Changes) -> bool:
        """One look for every lane with room; True when a lane may have more waiting at once."""
        if any(lane.room() > 0 for lane in self.lanes) and changes.seen():
            for lane in self.lanes:
                lane.pending = True  # remembered by a full lane until it has room again
        more = False
        for lane in self.lanes:
            free = lane.room()
            if free <= 0:
                continue
            expired = time.monotonic() >= lane.next_expired
            if expired:
                lane.next_expired = time.monotonic() + EXPIRED_EVERY
            elif not lane.pending:  # nothing was written: nothing new can be waiting
                continue
            elif not (lane.freed or lane.backlog) and lane.claimed_within(self.poll):
                # Woken by another lane's job: every answer's commit moves the log, so this
                # lane would look each time. It stays pending and looks a poll later.
                continue
            limit = min(free, CLAIM_BATCH)
            # Fewer than asked: everything waiting is claimed, and what arrives meanwhile is
            # claimed together a moment later, one query for many.
            lane.pending = lane.backlog = (
                lane.claim(limit, expired, self.stopping, self.wake.set) == limit
            )
            more = more or lane.backlog
        return more

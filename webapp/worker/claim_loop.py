"""The claim loop the worker runs for turns and for trial cells: claim while the pool has
room, look at the database only when it may have changed, and now and then for work whose
holder stopped."""

import os
import threading
import time
from collections.abc import Callable
from contextlib import suppress

import psycopg
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

# Claimed per transaction: enough to spare most of a transaction each, few enough that a
# webhook never waits long for SQLite's write lock behind a claim.
CLAIM_BATCH = 8
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


def claim_until_stopped(
    stopping: threading.Event,
    wake: threading.Event,
    poll: float,
    room: Callable[[], int],
    claim: Callable[[int, bool], int],
    changes: Changes,
    expired_every: float,
) -> None:
    """Until `stopping`: `claim(limit, expired)` claims up to `limit` (and, with `expired`,
    work whose holder stopped), hands it to the pool and says how many it got. `room()` is
    what the pool can take; `wake` is set when a run ends. `changes` is closed at the end."""
    next_expired = 0.0
    try:
        while not stopping.is_set():
            free = room()
            if free <= 0:  # every thread is busy: claim again when one is done
                wake.wait(poll)
                wake.clear()
                continue
            expired = time.monotonic() >= next_expired
            if expired:
                next_expired = time.monotonic() + expired_every
            elif not changes.seen():  # nothing was written: nothing new can be waiting
                stopping.wait(poll)
                continue
            limit = min(free, CLAIM_BATCH)
            if claim(limit, expired) < limit:
                # Everything waiting is claimed: what arrives meanwhile is claimed together a
                # moment later, one query for many.
                stopping.wait(poll)
    finally:
        changes.close()

"""SQLite writers take turns: one thread per process, one process at a time, webhooks first.

SQLite lets one connection write at a time; the others wait in its busy handler, which sleeps
1, 2, 5 … up to 100 ms between tries. With the worker's many threads writing, a webhook could
wait hundreds of milliseconds for a write that takes one. So a transaction's first write takes
this database's turn first: a lock among the threads of the process, then a lock on the first
byte of a file beside the database among processes (the web server, the worker, the command
line), tried every millisecond at most. While a web server or command waits for it, it holds
a shared lock on the second byte, and the worker (`DEFER`) does not take the turn then:
Meta waits for the webhook's answer, a customer can wait a millisecond longer. The turn ends
with the transaction. PostgreSQL needs none of this.
"""

import fcntl
import os
import sqlite3
import threading
import time

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool

WRITES = ("INSERT", "UPDATE", "DELETE")
DEFER = False  # the worker sets it: webhooks (and owners) go first, answers can wait a moment
WAIT = 30.0  # seconds; a write transaction held open this long is a bug, not a queue
BUSY = "database is locked: another write did not finish within 30 seconds"


class WriteTurn:
    """The turn to write to one SQLite database file."""

    def __init__(self, database: str):
        self.threads = threading.Lock()
        self.fd = None
        if database and database != ":memory:":
            self.fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def take(self) -> None:
        if not self.threads.acquire(timeout=WAIT):
            raise sqlite3.OperationalError(BUSY)
        if self.fd is None:
            return
        deadline, pause = time.monotonic() + WAIT, 0.0001
        announced = False
        try:
            while True:
                if not DEFER and not announced:
                    announced = self._announce()
                if self._try():
                    return
                if time.monotonic() > deadline:
                    self.threads.release()
                    raise sqlite3.OperationalError(BUSY) from None
                time.sleep(pause)
                pause = min(pause * 2, 0.001)
        finally:
            if announced:
                fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, 1)

    def _announce(self) -> bool:
        """Say "a writer that goes first is waiting" (a shared lock on the second byte).
        Never blocking: a deferring writer holds that byte for an instant while it looks,
        and a process stopped in that instant must not stop this one too."""
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_SH | fcntl.LOCK_NB, 1, 1)
        except OSError:
            return False
        return True

    def _try(self) -> bool:
        if DEFER:  # let a waiting web server (or command) write first
            try:
                fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 1)
            except OSError:
                return False
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, 1)
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 0)
        except OSError:
            return False
        return True

    def give(self) -> None:
        if self.fd is not None:
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, 0)
        self.threads.release()


_turns: dict[str, WriteTurn] = {}
_turns_lock = threading.Lock()


def turn_for(database: str) -> WriteTurn:
    with _turns_lock:
        if database not in _turns:
            _turns[database] = WriteTurn(database)
        return _turns[database]


@event.listens_for(Engine, "before_cursor_execute")
def _take_the_turn(conn, cursor, statement, parameters, context, executemany):
    if conn.dialect.name != "sqlite" or "write_turn" in conn.info:
        return
    if statement.lstrip()[:6].upper() in WRITES:
        turn = turn_for(conn.engine.url.database or "")
        turn.take()
        conn.info["write_turn"] = turn


def outside_the_turns(connection) -> None:
    """Let this connection's next transaction write without taking the turn, bounded by
    SQLite's busy timeout alone: a health probe must answer within it, not queue for up to
    WAIT behind a writer that may be the very thing it reports."""
    connection.info["write_turn"] = None  # taken, as far as _take_the_turn can tell


def _end_turn(info: dict) -> None:
    if turn := info.pop("write_turn", None):
        turn.give()


@event.listens_for(Engine, "commit")
def _committed(conn):
    _end_turn(conn.info)


@event.listens_for(Engine, "rollback")
def _rolled_back(conn):
    # A connection that broke has no info to read (reading it would reconnect, and fail
    # until this very rollback is done); its turn ended with it, in _broken.
    if not conn.invalidated:
        _end_turn(conn.info)


@event.listens_for(Pool, "reset")
def _returned_to_the_pool(dbapi_connection, record, reset_state):
    _end_turn(record.info)


@event.listens_for(Pool, "invalidate")
def _broken(dbapi_connection, record, exception):
    _end_turn(record.info)

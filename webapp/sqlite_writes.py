"""SQLite writers take turns: one thread per process, one process at a time, webhooks first.

SQLite lets one connection write at a time; the others wait in its busy handler, which sleeps
1, 2, 5 … up to 100 ms between tries. With the worker's many threads writing, a webhook could
wait hundreds of milliseconds for a write that takes one. So a transaction's first write takes
this database's turn first: a lock among the threads of the process, then a lock on the first
byte of a file beside the database among processes (the web server, the worker, the command
line), tried every millisecond at most. While a web server or command waits for it, it holds
a shared lock on the second byte, and the worker (`DEFER`) does not take the turn then:
Meta waits for the webhook's answer, a customer can wait a millisecond longer (without it,
webhooks sent as fast as they were answered waited about a quarter longer for their 200 at
the 99th percentile, in bench/delivery_bench.py). The turn ends once the transaction's COMMIT
or ROLLBACK is done. PostgreSQL needs none of this.

Those locks need a filesystem that has them (SQLite needs them too): on some network and
container volumes lockf fails with another error than "held by another process" (ENOLCK,
EOPNOTSUPP…). That is said at once, and commands that start stop there, naming the cause.
"""

import errno
import fcntl
import os
import sqlite3
import threading
import time

import click
from sqlalchemy import event
from sqlalchemy.engine import Engine

WRITES = ("INSERT", "UPDATE", "DELETE")
DEFER = False  # the worker sets it: webhooks (and owners) go first, answers can wait a moment
WAIT = 30.0  # seconds; a write transaction held open this long is a bug, not a queue
BUSY = "database is locked: another write did not finish within 30 seconds"
HELD = (errno.EAGAIN, errno.EACCES)  # lockf's only ways of saying "another process holds it"
CHECKED_BYTE = 2  # no writer locks it: checking the locks disturbs nobody


class NoFileLocks(sqlite3.OperationalError):
    """The database's filesystem cannot lock files, so writers cannot take turns."""

    def __init__(self, path: str, error: OSError):
        super().__init__(
            f"Cannot lock files beside the database {path} ({error.strerror}). SQLite needs "
            "file locks, and some network and container volumes do not have them. Keep the "
            "database on a local disk (set INSTANCE_PATH, or DATABASE_URL=sqlite:///PATH, to "
            "a folder on one), or move to PostgreSQL (DATABASE_URL; `db copy` moves the data)."
        )


class WriteTurn:
    """The turn to write to one SQLite database file."""

    def __init__(self, database: str):
        self.database = database
        self.threads = threading.Lock()
        self.fd = None
        if database and database != ":memory:":
            self.fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def take(self) -> None:
        if not self.threads.acquire(timeout=WAIT):
            raise sqlite3.OperationalError(BUSY)
        if self.fd is None:
            return
        try:
            self._take_the_file()
        except BaseException:
            self.threads.release()
            raise

    def _take_the_file(self) -> None:
        deadline, pause = time.monotonic() + WAIT, 0.0001
        announced = False
        try:
            while True:
                if not DEFER and not announced:
                    announced = self._announce()
                if self._try():
                    return
                if time.monotonic() > deadline:
                    raise sqlite3.OperationalError(BUSY)
                time.sleep(pause)
                pause = min(pause * 2, 0.001)
        finally:
            if announced:
                fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, 1)

    def _locked(self, how: int, start: int) -> bool:
        """Lock byte `start` without waiting: False when another process holds it,
        NoFileLocks when the filesystem cannot lock files at all."""
        try:
            fcntl.lockf(self.fd, how | fcntl.LOCK_NB, 1, start)
        except OSError as error:
            if error.errno in HELD:
                return False
            raise NoFileLocks(self.database, error) from error
        return True

    def check(self) -> None:
        """Raise NoFileLocks if this database's filesystem cannot lock files."""
        if self.fd is not None and self._locked(fcntl.LOCK_EX, CHECKED_BYTE):
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, CHECKED_BYTE)

    def _announce(self) -> bool:
        """Say "a writer that goes first is waiting" (a shared lock on the second byte).
        Never blocking: a deferring writer holds that byte for an instant while it looks,
        and a process stopped in that instant must not stop this one too."""
        return self._locked(fcntl.LOCK_SH, 1)

    def _try(self) -> bool:
        if DEFER:  # let a waiting web server (or command) write first
            if not self._locked(fcntl.LOCK_EX, 1):
                return False
            fcntl.lockf(self.fd, fcntl.LOCK_UN, 1, 1)
        return self._locked(fcntl.LOCK_EX, 0)

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


def forget_turns() -> None:
    """Close every database's lock file: for a process that has opened many databases one
    after another and uses none of them any more (the test suite: one per test, whose open
    files would otherwise pile up past what select() can watch). Never while a write may be
    under way: closing a file drops the process's locks on it."""
    with _turns_lock:
        for turn in _turns.values():
            if turn.fd is not None:
                os.close(turn.fd)
        _turns.clear()


def refuse_without_file_locks(engine: Engine) -> None:
    """Stop a command at its start, with the cause and what to do, when the SQLite database's
    filesystem cannot lock files: started anyway, every write would fail."""
    if engine.dialect.name != "sqlite":
        return
    try:
        turn_for(engine.url.database or "").check()
    except NoFileLocks as problem:
        raise click.ClickException(str(problem)) from None


class TurnConnection(sqlite3.Connection):
    """A SQLite connection that passes its write turn on once its COMMIT or ROLLBACK is done.
    SQLAlchemy's commit event comes before the COMMIT: handed on there, the next writer took
    the turn only to sleep in SQLite's busy handler while the COMMIT was still being written."""

    turn = None  # the WriteTurn its transaction holds, or OUTSIDE

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self) -> None:  # a broken connection is closed without either
        try:
            super().close()
        finally:
            self.end_turn()

    def end_turn(self) -> None:
        turn, self.turn = self.turn, None
        if isinstance(turn, WriteTurn):
            turn.give()


OUTSIDE = object()  # a transaction that writes without the turn (outside_the_turns)


@event.listens_for(Engine, "do_connect")
def _connect_with_turns(dialect, _record, _args, options):
    if dialect.name == "sqlite":
        options.setdefault("factory", TurnConnection)


@event.listens_for(Engine, "before_cursor_execute")
def _take_the_turn(conn, cursor, statement, parameters, context, executemany):
    sqlite = cursor.connection
    if not isinstance(sqlite, TurnConnection) or sqlite.turn is not None:
        return
    if statement.lstrip()[:6].upper() in WRITES:
        turn = turn_for(conn.engine.url.database or "")
        turn.take()
        sqlite.turn = turn


def outside_the_turns(connection) -> None:
    """Let this connection's next transaction write without taking the turn, bounded by
    SQLite's busy timeout alone: a health probe must answer within it, not queue for up to
    WAIT behind a writer that may be the very thing it reports."""
    sqlite = connection.connection.dbapi_connection
    if isinstance(sqlite, TurnConnection):
        sqlite.turn = OUTSIDE

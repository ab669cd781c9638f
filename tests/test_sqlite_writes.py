"""SQLite writers take turns across processes, a waiting webhook goes before the worker, and a
volume without file locks is named when a command starts."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import insert

from tests.support.databases import environment_of
from tests.support.fakes import refused_port_url
from webapp.extensions import db
from webapp.models import AppState

pytestmark = pytest.mark.sqlite_only("how SQLite writers take turns; PostgreSQL locks rows")
ROOT = Path(__file__).resolve().parent.parent
# A process that says "waiting", takes the write turn, says when it got it, holds it until
# told (a line on its stdin) if it is to hold it, then gives it back.
WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from webapp import sqlite_writes
sqlite_writes.DEFER = {defer}
turn = sqlite_writes.WriteTurn({database!r})
print("waiting", flush=True)
turn.take()
print(time.monotonic(), flush=True)
if {hold}:
    sys.stdin.readline()
turn.give()
"""


class Writer:
    def __init__(self, database: Path, defer: bool = False, hold: bool = True):
        code = WRITER.format(root=str(ROOT), database=str(database), defer=defer, hold=hold)
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.process.stdout.readline() == "waiting\n"

    def got_turn_at(self) -> float:
        return float(self.process.stdout.readline())

    def give(self) -> None:
        self.process.communicate("give\n", timeout=20)


def test_one_process_writes_at_a_time(tmp_path):
    database = tmp_path / "switchboard.db"
    first = Writer(database)
    first.got_turn_at()
    second = Writer(database)
    time.sleep(0.3)
    given = time.monotonic()
    first.give()
    assert second.got_turn_at() > given  # it waited for the first to finish
    second.give()


def test_a_waiting_webhook_writes_before_the_worker(tmp_path):
    database = tmp_path / "switchboard.db"
    holder = Writer(database)
    holder.got_turn_at()
    workers = [Writer(database, defer=True, hold=False) for _ in range(3)]  # they wait first…
    web = Writer(database, hold=False)  # …but the web server's write goes first
    time.sleep(0.3)  # all are in take() by now, past their "waiting"
    holder.give()
    web_at = web.got_turn_at()
    assert all(web_at < worker.got_turn_at() for worker in workers)
    for process in (web, *workers):
        process.give()


def test_the_worker_writes_at_once_when_nobody_else_waits(tmp_path):
    database = tmp_path / "switchboard.db"
    started = time.monotonic()
    alone = Writer(database, defer=True)
    assert alone.got_turn_at() - started < 5
    alone.give()


def test_a_deferring_writer_stopped_while_it_looks_does_not_stop_the_web_writers(tmp_path):
    database = tmp_path / "switchboard.db"
    # A deferring writer looks at the second byte of the lock file for an instant; stopped in
    # that instant (SIGSTOP, a frozen VM), it holds it as long as it is stopped.
    look = (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(database) + '-writer.lock'!r}, os.O_RDWR | os.O_CREAT, 0o600)\n"
        "fcntl.lockf(fd, fcntl.LOCK_EX, 1, 1)\n"
        "print('looking', flush=True)\n"
        "time.sleep(60)\n"
    )
    stopped = subprocess.Popen([sys.executable, "-c", look], stdout=subprocess.PIPE, text=True)
    try:
        assert stopped.stdout.readline() == "looking\n"
        web, got = Writer(database), []
        reader = threading.Thread(target=lambda: got.append(web.got_turn_at()), daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert got, "the web writer waited on the stopped writer"
        web.give()
    finally:
        stopped.kill()
        stopped.wait()


def test_a_writer_waiting_for_its_turn_writes_as_soon_as_the_commit_before_it_is_done(app):
    """The turn passes on once the COMMIT is done. Passed on before, the next writer would
    find the database still locked and sleep in SQLite's busy handler (1, 2, 5 … 100 ms at a
    time), and a webhook's answer would wait with it."""
    with app.app_context():
        engine = db.engine
    written = []

    def commit_slowly(statement: str) -> None:  # as on a slow disk
        if statement == "COMMIT":
            time.sleep(0.25)

    def write_next() -> None:
        with engine.connect() as connection:
            connection.execute(insert(AppState).values(name="second", value="{}"))
            written.append(time.monotonic())
            connection.commit()

    with engine.connect() as connection:
        connection.execute(insert(AppState).values(name="first", value="{}"))
        waiting = threading.Thread(target=write_next)
        waiting.start()
        time.sleep(0.1)  # long enough to be waiting for the turn
        sqlite = connection.connection.dbapi_connection
        sqlite.set_trace_callback(commit_slowly)
        try:
            connection.commit()
        finally:
            sqlite.set_trace_callback(None)
        committed = time.monotonic()
    waiting.join(timeout=15)
    assert written[0] - committed < 0.05


# As on a volume without byte-range locks (NFS without its lock daemon, some container
# volumes): every lockf fails, with another error than "held by another process".
NO_FILE_LOCKS = """
import errno, fcntl, os

def lockf(*args):
    raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

fcntl.lockf = lockf
"""


@pytest.fixture
def no_file_locks(app, tmp_path) -> dict:
    """The environment of a `flask` process on the app's install, on such a volume."""
    folder = tmp_path / "no-file-locks"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(NO_FILE_LOCKS)
    port = refused_port_url().rsplit(":", 1)[1]
    return {**os.environ, **environment_of(app), "PYTHONPATH": str(folder), "PORT": port}


def flask(environment: dict, *command: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """Run `flask --app wsgi COMMAND…` until it stops by itself; if it has not within `timeout`,
    stop it as Ctrl-C would (its worker too) and fail."""
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", *command],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
        pytest.fail(f"`flask {' '.join(command)}` was still running after {timeout:g} s")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.mark.parametrize("command", [["serve"], ["worker"], ["db", "upgrade"]])
def test_a_start_on_a_volume_without_file_locks_stops_with_the_cause(no_file_locks, command):
    stopped = flask(no_file_locks, *command)
    assert stopped.returncode != 0
    assert "Cannot lock files beside the database" in stopped.stderr
    assert "(No locks available)" in stopped.stderr
    assert "local disk" in stopped.stderr and "PostgreSQL" in stopped.stderr
    assert "Traceback" not in stopped.stderr


def test_a_write_on_a_volume_without_file_locks_fails_at_once_with_the_cause(no_file_locks):
    started = time.monotonic()
    failed = flask(no_file_locks, "settings", "set", "system_prompt", "Be brief.", timeout=60)
    assert time.monotonic() - started < 20  # not the 30 s wait for a turn that never comes
    assert failed.returncode != 0
    assert "(No locks available)" in failed.stderr
    assert "database is locked" not in failed.stderr

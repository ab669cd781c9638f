"""SQLite writers take turns across processes, and a waiting webhook goes before the worker."""

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A process that waits `start` seconds, takes the write turn, holds it `hold` seconds, and
# prints when it got it.
WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from webapp import sqlite_writes
sqlite_writes.DEFER = {defer}
turn = sqlite_writes.WriteTurn({database!r})
time.sleep({start})
turn.take()
print(time.monotonic(), flush=True)
time.sleep({hold})
turn.give()
"""


def writer(database: Path, start: float, hold: float, defer: bool = False) -> subprocess.Popen:
    code = WRITER.format(root=str(ROOT), database=str(database), start=start, hold=hold,
                         defer=defer)  # fmt: skip
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def got_turn_at(process: subprocess.Popen) -> float:
    out, _ = process.communicate(timeout=20)
    return float(out)


def test_one_process_writes_at_a_time(tmp_path):
    database = tmp_path / "switchboard.db"
    first, second = writer(database, 0.0, 0.6), writer(database, 0.2, 0.0)
    started = time.monotonic()
    assert got_turn_at(second) - started > 0.5  # it waited for the first to finish
    got_turn_at(first)


def test_a_waiting_webhook_writes_before_the_worker(tmp_path):
    database = tmp_path / "switchboard.db"
    holder = writer(database, 0.0, 0.8)
    worker = writer(database, 0.2, 0.0, defer=True)  # waits first…
    web = writer(database, 0.4, 0.0)  # …but the web server's write goes first
    assert got_turn_at(web) < got_turn_at(worker)
    got_turn_at(holder)


def test_the_worker_writes_at_once_when_nobody_else_waits(tmp_path):
    database = tmp_path / "switchboard.db"
    started = time.monotonic()
    assert got_turn_at(writer(database, 0.0, 0.0, defer=True)) - started < 5

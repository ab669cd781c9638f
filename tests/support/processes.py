"""Switchboard's own processes in tests: the repository root, a worker run as a command."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.databases import environment_of
from webapp import heartbeats, state

ROOT = Path(__file__).resolve().parents[2]
SKEWED_CLOCK = Path(__file__).resolve().parent / "skewed_clock"


def start_worker_process(app, log_path: Path | None = None, **env) -> subprocess.Popen:
    """`flask worker` in its own process, on the same instance folder as the test app."""
    environment = {**os.environ, **environment_of(app), **env}
    environment.pop("WORKER_THREADS", None)
    output = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--threads", "4"],
        cwd=ROOT,
        env=environment,
        stdout=output,
        stderr=output,
    )


def skewed_clock(seconds: float) -> dict:
    """Environment for a process whose wall clock is `seconds` off, as on a host whose clock
    is wrong (see skewed_clock/sitecustomize.py); ahead when positive."""
    path = os.pathsep.join(filter(None, [str(SKEWED_CLOCK), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path, "CLOCK_SKEW_SECONDS": str(seconds)}


def worker_started(app, worker: subprocess.Popen) -> bool:
    """Whether a worker process has started: its first heartbeat is in the database, however
    wrong the clock it was written by."""
    name = f"{heartbeats.PREFIX}{socket.gethostname()}:{worker.pid}"
    with app.app_context():
        return state.get(name) is not None


def healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def children_of(pid: int) -> set[int]:
    """The processes `pid` started that are still running (or not yet waited for)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.update(int(child) for child in (task / "children").read_text().split())
        except OSError:  # a thread that ended meanwhile
            continue
    return found


def readers_of(pid: int) -> set[int]:
    """The document readers `pid` started that are still running: its other children (a
    browser a test session started, say) are not counted."""
    found = set()
    for child in children_of(pid):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:  # it ended meanwhile
            continue
        if b"pdf_reader.py" in command:
            found.add(child)
    return found


def peak_memory_mb(pid: int) -> float:
    """The most memory (resident) the process has held since it started, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM for process {pid}")


def running(pid: int) -> bool:
    """Whether the process exists and has not ended (a zombie has ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

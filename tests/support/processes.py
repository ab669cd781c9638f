"""Switchboard's own processes in tests: the repository root, a worker run as a command."""

import os
import subprocess
import sys
from pathlib import Path

import requests

from tests.support.databases import environment_of

ROOT = Path(__file__).resolve().parents[2]


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


def healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=1).status_code == 200
    except requests.ConnectionError:
        return False

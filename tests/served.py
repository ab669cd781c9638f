"""Switchboard served as `make run` serves it: `flask serve` in a process of its own."""

import os
import signal
import subprocess
import sys
from contextlib import contextmanager

from tests.conftest import wait_for
from tests.fakes import refused_port_url
from tests.test_durability import ROOT, healthy

SERVE = [sys.executable, "-m", "flask", "--app", "wsgi", "serve", "--no-worker"]


@contextmanager
def serving(instance_path, stderr=subprocess.DEVNULL, **env):
    """`flask serve --no-worker` on the instance folder and a free loopback port: its URL."""
    port = int(refused_port_url().rsplit(":", 1)[1])
    environment = {**os.environ, "INSTANCE_PATH": str(instance_path), "PORT": str(port), **env}
    server = subprocess.Popen(
        SERVE, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=stderr
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(url), timeout=30)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

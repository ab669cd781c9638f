"""The app served over real HTTP as `make run` serves it: `flask serve` (waitress)."""

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tests.conftest import wait_for
from tests.fakes import refused_port_url
from tests.test_durability import ROOT, healthy


@contextmanager
def flask_serve(instance_path: str) -> Iterator[str]:
    """`flask serve --no-worker` on an instance folder and a free loopback port; its URL."""
    port = int(refused_port_url().rsplit(":", 1)[1])
    env = {**os.environ, "INSTANCE_PATH": instance_path, "PORT": str(port)}
    server = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "serve", "--no-worker"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(url), timeout=30)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

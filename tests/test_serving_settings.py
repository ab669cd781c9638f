"""`serve`'s waitress settings come from the environment: WEB_CONNECTION_LIMIT and friends
reach the running server, and a value it cannot use stops the start with a message; an idle
connection is closed soon after WEB_CHANNEL_TIMEOUT; `serve` warns when it faces other
machines with no proxy in front."""

import os
import re
import socket
import subprocess
import time

import pytest
import requests

from tests.support.databases import environment_of
from tests.support.processes import ROOT
from tests.support.served import SERVE, serving

KEEP_ALIVE = b"GET /healthz HTTP/1.1\r\nHost: shop.example\r\n\r\n"


def test_past_the_connection_limit_a_new_visitor_waits_until_a_connection_closes(app):
    # waitress counts its listening socket and its wake-up pipe too: 3 leaves room for one.
    with serving(environment_of(app), WEB_CONNECTION_LIMIT="3") as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as kept_open:
            kept_open.sendall(KEEP_ALIVE)
            assert kept_open.recv(64).startswith(b"HTTP/1.1 200")
            with pytest.raises(requests.ReadTimeout):
                requests.get(f"{url}/healthz", timeout=2)
        assert requests.get(f"{url}/healthz", timeout=10).ok


@pytest.mark.parametrize("name", ["WEB_THREADS", "WEB_CONNECTION_LIMIT", "WEB_CHANNEL_TIMEOUT"])
def test_a_setting_below_one_stops_the_start_with_a_message(tmp_path, name):
    env = {**os.environ, "INSTANCE_PATH": str(tmp_path), name: "0"}
    result = subprocess.run(SERVE, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"{name} must be 1 or more, not 0." in result.stderr
    assert "Traceback" not in result.stderr


def test_a_connection_that_sends_nothing_is_closed_soon_after_the_channel_timeout(app):
    with serving(environment_of(app), WEB_CHANNEL_TIMEOUT="2") as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=15) as idle:
            opened = time.monotonic()
            assert idle.recv(64) == b""  # closed by the server
            assert time.monotonic() - opened < 10  # waitress alone sweeps every 30 s


# An address of no machine here (TEST-NET-1): `serve` says what it must before it listens,
# then stops, as it cannot listen there; nothing is opened to other machines meanwhile.
ELSEWHERE = "192.0.2.1"
NO_PROXY = "reachable from other machines, and TRUSTED_PROXIES is not set"


def printed_by_serve(tmp_path, **env) -> str:
    env = {**os.environ, "INSTANCE_PATH": str(tmp_path), "HOST": ELSEWHERE, **env}
    result = subprocess.run(SERVE, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    # It got as far as listening, past any warning: the address is not this machine's, or
    # the port is taken.
    stopped = r"^Error: (Port \d+ is in use|\S+ is not an address of this)"
    assert re.search(stopped, result.stderr, re.MULTILINE)
    return result.stderr


def test_serve_warns_when_it_faces_other_machines_with_no_proxy_in_front(tmp_path):
    printed = printed_by_serve(tmp_path, TRUSTED_PROXIES="0")
    assert f"Warning: Switchboard listens on {ELSEWHERE}, {NO_PROXY}" in printed
    assert "Running behind a reverse proxy" in printed


def test_serve_does_not_warn_behind_a_proxy(tmp_path):
    assert NO_PROXY not in printed_by_serve(tmp_path, TRUSTED_PROXIES="1")


@pytest.mark.parametrize(
    "host, family", [("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6), ("localhost", None)]
)
def test_serve_does_not_warn_on_loopback(tmp_path, host, family):
    with socket.socket(family or socket.AF_INET) as taken:  # so that `serve` stops at once
        taken.bind((host if family else "127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert NO_PROXY not in printed_by_serve(tmp_path, HOST=host, PORT=port)

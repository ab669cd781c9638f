"""Switchboard served as `make run` serves it: `flask serve` in a process of its own."""

import os
import re
import signal
import subprocess
import sys
from contextlib import contextmanager

import requests

from tests.conftest import ADMIN_PASSWORD, wait_for
from tests.support.fakes import refused_port_url
from tests.support.processes import ROOT, healthy

# A browser's form POST over HTTPS says where it came from (Flask-WTF checks it).
HTTPS = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "shop.example",
    "Referer": "https://shop.example/login",
}
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
SERVE = [sys.executable, "-m", "flask", "--app", "wsgi", "serve", "--no-worker"]


@contextmanager
def serving(install: dict, stderr=subprocess.DEVNULL, worker: bool = False, **env):
    """`flask serve --no-worker` on an install (its INSTANCE_PATH, and DATABASE_URL unless
    SQLite: see `environment_of`) and a free loopback port: its URL. With `worker`, `flask
    serve` runs its worker too, exactly as `make run` does."""
    port = int(refused_port_url().rsplit(":", 1)[1])
    environment = {**os.environ, **install, "PORT": str(port), **env}
    command = SERVE[:-1] if worker else SERVE
    server = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=stderr
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(url), timeout=30)
        yield url
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


class Visitor:
    """A browser reaching the server through a proxy that adds these headers. It keeps its
    cookie by hand: a Secure cookie would not be sent back over the test's plain HTTP."""

    def __init__(self, url: str, headers: dict):
        self.url, self.headers, self.cookie = url, headers, ""

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {**self.headers, "Cookie": self.cookie}
        response = requests.request(
            method, self.url + path, headers=headers, allow_redirects=False, timeout=10, **kwargs
        )
        if cookie := response.headers.get("Set-Cookie"):
            self.cookie = cookie.split(";", 1)[0]
        return response

    def sign_in(self, username="owner", password=ADMIN_PASSWORD) -> requests.Response:
        token = CSRF.search(self.request("GET", "/login").text).group(1)
        form = {"csrf_token": token, "username": username, "password": password}
        return self.request("POST", "/login", data=form)


LOCKED = "Too many failed sign-in attempts"

"""Behind a reverse proxy, served as `make run` serves it (`flask serve`): the forwarded
scheme, host and visitor address reach the app from the trusted proxy, and from nobody else."""

import os
import re
import subprocess

import pytest
import requests

from tests.conftest import ADMIN_PASSWORD
from tests.served import SERVE, serving
from tests.test_durability import ROOT

# A browser's form POST over HTTPS says where it came from (Flask-WTF checks it).
HTTPS = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "shop.example",
    "Referer": "https://shop.example/login",
}
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
LOCKED = "Too many failed sign-in attempts"


@pytest.fixture
def behind_proxy(app):
    with serving(app.instance_path, TRUSTED_PROXIES="1") as url:
        yield url


@pytest.fixture
def no_proxy(app):
    with serving(app.instance_path, TRUSTED_PROXIES="0") as url:
        yield url


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


def test_behind_the_proxy_the_session_cookie_is_secure_over_https(behind_proxy):
    response = Visitor(behind_proxy, HTTPS).sign_in()
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_behind_the_proxy_the_dashboard_shows_an_https_webhook_url(behind_proxy):
    visitor = Visitor(behind_proxy, HTTPS)
    assert visitor.sign_in().status_code == 302
    page = visitor.request("GET", "/admin/").text
    assert "https://shop.example/webhook/whatsapp" in page


def test_behind_the_proxy_a_locked_out_address_does_not_lock_out_another(behind_proxy):
    guesser = Visitor(behind_proxy, {"X-Forwarded-For": "203.0.113.7"})
    for attempt in range(5):
        guesser.sign_in(f"guess{attempt}", "wrong password")
    assert LOCKED in guesser.sign_in("guess9", "wrong password").text
    owner = Visitor(behind_proxy, {"X-Forwarded-For": "198.51.100.20"})
    assert owner.sign_in().status_code == 302


def test_without_trusted_proxies_forwarded_https_is_ignored(no_proxy):
    visitor = Visitor(no_proxy, HTTPS)
    response = visitor.sign_in()
    assert response.status_code == 302
    assert "Secure" not in response.headers["Set-Cookie"]
    assert "http://127.0.0.1" in visitor.request("GET", "/admin/").text


def test_without_trusted_proxies_a_forwarded_address_does_not_escape_the_throttle(no_proxy):
    for attempt in range(5):
        Visitor(no_proxy, {"X-Forwarded-For": f"203.0.113.{attempt}"}).sign_in(
            f"guess{attempt}", "wrong password"
        )
    another = Visitor(no_proxy, {"X-Forwarded-For": "198.51.100.20"})
    assert LOCKED in another.sign_in("guess9", "wrong password").text


def test_headers_from_a_peer_other_than_the_trusted_proxy_are_ignored(app):
    with serving(app.instance_path, TRUSTED_PROXIES="1", TRUSTED_PROXY_ADDRESS="192.0.2.1") as url:
        response = Visitor(url, HTTPS).sign_in()
    assert response.status_code == 302
    assert "Secure" not in response.headers["Set-Cookie"]


def test_a_proxy_address_that_is_not_an_ip_address_stops_the_start_with_a_message(tmp_path):
    env = {**os.environ, "INSTANCE_PATH": str(tmp_path), "TRUSTED_PROXY_ADDRESS": "proxy.lan"}
    result = subprocess.run(SERVE, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "TRUSTED_PROXY_ADDRESS must be one IP address" in result.stderr
    assert "Traceback" not in result.stderr

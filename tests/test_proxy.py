"""Behind a reverse proxy, served as `make run` serves it (`flask serve`): the forwarded
scheme, host and visitor address reach the app from the trusted proxy, and from nobody else."""

import os
import subprocess

import pytest

from tests.support.databases import environment_of
from tests.support.processes import ROOT
from tests.support.served import HTTPS, LOCKED, SERVE, Visitor, serving


@pytest.fixture
def no_proxy(app):
    with serving(environment_of(app), TRUSTED_PROXIES="0") as url:
        yield url


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
    for _ in range(5):
        guesser.sign_in("owner", "wrong password")
    assert LOCKED in guesser.sign_in("owner", "wrong password").text
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
            "owner", "wrong password"
        )
    another = Visitor(no_proxy, {"X-Forwarded-For": "198.51.100.20"})
    assert LOCKED in another.sign_in("owner", "wrong password").text


def test_headers_from_a_peer_other_than_the_trusted_proxy_are_ignored(app):
    elsewhere = {"TRUSTED_PROXIES": "1", "TRUSTED_PROXY_ADDRESS": "192.0.2.1"}
    with serving(environment_of(app), **elsewhere) as url:
        response = Visitor(url, HTTPS).sign_in()
    assert response.status_code == 302
    assert "Secure" not in response.headers["Set-Cookie"]


def test_a_proxy_address_that_is_not_an_ip_address_stops_the_start_with_a_message(tmp_path):
    env = {**os.environ, "INSTANCE_PATH": str(tmp_path), "TRUSTED_PROXY_ADDRESS": "proxy.lan"}
    result = subprocess.run(SERVE, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "TRUSTED_PROXY_ADDRESS must be one IP address" in result.stderr
    assert "Traceback" not in result.stderr

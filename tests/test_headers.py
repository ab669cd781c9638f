"""What the server's answers tell browsers and proxies: keep no copy of admin pages or the
CSV, insist on HTTPS once reached over it, and find the icon."""

import re

import pytest

from tests.support.served import HTTPS, Visitor


@pytest.fixture
def owner(behind_proxy):
    visitor = Visitor(behind_proxy, HTTPS)
    assert visitor.sign_in().status_code == 302
    return visitor


@pytest.mark.parametrize("path", ["/admin/", "/admin/logs", "/admin/settings", "/login"])
def test_admin_pages_are_not_kept_in_any_cache(owner, path):
    assert owner.request("GET", path).headers["Cache-Control"] == "no-store"


def test_the_csv_export_is_not_kept_in_any_cache(owner):
    response = owner.request("GET", "/admin/logs.csv")
    assert response.headers["Content-Type"].startswith("text/csv")
    assert response.headers["Cache-Control"] == "no-store"


def test_a_page_reached_over_https_tells_the_browser_to_stay_on_https(owner):
    hsts = owner.request("GET", "/admin/").headers["Strict-Transport-Security"]
    assert hsts == "max-age=31536000"


def test_a_page_reached_over_plain_http_sends_no_hsts(behind_proxy):
    response = Visitor(behind_proxy, {}).request("GET", "/login")
    assert "Strict-Transport-Security" not in response.headers


def test_every_page_links_an_icon_the_server_has(behind_proxy):
    visitor = Visitor(behind_proxy, {})
    page = visitor.request("GET", "/login").text
    icon = re.search(r'<link rel="icon" href="([^"]+)"', page).group(1)
    response = visitor.request("GET", icon)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")

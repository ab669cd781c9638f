"""Sign-in, CSRF, throttling, `next` redirects and the change-password page."""

import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.support.setup_steps import save_key

PROTECTED = ["/admin/", "/admin/settings", "/admin/models", "/admin/prompt", "/account/password"]


@pytest.mark.parametrize("url", ["/", *PROTECTED])
def test_pages_send_a_signed_out_visitor_to_the_login_page(client, url):
    response = client.get(url, follow_redirects=True)
    assert response.request.path == "/login"
    assert b'name="username"' in response.data and b'name="password"' in response.data


def test_login_with_the_right_password_opens_the_dashboard(browser):
    response = browser.login(follow_redirects=True)
    assert response.request.path == "/admin/"
    assert b"Dashboard" in response.data


def test_login_with_a_wrong_password_is_refused(browser):
    response = browser.login(password="wrong password")
    assert response.status_code == 200
    assert b"Wrong username or password." in response.data
    assert browser.client.get("/admin/").status_code == 302


def test_login_without_csrf_token_is_refused(client):
    response = client.post("/login", data={"username": "owner", "password": ADMIN_PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_five_failures_for_a_username_lock_it_with_429(browser):
    for _ in range(5):
        assert browser.login(password="nope nope").status_code == 200
    response = browser.login()  # even the right password waits out the window
    assert response.status_code == 429
    assert b"Too many failed sign-in attempts" in response.data
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60


def test_twenty_failures_from_one_address_lock_every_username(browser):
    for number in range(20):
        browser.login(username=f"guess{number}", password="nope nope")
    assert browser.login().status_code == 429


def test_lock_ends_when_the_window_passes(app, browser):
    from datetime import timedelta

    from webapp.extensions import db
    from webapp.models import ThrottleCounter

    for _ in range(5):
        browser.login(password="nope nope")
    with app.app_context():
        for counter in db.session.scalars(db.select(ThrottleCounter)):
            counter.window_start -= timedelta(minutes=16)
        db.session.commit()
    assert browser.login().status_code == 302


@pytest.mark.parametrize(
    ("target", "lands_on"),
    [
        ("/admin/models", "/admin/models"),
        ("https://evil.example/phish", "/admin/"),
        ("//evil.example/phish", "/admin/"),
        ("/\\evil.example", "/admin/"),
        ("javascript:alert(1)", "/admin/"),
    ],
)
def test_next_redirects_only_to_local_paths(app, browser, target, lands_on):
    save_key(app)  # without one, every sign-in lands on Get started
    browser.get("/login")
    response = browser.post(
        "/login", {"username": "owner", "password": ADMIN_PASSWORD}, query_string={"next": target}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == lands_on


def test_session_cookie_is_httponly_and_samesite_lax(browser):
    response = browser.login()
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on localhost


def test_session_cookie_is_secure_behind_https(browser):
    browser.get("/login", base_url="https://localhost")
    response = browser.post(
        "/login",
        {"username": "owner", "password": ADMIN_PASSWORD},
        base_url="https://localhost",
    )
    assert "Secure" in response.headers["Set-Cookie"]


def test_logout_needs_post_and_signs_out(admin):
    assert admin.client.get("/logout").status_code == 405
    response = admin.post("/logout")
    assert response.status_code == 302
    assert admin.client.get("/admin/").status_code == 302


def test_change_password_needs_the_current_one(admin):
    admin.get("/account/password")
    response = admin.post(
        "/account/password",
        {
            "current_password": "not it at all",
            "new_password": "a brand new pw",
            "confirm": "a brand new pw",
        },
    )
    assert b"That is not your current password." in response.data


def test_changed_password_is_the_one_that_signs_in(admin, app):
    admin.get("/account/password")
    response = admin.post(
        "/account/password",
        {
            "current_password": ADMIN_PASSWORD,
            "new_password": "a brand new pw",
            "confirm": "a brand new pw",
        },
    )
    assert response.status_code == 302
    admin.post("/logout")
    admin.get("/login")  # sign-out ended the session and its CSRF token with it
    assert admin.login().status_code == 200  # old password no longer works
    assert admin.login(password="a brand new pw").status_code == 302


def test_admin_pages_forbid_inline_scripts(admin):
    response = admin.get("/admin/")
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert b"<script>" not in response.data


@pytest.fixture
def proxied(app, tmp_path):
    """The app as it runs behind Caddy or nginx with TRUSTED_PROXIES=1."""
    from tests.conftest import migrated_app
    from webapp.extensions import db

    proxied = migrated_app(tmp_path / "behind-proxy", TRUSTED_PROXIES=1)
    yield proxied
    with proxied.app_context():
        db.engine.dispose()


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example"}


def test_behind_an_https_proxy_the_session_cookie_is_secure(proxied):
    from tests.conftest import Browser

    browser = Browser(proxied.test_client())
    browser.get("/login", headers=FORWARDED)
    response = browser.post(
        "/login", {"username": "owner", "password": ADMIN_PASSWORD}, headers=FORWARDED
    )
    assert "Secure" in response.headers["Set-Cookie"]


def test_behind_an_https_proxy_the_dashboard_shows_the_public_https_webhook_url(proxied):
    from tests.conftest import Browser

    browser = Browser(proxied.test_client())
    assert browser.login().status_code == 302
    page = browser.get("/admin/", headers=FORWARDED).get_data(as_text=True)
    assert "https://shop.example/webhook/whatsapp" in page


def test_behind_a_proxy_throttling_counts_the_visitors_address(proxied):
    from tests.conftest import Browser

    attacker = Browser(proxied.test_client())
    for _ in range(5):
        attacker.login(password="nope nope", headers={"X-Forwarded-For": "203.0.113.9"})
    owner = Browser(proxied.test_client())
    owner.get("/login")
    response = owner.post(
        "/login",
        {"username": "someone", "password": "whatever1"},
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    assert response.status_code == 200  # a different visitor is not locked out
    again = attacker.login(headers={"X-Forwarded-For": "203.0.113.9"})
    assert again.status_code == 429

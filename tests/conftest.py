"""Shared fixtures: an app on a fresh migrated SQLite database, clients, and loopback fakes."""

import os
import re
import shutil
import threading

import pytest
from flask_migrate import upgrade

from tests.fakes import fake_openrouter, refused_url  # noqa: F401
from webapp import create_app
from webapp.extensions import db
from webapp.models import User

ADMIN_PASSWORD = "correct horse battery"
# Headless, and quiet: this machine has no internet, so Chromium must not try to phone home.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CSRF_FIELD = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


@pytest.fixture
def app(tmp_path, monkeypatch):
    for name in (
        "SECRET_KEY",
        "DATABASE_URL",
        "QUEUE_URL",
        "OPENROUTER_BASE_URL",
        "WHATSAPP_API_BASE_URL",
        "ADMIN_PASSWORD",
        "INSTANCE_PATH",
    ):
        monkeypatch.delenv(name, raising=False)
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path / "instance"})
    with app.app_context():
        upgrade()
        owner = User(username="owner")
        owner.set_password(ADMIN_PASSWORD)
        db.session.add(owner)
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


class Browser:
    """A test client that fills in the CSRF token the way a browser's form would."""

    def __init__(self, client):
        self.client = client
        self.csrf = None

    def get(self, url, **kwargs):
        response = self.client.get(url, **kwargs)
        if match := CSRF_FIELD.search(response.get_data(as_text=True)):
            self.csrf = match.group(1) or match.group(2)
        return response

    def post(self, url, data=None, **kwargs):
        if self.csrf is None:
            self.get("/login")
        return self.client.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def login(self, username="owner", password=ADMIN_PASSWORD, **kwargs):
        return self.post("/login", {"username": username, "password": password}, **kwargs)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def browser(app):
    return Browser(app.test_client())


@pytest.fixture
def admin(browser):
    response = browser.login()
    assert response.status_code == 302, "the test admin could not sign in"
    browser.get("/admin/")
    return browser


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def live_server(app):
    """The app served by waitress on a free loopback port, as `make run` serves it."""
    from waitress import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    server.close()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright; never a downloaded browser."""
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(executable):
        pytest.fail("Chromium is missing: install Debian's chromium package (.ci/run does).")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    context = chromium.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()

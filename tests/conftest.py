"""Shared fixtures: an app on a fresh migrated database (SQLite, or PostgreSQL with
TEST_DATABASE_URL; see tests/databases.py), clients, and loopback fakes."""

import contextlib
import json
import re
import threading
from datetime import timedelta

import pytest
from flask_migrate import upgrade

from tests.support import optional_parts
from tests.support.databases import ON_POSTGRESQL, database_config, databases, environment_of
from tests.support.fake_graph import FakeGraph
from tests.support.fakes import FakeOpenRouter, never_accepting_url, refused_port_url
from tests.support.flows import URL
from tests.support.records import NOW
from webapp import create_app, settings, sqlite_writes, tokens
from webapp.clients.whatsapp_webhook import sign
from webapp.extensions import db
from webapp.models import Contact, Message, RequestLog, User
from webapp.money import spending

ADMIN_PASSWORD = "correct horse battery"
ENVIRONMENT = (  # variables of the design that must not leak into a test from the shell
    "SECRET_KEY",
    "SECRET_KEY_FALLBACKS",
    "DATABASE_URL",
    "QUEUE_URL",
    "OPENROUTER_BASE_URL",
    "WHATSAPP_API_BASE_URL",
    "ADMIN_PASSWORD",
    "INSTANCE_PATH",
    "WORKER_THREADS",
    "WORKER_LEASE_SECONDS",
    "TRUSTED_PROXIES",
    "TRUSTED_PROXY_ADDRESS",
    "WEB_THREADS",
    "WEB_CONNECTION_LIMIT",
    "WEB_CHANNEL_TIMEOUT",
)
# Retries keep their shape (exponential, jitter, Retry-After) at a test's pace.
QUICK = {"RETRY_BASE_DELAY": 0.01, "RETRY_MAX_DELAY": 0.05, "TURN_RETRY_PAUSE": 0.05}
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


def pytest_collection_modifyitems(config, items):
    skipped = "sqlite_only" if ON_POSTGRESQL else "postgresql_only"
    only = "SQLite" if ON_POSTGRESQL else "PostgreSQL"
    for item in items:
        if not (marker := item.get_closest_marker(skipped)):
            continue
        if skipped == "postgresql_only" and not optional_parts.present("postgresql"):
            # Without any server the run ends saying how to give one (and CI fails); beside
            # one, as in CI's SQLite run, these wait for the run on PostgreSQL.
            item.add_marker(pytest.mark.needs("postgresql"))
        else:
            item.add_marker(pytest.mark.skip(reason=f"{only} only: {marker.args[0]}"))


@pytest.fixture(autouse=True, scope="session")
def _loopback_fakes_reachable():
    """The fakes listen on 127.0.0.1, which Switchboard refuses to connect to unless allowed;
    allowed here for every test and every process a test starts. A test of the default sets
    ALLOW_PRIVATE_ADDRESSES=off itself."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ALLOW_PRIVATE_ADDRESSES", "on")
        yield


@pytest.fixture(autouse=True, scope="session")
def _drop_template_database():
    yield
    if databases is not None:
        databases.drop_template()


@pytest.fixture(autouse=True)
def _drop_test_databases():
    """The PostgreSQL databases a test made are dropped when it ends."""
    yield
    if databases is not None:
        databases.drop_made()


@pytest.fixture(autouse=True)
def _lock_files_closed():
    """Each test's databases are done with once it ends: their lock files are closed, so a
    long run does not pile up open files (waitress's select() watches only the first 1024),
    and no sum of their spending is kept."""
    yield
    sqlite_writes.forget_turns()
    spending.forget()


@pytest.fixture
def app(tmp_path, monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    # Until the owner picks a time zone, the server's is theirs: UTC here, so a test's "today"
    # is the same day on every machine.
    monkeypatch.setenv("TZ", "UTC")
    app = migrated_app(tmp_path / "instance", **QUICK)
    yield app
    with app.app_context():
        db.engine.dispose()


def migrated_app(instance, database: dict | None = None, **config):
    """An app on a fresh database built by the migrations, with one admin, "owner";
    `database` is the config of another database than a fresh one of its own."""
    database = database_config() if database is None else database
    app = create_app({"TESTING": True, "INSTANCE_PATH": instance, **database, **config})
    with app.app_context():
        upgrade()
        owner = User(username="owner")
        owner.set_password(ADMIN_PASSWORD)
        db.session.add(owner)
        db.session.commit()
    return app


class Browser:
    """A test client that fills in the CSRF token the way a browser's form would."""

    def __init__(self, client):
        self.client = client
        self.csrf = None

    def get(self, url, **kwargs):
        return self._remember_csrf(self.client.get(url, **kwargs))

    def _remember_csrf(self, response):
        if match := CSRF_FIELD.search(response.get_data(as_text=True)):
            self.csrf = match.group(1) or match.group(2)
        return response

    def post(self, url, data=None, **kwargs):
        if self.csrf is None:
            self.get("/login")
        return self.client.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)

    def login(self, username="owner", password=ADMIN_PASSWORD, **kwargs):
        response = self.post("/login", {"username": username, "password": password}, **kwargs)
        # Signing in starts a new session, with a new CSRF token, as a browser's next page shows.
        if response.status_code == 302:
            self.get("/account/password")
        return self._remember_csrf(response)


@pytest.fixture
def fake_openrouter():
    """OpenRouter on a loopback port, replaying recorded answers."""
    with FakeOpenRouter() as server:
        yield server


@pytest.fixture
def fake_graph():
    """The WhatsApp Graph API on a loopback port, accepting sends with fresh message ids."""
    with FakeGraph() as server:
        yield server


@pytest.fixture
def refused_url() -> str:
    return refused_port_url()


@pytest.fixture
def unaccepted_url():
    """A loopback URL where connecting times out."""
    with never_accepting_url() as url:
        yield url


APP_SECRET = "meta-app-secret-for-tests"
PHONE_NUMBER_ID = "106540352242922"


@pytest.fixture
def whatsapp(app, fake_graph, fake_openrouter):
    """A configured WhatsApp number and OpenRouter key, both pointing at loopback fakes."""
    with app.app_context():
        settings.save(
            {
                "openrouter_api_key": "sk-or-v1-test-key-0000000000000000000000000000",
                "openrouter_base_url": fake_openrouter.base_url,
                "whatsapp_access_token": "EAAG-test-access-token",
                "whatsapp_phone_number_id": PHONE_NUMBER_ID,
                "whatsapp_app_secret": APP_SECRET,
                "whatsapp_verify_token": "let-me-in",
                "whatsapp_api_base_url": fake_graph.base_url,
                # Each message is its own turn unless a test is about bursts.
                "merge_window_seconds": "0",
            },
            author="test",
        )
    return app


def as_recorded(app, name: str) -> None:
    """Make the configured number the one this recorded delivery was sent to."""
    from tests.support.payloads import number_id_of

    number_id = number_id_of(name)
    if number_id and number_id.isdigit():  # one recording has the number ID blanked out
        with app.app_context():
            settings.save({"whatsapp_phone_number_id": number_id}, author="test")


def post_webhook(client, body: bytes | str | dict, secret: str = APP_SECRET, signature=None):
    """POST a delivery the way Meta does: the raw bytes, signed with the app secret."""
    import json

    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    raw = raw.encode() if isinstance(raw, str) else raw
    headers = {"Content-Type": "application/json"}
    signature = sign(secret, raw) if signature is None else signature
    if signature:
        headers["X-Hub-Signature-256"] = signature
    return client.post("/webhook/whatsapp", data=raw, headers=headers)


def deliver_together(server_url: str, bodies: list[bytes]) -> list[int]:
    """POST signed deliveries to the real server at the same instant (one thread each, let go
    by one barrier); their HTTP statuses, in the order they answered."""
    import requests

    barrier, answers = threading.Barrier(len(bodies)), []

    def deliver(body: bytes) -> None:
        headers = {"X-Hub-Signature-256": sign(APP_SECRET, body)}
        barrier.wait()
        url = f"{server_url}/webhook/whatsapp"
        answers.append(requests.post(url, data=body, headers=headers, timeout=10).status_code)

    senders = [threading.Thread(target=deliver, args=(body,)) for body in bodies]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join()
    return answers


@pytest.fixture
def worker(app):
    """The real worker, its threads in this process, claiming turns from the test's database."""
    from webapp.worker.process import Worker

    running = Worker(app, threads=8, poll=0.01).start()
    yield running
    running.stop()


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
    with served_in_thread(app) as url:
        yield url


@contextlib.contextmanager
def served_in_thread(app):
    """Serve `app` with waitress in a thread of this process; yields its URL."""
    from waitress import create_server, wasyncore

    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    # Closed from the server's own loop, which then ends: closing its sockets from this
    # thread would pull them from under the select() it may be waiting in.
    with contextlib.suppress(OSError):  # unless the server closed itself, trigger and all
        server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
    thread.join(timeout=5)
    server.task_dispatcher.shutdown()


@pytest.fixture
def behind_proxy(app):
    """`flask serve` as behind Caddy or nginx on the same machine (TRUSTED_PROXIES=1)."""
    from tests.support.served import serving

    with serving(environment_of(app), TRUSTED_PROXIES="1") as url:
        yield url


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium driven by Playwright; never a downloaded browser."""
    from playwright import sync_api

    optional_parts.need("browser")
    executable = optional_parts.chromium_executable()
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


def wait_for(condition, timeout: float = 15.0, interval: float = 0.02):
    """Poll until `condition()` is truthy (and return it), or fail after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(interval)
    raise AssertionError(f"not true within {timeout} s: {condition.__doc__ or condition}")


@pytest.fixture
def token(whatsapp):
    with whatsapp.app_context():
        _, made = tokens.create("wa-expert")
    return made


@pytest.fixture
def ask(client, token):
    """POST a body to the flow endpoint with the flow key, as a flow builder does."""

    def post(body, **headers):
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        headers = {
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            **headers,
        }
        return client.post(URL, data=data, headers=headers)

    return post


@pytest.fixture
def known_data(app):
    """Today: 3 messages in, 2 replies out, 4 attempts (1 error). Five days ago: more."""
    with app.app_context():
        ana = Contact(customer_id="31600000001", phone="31600000001", profile_name="Ana")
        db.session.add(ana)
        db.session.flush()

        def message(direction, state, when, text="hi"):
            db.session.add(
                Message(
                    contact_id=ana.id,
                    direction=direction,
                    author="customer" if direction == "in" else "bot",
                    text=text,
                    state=state,
                    created_at=when,
                )
            )

        def attempt(
            when, status, latency, model="openai/gpt-4o-mini", kind=None, cost=0.001, tokens=(10, 5)
        ):
            db.session.add(
                RequestLog(
                    created_at=when,
                    channel="whatsapp",
                    contact_id=ana.id,
                    model_requested=model,
                    model_used=model if status == "ok" else None,
                    status=status,
                    error_kind=kind,
                    latency_ms=latency,
                    prompt_tokens=tokens[0] if status == "ok" else None,
                    completion_tokens=tokens[1] if status == "ok" else None,
                    cost=cost if status == "ok" else None,
                )
            )

        today = NOW.replace(hour=0, minute=0, second=1, microsecond=0)  # today, even at 00:00
        for _ in range(3):
            message("in", "answered", today)
        message("out", "read", today)
        message("out", "delivered", today)
        message("out", "failed", today)
        attempt(today, "ok", 100)
        attempt(today, "ok", 200)
        attempt(today, "ok", 900, model="anthropic/claude-sonnet-4-6", cost=0.01)
        attempt(today, "error", 30000, kind="timeout")
        earlier = NOW - timedelta(days=5)
        message("in", "failed", earlier)
        attempt(earlier, "error", 50, kind="no_credits")
        attempt(earlier, "error", 60, kind="no_credits")
        long_ago = NOW - timedelta(days=40)
        message("in", "answered", long_ago)
        attempt(long_ago, "ok", 5)
        db.session.commit()
    return app

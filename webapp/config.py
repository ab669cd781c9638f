"""Reads the environment in one place: where state lives and which URLs override stored settings."""

import ipaddress
import os
import secrets
from pathlib import Path

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)
# How every command Switchboard prints or shows begins: it runs as printed from the project
# folder (the .venv `make run` made, the app in wsgi.py), whichever other `flask` is on the PATH.
FLASK_COMMAND = ".venv/bin/flask --app wsgi"
# waitress, as `serve` runs it. A flow request holds its thread while the model answers: with a
# few dozen flows waiting on a slow model, webhooks and the admin must still find a free thread.
WEB_THREADS = 48
# Open connections (idle keep-alives too) beyond which waitress stops accepting new ones: room
# for every thread's connection and the keep-alives of a proxy and of browsers.
WEB_CONNECTION_LIMIT = 100
# Seconds an idle connection is kept open, and between waitress's sweeps for them: a visitor
# that opens connections and sends nothing holds each one half a minute at most, not 2.5.
WEB_CHANNEL_TIMEOUT = 30
WEB_CLEANUP_INTERVAL = 2
# Request bodies. waitress refuses one larger than WEB_BODY_LIMIT as soon as its headers say
# so, or, sent in chunks, once that much has come: no larger body is ever stored. Each route
# then keeps to its own bound, checked before its body is read.
FLOW_BODY_LIMIT = 8 * 2**20  # a 5 MB photo is 6.7 MB in base64, with words around it
WEBHOOK_BODY_LIMIT = 3 * 2**20  # Meta's documented largest webhook payload
FORM_BODY_LIMIT = 2**20  # everything else: sign-in, the admin's forms
# A knowledge file (10 MB at most) and the form around it, on the Knowledge page's upload.
UPLOAD_BODY_LIMIT = 10 * 2**20 + 2**18
WEB_BODY_LIMIT = UPLOAD_BODY_LIMIT + 2**20  # the largest route's, and a chunked body's framing
# Timings and sizes the code reads from the app's config (so tests can shorten them); set here
# and nowhere else. They are not environment variables.
TUNING = {
    "RETRY_ATTEMPTS": 3,  # tries of one call to OpenRouter or Graph
    "RETRY_BASE_DELAY": 1.0,  # seconds before the second try; doubled for each try after it
    "RETRY_MAX_DELAY": 30.0,  # longest pause between two tries
    "TURN_RETRY_PAUSE": 5.0,  # seconds × runs before a turn that failed inside runs again
    "GRAPH_TIMEOUT": 20.0,  # seconds for one Graph call; a send never waits on the model's timeout
    "TRIAL_THREADS": 24,  # trial cells in flight per worker: 120 one-second cells take about 5 s
}
QUEUE_URL_REFUSED = (
    "QUEUE_URL is no longer used: the database itself is the queue now, so there is no "
    "separate queue to configure. Remove QUEUE_URL from the environment and start again."
)


class ConfigError(SystemExit):
    """An environment variable Switchboard cannot work with: the process stops at once with
    a message that says what to do (no traceback)."""


def instance_path() -> Path:
    """The folder for all runtime state (`INSTANCE_PATH`, default ./instance)."""
    return Path(os.environ.get("INSTANCE_PATH") or "instance").resolve()


def load_secret_key(folder: Path) -> str:
    """`SECRET_KEY` from the environment, else one generated once into the instance folder."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = folder / SECRET_KEY_FILE
    try:
        # O_EXCL: when the web server and the worker start together, only one writes the key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _number(name: str, default: float, kind=int):
    raw = os.environ.get(name) or ""
    try:
        return kind(raw) if raw.strip() else default
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {raw!r}.") from None


def _at_least_one(name: str, default: int) -> int:
    value = _number(name, default)
    if value < 1:
        raise ConfigError(f"{name} must be 1 or more, not {value}.")
    return value


def _proxy_count() -> int:
    count = _number("TRUSTED_PROXIES", 0)
    if count < 0:
        raise ConfigError(
            f"TRUSTED_PROXIES must be 0 (no proxy) or how many proxies are in front, not {count}."
        )
    return count


def _proxy_address() -> str:
    """The one address whose X-Forwarded-* headers are believed: loopback, where Caddy or nginx
    on the same machine connects from; `*` believes any peer (only behind a firewall that lets
    nothing else reach PORT)."""
    raw = (os.environ.get("TRUSTED_PROXY_ADDRESS") or "127.0.0.1").strip()
    if raw == "*":
        return raw
    try:
        return str(ipaddress.ip_address(raw.strip("[]")))
    except ValueError:
        raise ConfigError(
            f"TRUSTED_PROXY_ADDRESS must be one IP address (the proxy's) or *, not {raw!r}."
        ) from None


ON_WORDS, OFF_WORDS = {"on", "true", "yes", "1"}, {"off", "false", "no", "0", ""}


def private_addresses_allowed() -> bool:
    """`ALLOW_PRIVATE_ADDRESSES`: whether the API clients may connect to loopback and private
    addresses (a model server on this machine or network). Off by default: whoever can change
    an API address in the admin could otherwise reach the server's own network with it. Read
    when a client is made, as the clients also run without an app; checked at start."""
    return (os.environ.get("ALLOW_PRIVATE_ADDRESSES") or "").strip().lower() in ON_WORDS


def _checked_switch(name: str) -> None:
    raw = (os.environ.get(name) or "").strip().lower()
    if raw not in ON_WORDS | OFF_WORDS:
        raise ConfigError(f"{name} must be on or off, not {raw!r}.")


def from_environment(folder: Path) -> dict:
    """Flask config values taken from the environment variables of the design."""
    if os.environ.get("QUEUE_URL"):
        raise ConfigError(QUEUE_URL_REFUSED)
    _checked_switch("ALLOW_PRIVATE_ADDRESSES")
    database = os.environ.get("DATABASE_URL") or f"sqlite:///{folder / 'switchboard.db'}"
    return {
        "SECRET_KEY": load_secret_key(folder),
        # Earlier keys: sessions signed and secrets encrypted with them stay readable.
        "SECRET_KEY_FALLBACKS": [
            key.strip()
            for key in os.environ.get("SECRET_KEY_FALLBACKS", "").split(",")
            if key.strip()
        ],
        "SQLALCHEMY_DATABASE_URI": database,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database),
        "ENV_OVERRIDES": {
            "openrouter_base_url": os.environ.get("OPENROUTER_BASE_URL") or None,
            "whatsapp_api_base_url": os.environ.get("WHATSAPP_API_BASE_URL") or None,
        },
        "HOST": os.environ.get("HOST") or "127.0.0.1",
        "PORT": _number("PORT", 5000),
        "WEB_THREADS": _at_least_one("WEB_THREADS", WEB_THREADS),
        "WEB_CONNECTION_LIMIT": _at_least_one("WEB_CONNECTION_LIMIT", WEB_CONNECTION_LIMIT),
        "WEB_CHANNEL_TIMEOUT": _at_least_one("WEB_CHANNEL_TIMEOUT", WEB_CHANNEL_TIMEOUT),
        "WORKER_THREADS": _number("WORKER_THREADS", 128),
        "LEASE_SECONDS": _number("WORKER_LEASE_SECONDS", 30.0, float),
        "TRUSTED_PROXIES": _proxy_count(),
        "TRUSTED_PROXY_ADDRESS": _proxy_address(),
        **TUNING,
    }


def engine_options(url: str) -> dict:
    # Opening a connection costs more than a short transaction (SQLite reads the schema and
    # sets the pragmas, PostgreSQL starts a server process): the worker's threads keep theirs
    # open instead of opening one for each. With SQLAlchemy's default of 5, a worker on
    # PostgreSQL opened a connection for almost every message it answered.
    pool = {"pool_size": 16, "max_overflow": 16}
    if url.startswith("postgresql"):
        # Dates are counted in UTC, whatever the server's own time zone is.
        # A connection that waited in the pool is tried first (extensions._ping_after_idling).
        return {**pool, "connect_args": {"options": "-c timezone=UTC"}}
    return pool

"""Reads the environment in one place: where state lives and which URLs override stored settings."""

import os
import secrets
from pathlib import Path

SECRET_KEY_FILE = "secret_key"  # noqa: S105 (a file name, not a secret)


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


def from_environment(folder: Path) -> dict:
    """Flask config values taken from the environment variables of the design."""
    return {
        "SECRET_KEY": load_secret_key(folder),
        "SQLALCHEMY_DATABASE_URI": os.environ.get("DATABASE_URL")
        or f"sqlite:///{folder / 'switchboard.db'}",
        "QUEUE_URL": os.environ.get("QUEUE_URL") or f"sqlite:///{folder / 'queue.db'}",
        "ENV_OVERRIDES": {
            "openrouter_base_url": os.environ.get("OPENROUTER_BASE_URL") or None,
            "whatsapp_api_base_url": os.environ.get("WHATSAPP_API_BASE_URL") or None,
        },
        "HOST": os.environ.get("HOST") or "127.0.0.1",
        "PORT": int(os.environ.get("PORT") or 5000),
        "WORKER_THREADS": int(os.environ.get("WORKER_THREADS") or 8),
        "TRUSTED_PROXIES": int(os.environ.get("TRUSTED_PROXIES") or 0),
    }

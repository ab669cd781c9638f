"""The owner's settings: names, defaults and validation, stored in the database."""

import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import current_app, g
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from . import crypto, prompts
from .extensions import db
from .models import Setting, utcnow


class SettingError(ValueError):
    """A value that cannot be saved; the message says why in the owner's words."""


@dataclass(frozen=True)
class Spec:
    name: str
    label: str
    help: str
    section: str
    kind: str = "line"  # line, text, int, bool, secret, url, digits
    default: str | int = ""
    minimum: int | None = None
    maximum: int | None = None

    @property
    def secret(self) -> bool:
        return self.kind == "secret"


SPECS: dict[str, Spec] = {
    spec.name: spec
    for spec in (
        Spec(
            "openrouter_api_key",
            "OpenRouter API key",
            "Starts with sk-or-. Leave blank to keep the saved key.",
            "OpenRouter",
            kind="secret",
        ),
        Spec(
            "openrouter_base_url",
            "API base URL",
            "Any OpenAI-compatible API works.",
            "OpenRouter",
            kind="url",
            default="https://openrouter.ai/api/v1",
        ),
        Spec(
            "request_timeout",
            "Request timeout (seconds)",
            "How long to wait for the model before giving up (1–300).",
            "OpenRouter",
            kind="int",
            default=30,
            minimum=1,
            maximum=300,
        ),
        Spec(
            "max_tokens",
            "Maximum reply tokens",
            "WhatsApp replies are short; a high limit "
            "can make OpenRouter refuse with 'requires more credits'.",
            "OpenRouter",
            kind="int",
            default=1000,
            minimum=1,
            maximum=200000,
        ),
        Spec(
            "system_prompt",
            "System prompt",
            "Edited with history on the Prompt page.",
            "Replies",
            kind="text",
        ),
        Spec(
            "memory_turns",
            "Memory (exchanges)",
            "How many earlier exchanges with the same customer the model sees (0–50).",
            "Replies",
            kind="int",
            default=10,
            minimum=0,
            maximum=50,
        ),
        Spec(
            "fallback_reply",
            "Fallback reply",
            "Sent when the model cannot answer after retries. Leave empty to send nothing.",
            "Replies",
            kind="text",
            default="Sorry, we can't answer right now. We'll get back to you soon.",
        ),
        Spec(
            "non_text_reply",
            "Reply to non-text messages",
            "Sent for voice notes, stickers and "
            "other messages the bot cannot read. Leave empty to send nothing.",
            "Replies",
            kind="text",
            default="Sorry, I can only read text messages for now.",
        ),
        Spec(
            "whatsapp_access_token",
            "Access token",
            "From your Meta app (System User token). Leave blank to keep the saved token.",
            "WhatsApp",
            kind="secret",
        ),
        Spec(
            "whatsapp_phone_number_id",
            "Phone number ID",
            "The number's ID from WhatsApp > API Setup (digits, not the phone number).",
            "WhatsApp",
            kind="digits",
        ),
        Spec(
            "whatsapp_app_secret",
            "App secret",
            "Meta app > Settings > Basic. Used to check that webhooks really come from Meta.",
            "WhatsApp",
            kind="secret",
        ),
        Spec(
            "whatsapp_verify_token",
            "Verify token",
            "Any phrase; paste the same one into Meta's webhook setup.",
            "WhatsApp",
        ),
        Spec(
            "whatsapp_api_base_url",
            "Graph API base URL",
            "Change only for a BSP that forwards the Cloud API.",
            "WhatsApp",
            kind="url",
            default="https://graph.facebook.com/v21.0",
        ),
        Spec(
            "mark_read",
            "Mark messages read and show typing",
            "Customers see blue ticks and 'typing…' while the assistant works on an answer.",
            "WhatsApp",
            kind="bool",
            default=False,
        ),
        Spec(
            "retention_days",
            "Keep conversations and logs (days)",
            "0 keeps them forever.",
            "Privacy",
            kind="int",
            default=90,
            minimum=0,
            maximum=3650,
        ),
    )
}

TRUE_WORDS = {"on", "true", "yes", "y", "1"}
FALSE_WORDS = {"off", "false", "no", "n", "0", ""}

SECTIONS = ("OpenRouter", "Replies", "WhatsApp", "Privacy")


def spec_for(name: str) -> Spec:
    try:
        return SPECS[name]
    except KeyError:
        known = ", ".join(SPECS)
        raise SettingError(f"Unknown setting '{name}'. Known settings: {known}.") from None


def clean(name: str, raw: str) -> str | int:
    """The value as it will be stored, or SettingError saying what is wrong."""
    spec = spec_for(name)
    value = raw.strip() if spec.kind != "text" else raw.replace("\r\n", "\n").strip()
    if spec.kind == "int":
        try:
            number = int(value)
        except ValueError:
            raise SettingError(f"{spec.label} must be a whole number, not '{raw}'.") from None
        if not spec.minimum <= number <= spec.maximum:
            raise SettingError(
                f"{spec.label} must be between {spec.minimum} and {spec.maximum}, not {number}."
            )
        return number
    if spec.kind == "bool":
        if value.lower() in TRUE_WORDS:
            return True
        if value.lower() in FALSE_WORDS:
            return False
        raise SettingError(f"{spec.label} must be on or off, not '{raw}'.")
    if spec.kind == "url":
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingError(f"{spec.label} must be an http:// or https:// URL, not '{raw}'.")
        return value.rstrip("/")
    if spec.kind == "digits" and value and not (value.isascii() and value.isdigit()):
        raise SettingError(f"{spec.label} must contain digits only, not '{raw}'.")
    if spec.kind in ("line", "secret", "digits") and any(c.isspace() for c in value):
        raise SettingError(f"{spec.label} must not contain spaces or line breaks.")
    if spec.name == "system_prompt" and not value:
        raise SettingError("The system prompt cannot be empty.")
    if len(value) > 20000:
        raise SettingError(f"{spec.label} is too long (at most 20000 characters).")
    return value


def warnings_for(name: str, value: str | int) -> list[str]:
    if name == "openrouter_api_key" and value and not str(value).startswith("sk-or-"):
        return [
            "The key does not start with sk-or-, so it is not an OpenRouter key. "
            "It was saved anyway, for other OpenAI-compatible APIs."
        ]
    return []


def env_override(name: str) -> str | None:
    """The environment's value for this setting, which wins over the stored one."""
    return current_app.config["ENV_OVERRIDES"].get(name)


@contextmanager
def read_once():
    """Inside this block all settings come from one query: a worker job reads a dozen."""
    g.settings_rows = dict(db.session.execute(select(Setting.name, Setting.value)).all())
    try:
        yield
    finally:
        g.pop("settings_rows", None)


def _stored(name: str) -> str | None:
    if (rows := g.get("settings_rows")) is not None:
        return rows.get(name)
    row = db.session.get(Setting, name)
    return None if row is None else row.value


def get(name: str) -> str | int:
    """The value in force now: environment override, stored value, else the default."""
    spec = spec_for(name)
    if name == "system_prompt":
        return prompts.current_text()
    if override := env_override(name):
        return override.rstrip("/")
    stored = _stored(name)
    if stored is None:
        return spec.default
    if spec.secret:
        return crypto.decrypt(stored) if stored else ""
    if spec.kind == "bool":
        return stored == "1"
    return int(stored) if spec.kind == "int" else stored


def is_set(name: str) -> bool:
    return bool(_stored(name))


def display(name: str) -> str:
    """The value as a page or the CLI may show it: secrets masked."""
    spec = spec_for(name)
    if spec.secret:
        try:
            return crypto.mask(get(name))
        except crypto.SecretUnreadable:
            return "(unreadable: enter it again)"
    value = get(name)
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def save(values: dict[str, str], author: str) -> list[str]:
    """Validate every value first, then store them together; returns warnings to show.

    A blank secret keeps the stored one, so a page never needs to send a secret back.
    """
    cleaned = {}
    for name, raw in values.items():
        if spec_for(name).secret and not raw.strip():
            continue
        cleaned[name] = clean(name, raw)
    warnings = [w for name, value in cleaned.items() for w in warnings_for(name, value)]
    for name, value in cleaned.items():
        if name == "system_prompt":
            if value != prompts.current_text():
                prompts.save_version(value, author)
            continue
        if isinstance(value, bool):
            stored = "1" if value else "0"
        else:
            stored = crypto.encrypt(value) if SPECS[name].secret and value else str(value)
        _upsert(name, stored)
    db.session.commit()
    return warnings


def clear(name: str) -> None:
    """Forget a stored value so the default applies again."""
    spec_for(name)
    if row := db.session.get(Setting, name):
        db.session.delete(row)
        db.session.commit()
    if (rows := g.get("settings_rows")) is not None:
        rows.pop(name, None)


def get_state(name: str) -> dict | None:
    """Internal remembered state (such as the last key test), kept beside the settings."""
    stored = _stored(f"state:{name}")
    return None if stored is None else json.loads(stored)


def set_state(name: str, value: dict) -> None:
    _upsert(f"state:{name}", json.dumps(value))
    db.session.commit()


def record(name: str, event: dict) -> dict:
    """Remember an event (a key test, Meta's verification) with when it happened."""
    event["at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    set_state(name, event)
    return event


def _upsert(name: str, value: str) -> None:
    # One statement, so two processes saving the same name at once cannot collide.
    if (rows := g.get("settings_rows")) is not None:
        rows[name] = value
    insert = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}[db.engine.dialect.name]
    statement = insert(Setting).values(name=name, value=value, updated_at=utcnow())
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[Setting.name],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )

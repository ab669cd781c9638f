"""The owner's settings: validation, the value in force, saving; stored in the database.

Settings are read when used, so a change made in the admin, on the command line or by another
process takes effect without a restart. `read()` takes them all in one query: a turn works
with that snapshot from start to end.
"""

import re
from collections.abc import Mapping

from flask import current_app
from sqlalchemy import bindparam, delete, select

from . import catalog, contacts, crypto, destinations, prompts
from .display import zones
from .extensions import db, dialect_insert
from .knowledge import hours
from .models import Setting, utcnow
from .money import amounts
from .setting_specs import FALSE_WORDS, SECTIONS, SPECS, TRUE_WORDS, Spec

__all__ = ["SECTIONS", "SPECS", "SettingError", "Spec", "Values"]


class SettingError(ValueError):
    """A value that cannot be saved; the message says why in the owner's words."""


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
    if spec.kind == "choice":
        if value.lower() not in spec.choices:
            words = ", ".join(spec.choices)
            raise SettingError(f"{spec.label} must be one of {words}, not '{raw}'.")
        return value.lower()
    if spec.kind == "model":
        if value.lower() in spec.choices or not (value or spec.choices):
            return value.lower()  # a word of the setting's own, or empty where that means off
        try:
            return catalog.check_model_id(value)
        except catalog.CatalogError as exc:
            words = f" Or {' or '.join(spec.choices)}." if spec.choices else ""
            raise SettingError(f"{spec.label}: {exc}{words}") from None
    if spec.kind == "url" and (value or spec.default):  # an optional address may be empty
        if why := destinations.refusal(value):
            raise SettingError(f"{spec.label} {why}.")
        return value.rstrip("/")
    if spec.kind == "timezone":
        return _zone(spec, value)
    if spec.kind == "flags":
        return _flags(spec, value)
    if spec.kind == "hours":
        try:
            return hours.clean(value)
        except ValueError as exc:
            raise SettingError(f"{spec.label}: {exc}") from None
    if spec.kind == "numbers":
        return _numbers(spec, value)
    if spec.kind == "emails":
        return _emails(spec, value)
    if spec.kind == "dollars":
        return _dollars(spec, value)
    if spec.kind == "phrase" and ("\n" in value or "\r" in value):
        raise SettingError(f"{spec.label} must be one line.")
    if spec.kind == "digits" and value and not (value.isascii() and value.isdigit()):
        raise SettingError(f"{spec.label} must contain digits only, not '{raw}'.")
    if spec.kind in ("line", "secret", "digits") and any(c.isspace() for c in value):
        raise SettingError(f"{spec.label} must not contain spaces or line breaks.")
    if spec.name == "system_prompt" and not value:
        raise SettingError("The system prompt cannot be empty.")
    if len(value) > 20000:
        raise SettingError(f"{spec.label} is too long (at most 20000 characters).")
    return value


def _flags(spec: Spec, value: str) -> str:
    words = [word.strip().lower() for word in value.replace(" ", ",").split(",") if word.strip()]
    if wrong := [word for word in words if word not in spec.choices]:
        raise SettingError(f"{spec.label}: '{wrong[0]}' is not one of {', '.join(spec.choices)}.")
    return ",".join(choice for choice in spec.choices if choice in words)


def _numbers(spec: Spec, value: str) -> str:
    """Phone numbers as people type them, each normalised, once each: "31612345678, …"."""
    numbers = []
    for typed in (part for part in value.split(",") if part.strip()):
        number = contacts.normalise_number(typed)
        if not (number.isascii() and number.isdigit() and 7 <= len(number) <= 15):
            raise SettingError(
                f"{spec.label}: '{typed.strip()}' is not a phone number with its country "
                "code, as +31 6 1234 5678."
            )
        numbers.append(number)
    return ", ".join(dict.fromkeys(numbers))


EMAIL = re.compile(r"[^@\s,;<>\"]+@[^@\s,;<>\"]+\.[^@\s,;<>\"]+")


def _emails(spec: Spec, value: str) -> str:
    addresses = [part.strip() for part in value.split(",") if part.strip()]
    if wrong := [address for address in addresses if not EMAIL.fullmatch(address)]:
        raise SettingError(f"{spec.label}: '{wrong[0]}' is not an e-mail address.")
    return ", ".join(dict.fromkeys(addresses))


def _dollars(spec: Spec, value: str) -> str:
    """An amount such as "20", "$20.50" or "0.01", kept as plain digits ("" for none)."""
    try:
        amount = amounts.amount_of(value)
    except ValueError as exc:
        raise SettingError(f"{spec.label} {exc}; leave it empty for none.") from None
    return "" if amount is None else amounts.plain(amount)


def _zone(spec: Spec, value: str) -> str:
    if not value or zones.is_zone(value):  # empty: the server's zone
        return zones.plain(value)
    maybe = zones.meant(value)
    hint = f" Did you mean {' or '.join(maybe)}?" if maybe else ""
    raise SettingError(
        f"{spec.label}: '{value}' is not a time zone; give its name as in Europe/Amsterdam "
        f"or America/New_York.{hint}"
    )


def moved_hosts(values: Mapping[str, str]) -> list[str]:
    """The API addresses among `values` that would send their secret to another host than
    the one in force now (a new path on the same host is no move)."""
    return [
        name
        for name in destinations.SECRET_OF
        if values.get(name, "").strip()
        and destinations.host_of(values[name].strip()) != destinations.host_of(str(get(name)))
    ]


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


class Values:
    """Every setting in force, from one read of the table; secrets are decrypted on use."""

    def __init__(self, stored: Mapping[str, str], overrides: Mapping[str, str | None]):
        self._stored, self._overrides = stored, overrides

    def __getitem__(self, name: str) -> str | int | bool:
        spec = spec_for(name)
        if override := self._overrides.get(name):
            return override.rstrip("/")
        stored = self._stored.get(name)
        if stored is None or (stored == "" and spec.kind == "timezone"):
            return spec.default() if callable(spec.default) else spec.default
        if spec.secret:
            return crypto.decrypt(stored) if stored else ""
        if spec.kind == "bool":
            return stored == "1"
        return int(stored) if spec.kind == "int" else stored

    def is_set(self, name: str) -> bool:
        return bool(self._stored.get(name))


_S = Setting.__table__.c
ALL_STORED = select(_S.name, _S.value)  # a few dozen short rows: one read is the cheapest
ONE_STORED = select(_S.value).where(_S.name == bindparam("name"))


def read() -> Values:
    """The settings in force now, in one query."""
    stored = dict(db.session.execute(ALL_STORED).all())
    return Values(stored, current_app.config["ENV_OVERRIDES"])


def get(name: str) -> str | int | bool:
    """The value in force now: environment override, stored value, else the default."""
    if name == "system_prompt":
        return prompts.current_text()
    stored = db.session.scalar(ONE_STORED, {"name": name})
    values = Values({} if stored is None else {name: stored}, current_app.config["ENV_OVERRIDES"])
    return values[name]


def is_set(name: str) -> bool:
    return bool(db.session.scalar(select(Setting.value).where(Setting.name == name)))


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


def stored_secrets(connection=None) -> dict[str, str]:
    """The stored secrets, still encrypted, by name; from another database when given a
    connection to it (`db copy` checks its target)."""
    names = [name for name, spec in SPECS.items() if spec.secret]
    rows = (connection or db.session).execute(
        select(Setting.name, Setting.value).where(Setting.name.in_(names))
    )
    return {name: value for name, value in rows if value}


def unreadable_among(stored: Mapping[str, str]) -> list[str]:
    """The names among `stored` secrets that no SECRET_KEY in force (current or fallback)
    can decrypt."""
    return [name for name, value in stored.items() if not crypto.readable(value)]


def unreadable() -> list[str]:
    """The stored secrets of this database that no SECRET_KEY in force can decrypt."""
    return unreadable_among(stored_secrets())


def reencrypt() -> list[str]:
    """Encrypt every stored secret again with the current SECRET_KEY; returns their names.

    Refuses (SettingError) while any secret is unreadable, so nothing is half-rewritten.
    """
    if missing := unreadable():
        raise SettingError(
            f"{', '.join(missing)} cannot be decrypted with SECRET_KEY or SECRET_KEY_FALLBACKS: "
            "add the key they were saved with to SECRET_KEY_FALLBACKS, or enter them again."
        )
    done = []
    for name, value in stored_secrets().items():
        _upsert(name, crypto.encrypt(crypto.decrypt(value)))
        done.append(name)
    db.session.commit()
    return done


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
    db.session.execute(delete(Setting).where(Setting.name == name))
    db.session.commit()


def _upsert(name: str, value: str) -> None:
    # One statement, so two processes saving the same name at once cannot collide.
    statement = dialect_insert(Setting).values(name=name, value=value, updated_at=utcnow())
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[Setting.name],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )

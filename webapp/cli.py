"""Command-line administration (`.venv/bin/flask --app wsgi …`): admins, settings, models."""

import os
import secrets

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from . import catalog, catalog_data, checks, contacts, settings, tokens
from .auth import sessions, throttle
from .auth.forms import MIN_PASSWORD
from .config import FLASK_COMMAND
from .crypto import SecretUnreadable
from .data import cli as data_cli
from .display import hidden_chars, times
from .extensions import db
from .knowledge.cli import knowledge_cli
from .models import User
from .money import limits_cli
from .money.cli import costs
from .people import needs, takeover
from .people.templates_cli import templates_cli
from .worker.serving import serve, worker

settings_cli = AppGroup("settings", help="Read and change settings (secrets are masked).")
contacts_cli = AppGroup(
    "contacts", help="Customers: pause or resume the bot, who needs you, done, forget their data."
)
models_cli = AppGroup(
    "models", help="The model table: list, add, check, and the role of each model."
)
tokens_cli = AppGroup("tokens", help="Flow keys for the flow endpoint: create, list, revoke.")


def _fail(message: str) -> None:
    raise click.ClickException(message)


def _set_password(username: str, password: str) -> str:
    if len(password) < MIN_PASSWORD:
        _fail(f"The password must have at least {MIN_PASSWORD} characters.")
    user = db.session.scalar(select(User).where(User.username == username))
    created = user is None
    if created:
        user = User(username=username)
        db.session.add(user)
    user.set_password(password)
    if not created:  # a new password ends the sessions signed in with the old one
        sessions.end_all(user)
    throttle.unlock(username)
    db.session.commit()
    return "created" if created else "updated"


@click.command("create-admin")
@click.argument("username")
@with_appcontext
def create_admin(username: str) -> None:
    """Create an admin, or set a new password for an existing one."""
    username = username.strip()
    if not username or len(username) > 64 or any(c.isspace() for c in username):
        _fail("The username must be 1–64 characters without spaces.")
    password = os.environ.get("ADMIN_PASSWORD") or click.prompt(
        "Password", hide_input=True, confirmation_prompt=True
    )
    outcome = _set_password(username, password)
    click.echo(f"Admin '{username}' {outcome}.")


@click.command("ensure-admin")
@with_appcontext
def ensure_admin() -> None:
    """Make sure an admin exists: 'admin' with ADMIN_PASSWORD, else a random password shown once."""
    if db.session.scalar(select(func.count()).select_from(User)):
        return
    given = os.environ.get("ADMIN_PASSWORD")
    password = given or secrets.token_urlsafe(12)
    _set_password("admin", password)
    if given:
        click.echo("Created admin 'admin' with the password from ADMIN_PASSWORD.")
    else:
        click.echo(f"Created admin 'admin'. Password, shown only this once: {password}")


@settings_cli.command("list")
def settings_list() -> None:
    """Every setting with the value in force (secrets masked)."""
    width = max(map(len, settings.SPECS))
    for name in settings.SPECS:
        value = settings.display(name).replace("\n", " ")
        if len(value) > 70:
            value = value[:69] + "…"
        source = " (from environment)" if settings.env_override(name) else ""
        click.echo(f"{name:<{width}}  {value}{source}")


@settings_cli.command("get")
@click.argument("name")
def settings_get(name: str) -> None:
    """One setting's value (secrets masked)."""
    try:
        click.echo(settings.display(name))
    except settings.SettingError as exc:
        _fail(str(exc))


def _secret_value(name: str, given: str | None) -> str:
    """A secret asked for without echo when left out, or read from standard input for `-`:
    never in the command line, where other users see it (ps) and the shell history keeps it."""
    if given is None:
        return click.prompt(settings.spec_for(name).label, hide_input=True)
    if given == "-":
        return click.get_text_stream("stdin").read()
    if given.strip():
        click.echo(
            f"Warning: {name} was typed on the command line, where other users of this "
            "machine can see it (ps) and your shell history keeps it. Next time leave the "
            "value out to be asked for it, or read it from a file: "
            f"{FLASK_COMMAND} settings set {name} - < FILE",
            err=True,
        )
    return given


@settings_cli.command("set")
@click.argument("name")
@click.argument("value", required=False)
def settings_set(name: str, value: str | None) -> None:
    """Change one setting; a bad value is refused and nothing is written.

    For a secret (a key, token or app secret), leave VALUE out to be asked for it without
    echo, or give - to read it from standard input.
    """
    try:
        if settings.spec_for(name).secret:
            value = _secret_value(name, value)
            if not value.strip():
                _fail(f"Give a value for {name}; an empty secret is not saved.")
        elif value is None:
            raise click.UsageError("Missing argument 'VALUE'.")
        for warning in settings.save({name: value}, author="cli"):
            click.echo(f"Warning: {warning}", err=True)
        click.echo(f"{name} = {settings.display(name)}")
        if settings.env_override(name):
            click.echo(f"Note: the environment variable {name.upper()} overrides this value.")
    except (settings.SettingError, SecretUnreadable) as exc:
        _fail(str(exc))


def _catalog_call(change, *args):
    try:
        return change(*args)
    except catalog.CatalogError as exc:
        _fail(str(exc))


@settings_cli.command("reencrypt")
def settings_reencrypt() -> None:
    """Encrypt the stored secrets again with the current SECRET_KEY (after a key change)."""
    try:
        names = settings.reencrypt()
    except settings.SettingError as exc:
        _fail(str(exc))
    if not names:
        click.echo("No secrets are stored yet.")
        return
    click.echo(f"Encrypted again with the current SECRET_KEY: {', '.join(names)}.")
    click.echo("Old keys can now be removed from SECRET_KEY_FALLBACKS.")


@models_cli.command("list")
def models_list() -> None:
    """The model table in fallback order, with each model's role."""
    for row in catalog.all_models():
        click.echo(f"{row.position:>2}  {row.model_id:<40}  {row.role:<9}  {row.label}")


@models_cli.command("add")
@click.argument("model_id")
@click.option("--label", default="", help="A readable name shown in the admin.")
def models_add(model_id: str, label: str) -> None:
    """Add a model (provider/name, optionally :free or :nitro) as available."""
    _catalog_call(catalog.add, model_id, label)
    click.echo(
        f"Added {model_id.strip()} as available "
        f"({FLASK_COMMAND} models fallback {model_id.strip()} makes it a fallback)."
    )


@models_cli.command("default")
@click.argument("model_id")
def models_default(model_id: str) -> None:
    """Make a model the default; the previous default becomes available."""
    previous = _catalog_call(catalog.make_default, model_id)
    click.echo(f"{model_id} is now the default model.")
    if previous:
        click.echo(f"{previous} is now available (not a fallback).")


def _role_command(name: str, role: str, help_text: str) -> None:
    @models_cli.command(name, help=help_text)
    @click.argument("model_id")
    def command(model_id: str) -> None:
        _catalog_call(catalog.set_role, model_id, role)
        click.echo(f"{model_id} is now {role}.")


_role_command("fallback", catalog.FALLBACK, "Try it, in table order, when the default fails.")
_role_command("available", catalog.AVAILABLE, "Flows and trials may use it; never a fallback.")
_role_command("disable", catalog.DISABLED, "Never ask it (the default cannot be disabled).")


@models_cli.command("enable")
@click.argument("model_id")
def models_enable(model_id: str) -> None:
    """Bring a disabled model back as available (models fallback makes it a fallback)."""
    click.echo(f"{model_id} is {_catalog_call(catalog.enable, model_id)}.")


@models_cli.command("check")
def models_check() -> None:
    """Compare the table with the provider's catalog; flags retired or misspelled IDs."""
    result = checks.check_catalog()
    if not result["ok"]:
        _fail(f"The catalog could not be read ({result['kind']}): {result['message']} "
              f"{result['fix']}")  # fmt: skip
    click.echo(f"{result['count']} models in the catalog.")
    known = catalog_data.listings()
    for row in catalog.all_models():
        click.echo(f"{row.model_id:<40}  {row.role:<9}  {_verdict(row.model_id, result, known)}")


def _verdict(model_id: str, result: dict, known) -> str:
    if model_id in result["missing"]:
        closest = result["missing"][model_id]
        hint = f" Did you mean {', '.join(closest)}?" if closest else ""
        return f"NOT IN THE CATALOG: retired or misspelled.{hint}"
    listing = catalog_data.lookup(known, model_id)
    prices = [listing.per_million(listing.prompt), listing.per_million(listing.completion)]
    if None in prices:
        return "ok"
    return f"ok  ${prices[0]:.2f} / ${prices[1]:.2f} per million tokens in / out"


@contacts_cli.command("pause")
@click.argument("number")
def contacts_pause(number: str) -> None:
    """Stop bot replies to this customer (a person takes over)."""
    contact = contacts.set_paused(number, True)
    name = hidden_chars.marked(contacts.name_of(contact))
    click.echo(f"Bot paused for {name}: their messages are kept, not answered.")


@contacts_cli.command("resume")
@click.argument("number")
def contacts_resume(number: str) -> None:
    """Let the bot answer this customer again."""
    contact = contacts.set_paused(number, False)
    click.echo(f"Bot resumed for {hidden_chars.marked(contacts.name_of(contact))}.")


@contacts_cli.command("needs")
def contacts_needs() -> None:
    """Who waits for a person, oldest first: since, name, number, why."""
    waiting = needs.waiting()
    if not waiting:
        click.echo("Nobody is waiting for a person.")
    for row in waiting:
        name = hidden_chars.marked(contacts.name_of(row.contact))
        number = contacts.number_of(row.contact)
        click.echo(f"{times.when(row.since)}  {name}  {number}  {hidden_chars.marked(row.why)}")


@contacts_cli.command("done")
@click.argument("number")
def contacts_done(number: str) -> None:
    """Done: the bot answers this customer again, and they no longer need you."""
    contact = contacts.find(number)
    if contact is None or contact.channel != "whatsapp":
        _fail(f"No customer with number or id {number}.")
    takeover.resume(contact.id)
    db.session.commit()
    name = hidden_chars.marked(contacts.name_of(contact))
    click.echo(f"Done: the bot answers {name} again from their next message.")


@contacts_cli.command("forget")
@click.argument("number")
@click.confirmation_option(
    prompt="Delete this customer's messages, files, log rows and trial questions for good?"
)
def contacts_forget(number: str) -> None:
    """Delete a customer with their messages, files, log rows and trial questions."""
    if not contacts.forget(number):
        _fail(f"No customer with number or id {number}.")
    click.echo(f"Forgot {number}: contact, messages, files, log rows and trial questions deleted.")


@tokens_cli.command("create")
@click.argument("name")
def tokens_create(name: str) -> None:
    """Make a flow key; it is printed this once and never again."""
    try:
        row, token = tokens.create(name)
    except tokens.TokenError as exc:
        _fail(str(exc))
    click.echo(f"Flow key '{row.name}', shown only this once (keep it in your flow builder):")
    click.echo(token)


@tokens_cli.command("list")
def tokens_list() -> None:
    """Every flow key: name, created, last used, requests, and whether it is revoked."""
    rows = tokens.all_tokens()
    if not rows:
        click.echo(f"No flow keys yet: `{FLASK_COMMAND} tokens create NAME` makes one.")
    for row in rows:
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
        revoked = f"  revoked {row.revoked_at:%Y-%m-%d %H:%M}" if row.revoked_at else ""
        click.echo(
            f"{row.name:<24}  {row.display}  created {row.created_at:%Y-%m-%d %H:%M}  "
            f"last used {used}  requests {row.requests}{revoked}"
        )


@tokens_cli.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Refuse this flow key from now on."""
    try:
        row = tokens.revoke(name)
    except tokens.TokenError as exc:
        _fail(str(exc))
    click.echo(f"Token '{row.name}' revoked: flows using it now get HTTP 401.")


def register(app: Flask) -> None:
    commands = (
        create_admin, ensure_admin, serve, worker,
        settings_cli, models_cli, contacts_cli, tokens_cli,
    )  # fmt: skip
    for command in commands:
        app.cli.add_command(command)
    data_cli.register(app)
    app.cli.add_command(knowledge_cli)
    app.cli.add_command(templates_cli)
    limits_cli.register(contacts_cli, tokens_cli)
    app.cli.add_command(costs)

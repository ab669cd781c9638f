"""Command-line administration: `flask --app wsgi …` for admins, settings, models, serving."""

import os
import secrets
import signal
import subprocess
import sys
import time

import click
from flask import Flask, current_app
from flask.cli import AppGroup, ScriptInfo, with_appcontext
from sqlalchemy import func, select

from . import catalog, contacts, inbox, queue, settings
from .auth.forms import MIN_PASSWORD
from .crypto import SecretUnreadable
from .extensions import db
from .models import User

settings_cli = AppGroup("settings", help="Read and change settings (secrets are masked).")
contacts_cli = AppGroup("contacts", help="Customers: pause or resume the bot, forget their data.")
models_cli = AppGroup("models", help="The model table: list, add, default, enable, disable.")


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


def _raise_interrupt(_signum, _frame):
    raise KeyboardInterrupt


def _stop_on_signals() -> None:
    # SIGINT too, explicitly: a shell starts background jobs with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_interrupt)


def _ignore_stop_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


@click.command("serve")
@click.option("--no-worker", is_flag=True, help="Serve the web side only (run `worker` apart).")
@with_appcontext
def serve(no_worker: bool) -> None:
    """Serve the admin and webhooks with waitress on HOST:PORT, and run the worker beside it.

    The worker is a process of its own, so answering messages never holds up a webhook.
    """
    from waitress import create_server

    app = current_app._get_current_object()
    host, port = app.config["HOST"], app.config["PORT"]
    server = create_server(app, host=host, port=port, threads=8)
    worker_process = None
    if not no_worker:
        app_path = click.get_current_context().find_object(ScriptInfo).app_import_path or "wsgi"
        command = [sys.executable, "-m", "flask", "--app", app_path, "worker"]
        worker_process = subprocess.Popen(command)  # noqa: S603 (our own command line)
    click.echo(f"Switchboard is running: open http://{host}:{port}/admin/ (Ctrl-C stops it)")
    _stop_on_signals()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        _ignore_stop_signals()
        server.close()
        if worker_process is not None:
            worker_process.terminate()  # the worker finishes the answers in progress
            worker_process.wait()
        click.echo("Stopped.")


@click.command("worker")
@click.option("--threads", type=click.IntRange(1, 64), help="Default: WORKER_THREADS or 8.")
@with_appcontext
def worker(threads: int | None) -> None:
    """Answer queued messages until Ctrl-C or SIGTERM, then finish the answers in progress."""
    app = current_app._get_current_object()
    threads = threads or app.config["WORKER_THREADS"]
    consumer = queue.make_consumer(app.extensions["huey"], workers=threads)
    _stop_on_signals()
    app.extensions["tasks"].requeue_stuck_messages()  # work a restart left behind
    consumer.start()
    click.echo(f"Worker: {threads} threads answering messages.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        # Ctrl-C reaches both processes and `serve` then sends SIGTERM as well: the second
        # signal must not cut short the answers being finished.
        _ignore_stop_signals()
        click.echo("Worker stopping: finishing the answers in progress…")
        consumer.stop(graceful=True)
        click.echo("Worker stopped.")


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


@settings_cli.command("set")
@click.argument("name")
@click.argument("value")
def settings_set(name: str, value: str) -> None:
    """Change one setting; a bad value is refused and nothing is written."""
    try:
        if settings.spec_for(name).secret and not value.strip():
            _fail(f"Give a value for {name}; an empty secret is not saved.")
        for warning in settings.save({name: value}, author="cli"):
            click.echo(f"Warning: {warning}", err=True)
        click.echo(f"{name} = {settings.display(name)}")
        if settings.env_override(name):
            click.echo(f"Note: the environment variable {name.upper()} overrides this value.")
    except (settings.SettingError, SecretUnreadable) as exc:
        _fail(str(exc))


def _catalog_call(change, *args) -> None:
    try:
        change(*args)
    except catalog.CatalogError as exc:
        _fail(str(exc))


@models_cli.command("list")
def models_list() -> None:
    """The model table in fallback order."""
    for row in catalog.all_models():
        state = "default" if row.is_default else "enabled" if row.enabled else "disabled"
        click.echo(f"{row.position:>2}  {row.model_id:<40}  {state:<8}  {row.label}")


@models_cli.command("add")
@click.argument("model_id")
@click.option("--label", default="", help="A readable name shown in the admin.")
def models_add(model_id: str, label: str) -> None:
    """Add a model (provider/name, optionally :free or :nitro)."""
    _catalog_call(catalog.add, model_id, label)
    click.echo(f"Added {model_id.strip()}.")


@models_cli.command("default")
@click.argument("model_id")
def models_default(model_id: str) -> None:
    """Make a model the default (it is enabled too)."""
    _catalog_call(catalog.make_default, model_id)
    click.echo(f"{model_id} is now the default model.")


@models_cli.command("enable")
@click.argument("model_id")
def models_enable(model_id: str) -> None:
    """Enable a model as a fallback."""
    _catalog_call(catalog.set_enabled, model_id, True)
    click.echo(f"{model_id} enabled.")


@models_cli.command("disable")
@click.argument("model_id")
def models_disable(model_id: str) -> None:
    """Disable a model (the default cannot be disabled)."""
    _catalog_call(catalog.set_enabled, model_id, False)
    click.echo(f"{model_id} disabled.")


@contacts_cli.command("pause")
@click.argument("number")
def contacts_pause(number: str) -> None:
    """Stop bot replies to this customer (a person takes over)."""
    contact = inbox.set_paused(number, True)
    click.echo(
        f"Bot paused for {contacts.name_of(contact)}: their messages are kept, not answered."
    )


@contacts_cli.command("resume")
@click.argument("number")
def contacts_resume(number: str) -> None:
    """Let the bot answer this customer again."""
    contact = inbox.set_paused(number, False)
    click.echo(f"Bot resumed for {contacts.name_of(contact)}.")


@contacts_cli.command("forget")
@click.argument("number")
@click.confirmation_option(prompt="Delete this customer's messages and log rows for good?")
def contacts_forget(number: str) -> None:
    """Delete a customer with all their messages and log rows."""
    if not inbox.forget(number):
        _fail(f"No customer with number or id {number}.")
    click.echo(f"Forgot {number}: contact, messages and log rows deleted.")


def register(app: Flask) -> None:
    commands = (create_admin, ensure_admin, serve, worker, settings_cli, models_cli, contacts_cli)
    for command in commands:
        app.cli.add_command(command)

"""Commands that move an install's data: `db copy` to another database, `backup`, `restore`."""

import os
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from flask_migrate.cli import db as migrate_group
from sqlalchemy.engine import make_url

from .. import media_store
from ..config import SECRET_KEY_FILE
from ..knowledge import files as knowledge_files
from . import backups, db_copy

FORCE = click.option("--force", is_flag=True, help="Go on even though a worker was seen.")
WORKER_RUNNING = (
    "A worker checked in within the last minute: stop the web server and the worker first "
    "(a worker that was killed counts for a minute more), or add --force."
)


def _refuse_while_a_worker_runs(force: bool) -> None:
    if not force and backups.worker_running():
        raise click.ClickException(WORKER_RUNNING)


def _moment(stored: str | None) -> str:
    return f"{stored[:16]} UTC" if stored else "none"


def _warn_of_a_password_in(url: str) -> None:
    if make_url(url).password is not None:
        click.echo(
            "Warning: the password was typed on the command line, where other users of this "
            "machine can see it (ps) and your shell history keeps it. Next time leave it out "
            "of the URL to be asked for it, or set PGPASSWORD.",
            err=True,
        )


def _password_prompt(url: str):
    target = make_url(url)
    who = f"{target.username or 'your user'} on {target.host or 'this machine'}"
    return lambda: click.prompt(f"Password of {who}", hide_input=True)


@click.command("copy")
@click.option("--to", "url", required=True, help="The target's SQLAlchemy URL.")
@FORCE
@with_appcontext
def copy_database(url: str, force: bool) -> None:
    """Copy every row to another, empty and migrated database (SQLite to PostgreSQL).

    Leave the password out of the URL: it comes from PGPASSWORD or ~/.pgpass, else it is asked
    for when the server wants one.
    """
    _refuse_while_a_worker_runs(force)
    _warn_of_a_password_in(url)

    def progress(table, total):
        return click.progressbar(length=total, label=f"{table.name:<20}")

    try:
        result = db_copy.copy_to(url, progress, _password_prompt(url))
    except db_copy.CopyRefused as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Copied {sum(result.counts.values())} rows to {db_copy.shown(url)}:")
    for name, count in result.counts.items():
        click.echo(f"  {name:<20} {count:>10}")
    click.echo(
        "Row counts match. Stored secrets that decrypt on the target with the current "
        f"SECRET_KEY: {result.secrets} of {result.secrets}."
    )
    files = sum(
        1 for f in media_store.folder().iterdir() if media_store.STORED_NAME.fullmatch(f.name)
    )
    documents = sum(
        1
        for f in knowledge_files.folder().iterdir()
        if knowledge_files.STORED_NAME.fullmatch(f.name)
    )
    kept = f", the {documents} knowledge files" if documents else ""
    click.echo(
        f"The {files} media files{kept} and the secret key file ({SECRET_KEY_FILE}) are not in "
        f"the database: they stay in the instance folder {current_app.instance_path}. Start "
        f"Switchboard on this machine with that folder and DATABASE_URL={db_copy.shown(url)}."
    )
    if os.environ.get("SECRET_KEY"):
        click.echo("SECRET_KEY comes from the environment: start with the same one.")


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup(path: Path) -> None:
    """Back up the database, the secret key file and media into PATH (.tar.gz), while running."""
    try:
        outcome = backups.write(path)
    except backups.BackupRefused as exc:
        raise click.ClickException(str(exc)) from None
    size = outcome.path.stat().st_size / 2**20
    key = "the secret key file" if outcome.key_file else "no secret key file"
    click.echo(
        f"Backup written to {outcome.path} ({size:.1f} MB): the database (last change "
        f"{_moment(outcome.newest)}), {key}, {outcome.media} media files."
    )
    if os.environ.get("SECRET_KEY"):
        click.echo(
            "SECRET_KEY comes from the environment, so it is not in the backup: keep it "
            "with the backup, the stored secrets cannot be read without it."
        )


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@FORCE
@with_appcontext
def restore(path: Path, force: bool) -> None:
    """Put a backup back in place of this install's data (stop Switchboard first)."""
    _refuse_while_a_worker_runs(force)
    try:
        outcome, kept = backups.restore(path, force)
    except backups.BackupRefused as exc:
        raise click.ClickException(str(exc)) from None
    key = "the secret key file" if outcome.key_file else "no secret key file"
    click.echo(
        f"Restored from {path}: the database (last change {_moment(outcome.newest)}), "
        f"{key}, {outcome.media} media files."
    )
    if kept:
        click.echo("The replaced files are kept as " + ", ".join(str(p) for p in kept) + ".")
    click.echo("Start Switchboard again (`make run` also upgrades a backup of an older version).")


def register(app) -> None:
    migrate_group.add_command(copy_database)
    for command in (backup, restore):
        app.cli.add_command(command)

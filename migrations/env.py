"""Alembic environment: runs the migrations against the app's database (Flask-Migrate)."""

import logging
import os
from contextlib import contextmanager
from logging.config import fileConfig

import click
from alembic import context
from flask import current_app

from webapp import sqlite_writes
from webapp.knowledge.schema import include_object

config = context.config
# Keep loggers the app already set up: Alembic's default would silence them.
fileConfig(config.config_file_name, disable_existing_loggers=False)
logger = logging.getLogger("alembic.env")
VERBOSE = os.environ.get("VERBOSE", "") not in ("", "0")
AUTOGENERATE = getattr(config.cmd_opts, "autogenerate", False)
if not (VERBOSE or AUTOGENERATE):
    # `make run` upgrades at every start: one line says what happened (`summary`), not a
    # line per migration. VERBOSE=1 shows each step; `flask db migrate` always does.
    logging.getLogger("alembic").setLevel(logging.WARNING)

migrate_ext = current_app.extensions["migrate"]
engine = migrate_ext.db.engine
config.set_main_option(
    "sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%")
)


def run_migrations_offline():
    """Emit the SQL instead of running it (`flask db upgrade --sql`)."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=migrate_ext.db.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    def skip_empty_revision(context, revision, directives):
        # `flask db migrate` with no model change writes no empty migration file.
        if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
            directives[:] = []
            click.echo("No changes in schema detected.")

    steps = []

    def count_step(ctx, step, heads, run_args):
        steps.append("stamp" if step.is_stamp else "up" if step.is_upgrade else "down")

    conf_args = dict(migrate_ext.configure_args)
    conf_args.setdefault("process_revision_directives", skip_empty_revision)
    conf_args.setdefault("include_object", include_object)
    # `db upgrade` is the first command that writes (`make run`, the image, the services).
    sqlite_writes.refuse_without_file_locks(engine)
    conf_args.setdefault("on_version_apply", count_step)
    with engine.connect() as connection, foreign_keys_off(connection):
        context.configure(
            connection=connection, target_metadata=migrate_ext.db.metadata, **conf_args
        )
        with context.begin_transaction():
            context.run_migrations()
    if line := summary(steps):
        click.echo(line)


def summary(steps: list[str]) -> str | None:
    """One line for what `db upgrade` (or downgrade) did; None for commands that move no
    revision (`db current`, `db migrate`)."""
    if "destination_rev" not in context.get_context().opts:
        return None
    applied, undone = steps.count("up"), steps.count("down")
    if applied:
        return f"Database ready: {applied} migration{'s' if applied != 1 else ''} applied."
    if undone:
        return f"Database downgraded: {undone} migration{'s' if undone != 1 else ''} undone."
    return None if steps else "Database up to date."


@contextmanager
def foreign_keys_off(connection):
    """SQLite changes a table in batch mode by copying it and dropping the old one; with its
    foreign keys enforced, the drop would first run their ON DELETE actions, deleting (or
    unlinking) every row of the tables that refer to it. The pragma only takes effect outside
    a transaction, so it is set before the migrations and again after them."""
    if connection.dialect.name != "sqlite":
        yield
        return
    connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()  # whatever a failed migration left open
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

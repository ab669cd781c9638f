"""The database each test's app runs on: a SQLite file in its instance folder, or, with
TEST_DATABASE_URL set to a PostgreSQL server's admin URL, a database of its own there.

On PostgreSQL the migrations run once per test run, into a template database; each app then
gets a copy of it (CREATE DATABASE … TEMPLATE takes milliseconds), dropped when its test ends.
Names carry the process id, so two runs can share one server.
"""

import contextlib
import itertools
import os
import tempfile
import uuid
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.support import optional_parts
from webapp import config, create_app
from webapp.extensions import db

ADMIN_URL = os.environ.get("TEST_DATABASE_URL") or None
TEMPLATE = f"sb_template_{os.getpid()}"
ON_POSTGRESQL = ADMIN_URL is not None


class Databases:
    """Fresh migrated PostgreSQL databases on the server ADMIN_URL points at."""

    def __init__(self, admin_url: str):
        self.url = make_url(admin_url)
        # AUTOCOMMIT: CREATE and DROP DATABASE cannot run inside a transaction.
        self.admin = create_engine(self.url, isolation_level="AUTOCOMMIT")
        self.names = (f"t_{os.getpid()}_{n}" for n in itertools.count())
        self.made: list[str] = []
        self.template_ready = False

    def url_of(self, name: str) -> str:
        return self.url.set(database=name).render_as_string(hide_password=False)

    def fresh(self) -> str:
        """The URL of a new database holding the schema the migrations build."""
        if not self.template_ready:
            self._migrate_template()
        name = next(self.names)
        self._execute(f'CREATE DATABASE "{name}" TEMPLATE {TEMPLATE}')
        self.made.append(name)
        return self.url_of(name)

    @contextlib.contextmanager
    def kept(self):
        """A fresh database that outlives the test that made it (a module's fixture): dropped
        when the block ends, not with the test's."""
        url = self.fresh()
        name = self.made.pop()
        try:
            yield url
        finally:
            self._drop(name)

    def drop_template(self) -> None:
        if self.template_ready:
            self._drop(TEMPLATE)
            self.template_ready = False

    def drop_made(self) -> None:
        """Drop the databases made since the last call, whoever is still connected to them."""
        while self.made:
            self._drop(self.made.pop())

    def _migrate_template(self) -> None:
        self._drop(TEMPLATE)
        self._execute(f"CREATE DATABASE {TEMPLATE}")
        url = self.url_of(TEMPLATE)
        with tempfile.TemporaryDirectory() as instance:
            app = create_app({"INSTANCE_PATH": Path(instance), **on_database(url)})
            with app.app_context():
                upgrade()
                db.engine.dispose()
        self.template_ready = True

    def _drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _execute(self, statement: str) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(statement))


databases = Databases(ADMIN_URL) if ON_POSTGRESQL else None


def database_config() -> dict:
    """Config for an app on a database of its own: nothing on SQLite (its file lives in the
    instance folder), a fresh PostgreSQL database otherwise."""
    if databases is None:
        return {}
    return on_database(databases.fresh())


@contextlib.contextmanager
def kept_database_config():
    """database_config() for an app shared by the tests of a module."""
    if databases is None:
        yield {}
        return
    with databases.kept() as url:
        yield on_database(url)


def on_database(url: str) -> dict:
    return {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": config.engine_options(url)}


def environment_of(app) -> dict:
    """What a `flask` process started by a test needs to run on the same data as `app`."""
    environment = {"INSTANCE_PATH": str(app.instance_path)}
    if databases is not None:
        environment["DATABASE_URL"] = app.config["SQLALCHEMY_DATABASE_URI"]
    return environment


@contextlib.contextmanager
def empty_postgresql_database(prefix: str):
    """The URL of a new, empty database on the throwaway PostgreSQL server (the test is
    skipped without one, or fails where PostgreSQL is required), dropped afterwards."""
    optional_parts.need("postgresql")
    server = optional_parts.postgresql_server()
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        engine.dispose()

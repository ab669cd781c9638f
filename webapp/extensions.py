"""Flask extensions, created unbound and bound to the app in the factory."""

import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import DateTime, Float, event, literal
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.pool import Pool
from sqlalchemy.sql.expression import ClauseElement, FunctionElement
from sqlalchemy.types import TypeDecorator

from . import sqlite_writes  # noqa: F401 (registers how SQLite writers take turns)

# Seconds a PostgreSQL connection waits in the pool before it is tried again before use.
PING_AFTER = 5.0


class UTCDateTime(TypeDecorator):
    """A moment, always timezone-aware UTC in Python, whatever the database keeps.

    PostgreSQL stores `timestamp with time zone`; SQLite keeps no zone, so it stores the UTC
    wall time. A naive datetime is refused rather than guessed at.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise TypeError(f"a datetime without a time zone cannot be stored: {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class database_now(FunctionElement):  # named as SQL functions are (func.now)
    """Now by the database's own clock, plus `seconds` (a number or a bindparam): lease times
    that workers on hosts whose clocks disagree compare alike. PostgreSQL: when the statement
    started. SQLite: its own 'now', written as UTCDateTime stores a moment there (naive UTC
    text, six digits of fraction), since SQLite compares the text."""

    type = UTCDateTime()
    inherit_cache = True

    def __init__(self, seconds=None):
        if seconds is None:
            super().__init__()
        elif isinstance(seconds, ClauseElement):
            super().__init__(seconds)
        else:
            super().__init__(literal(float(seconds), Float()))


@compiles(database_now, "postgresql")
def _now_on_postgresql(element, compiler, **kw) -> str:
    if not element.clauses.clauses:
        return "statement_timestamp()"
    seconds = compiler.process(element.clauses, **kw)
    return f"(statement_timestamp() + {seconds} * INTERVAL '1 second')"


@compiles(database_now, "sqlite")
def _now_on_sqlite(element, compiler, **kw) -> str:
    shift = ""
    if element.clauses.clauses:
        shift = f", printf('%+.3f seconds', {compiler.process(element.clauses, **kw)})"
    # SQLite's clock counts milliseconds: three more digits make the six of a stored moment.
    return f"(strftime('%Y-%m-%d %H:%M:%f', 'now'{shift}) || '000')"


class Base(DeclarativeBase):
    # Every timestamp column is a UTCDateTime, on every database.
    registry = registry(type_annotation_map={datetime: UTCDateTime})


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True)
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to continue."


@event.listens_for(Engine, "connect")
def _tune_sqlite(dbapi_connection, _record):
    # WAL lets the web server read while the worker writes; the busy timeout makes
    # concurrent writers wait for the lock instead of failing with "database is locked".
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL survives any crash of the program; only a power cut can lose the
        # last commits. It spares an fsync per commit, which webhook latency depends on.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        # A deleted row (a forgotten customer) is zeroed in the file, not left in free space.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


@event.listens_for(Pool, "checkin")
def _note_idle(_dbapi_connection, record) -> None:
    if record is not None:
        record.info["idle_since"] = time.monotonic()


@event.listens_for(Pool, "checkout")
def _ping_after_idling(dbapi_connection, record, _proxy) -> None:
    """A PostgreSQL connection that waited in the pool for a while is tried before use: the
    server may have restarted, or a firewall dropped it. One used a moment ago is not:
    SQLAlchemy's pool_pre_ping would try every one, one more round trip for each transaction
    (a worker makes four or five a message). A raise here makes the pool open another one."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        return
    idle_since = record.info.get("idle_since")
    if idle_since is None or time.monotonic() - idle_since < PING_AFTER:
        return
    try:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # the ping opens no transaction
        dbapi_connection.execute("SELECT 1")
        dbapi_connection.autocommit = autocommit
    except Exception as exc:
        raise DisconnectionError("the database closed this connection") from exc


@contextmanager
def transaction() -> Iterator[None]:
    """Commit what the block wrote, or roll all of it back if the block raised."""
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def dialect_insert(table):
    """An INSERT that can say ON CONFLICT, for the database in use (SQLite or PostgreSQL)."""
    insert = {"sqlite": sqlite_insert, "postgresql": postgresql_insert}[db.engine.dialect.name]
    return insert(table)

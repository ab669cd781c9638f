"""Where a bench server keeps its data: the SQLite file in its instance folder, or, when
DATABASE_URL names a PostgreSQL server, a fresh database of its own on that server, dropped
when the bench is done with it. So `make bench DATABASE_URL=postgresql+psycopg://…` measures
PostgreSQL with the same runs, and no run sees another's rows."""

import os
import uuid
from pathlib import Path

from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool


def on_postgresql() -> bool:
    return os.environ.get("DATABASE_URL", "").startswith("postgresql")


class BenchDatabase:
    """One instance's database; `env` is what its processes need in their environment."""

    def __init__(self, instance: str):
        self.instance, self.env, self.name, self.engine = Path(instance), {}, None, None
        if not on_postgresql():
            self.url = os.environ.get("DATABASE_URL") or f"sqlite:///{self.instance}/switchboard.db"
            return
        self.admin = make_url(os.environ["DATABASE_URL"])
        self.name = f"bench_{uuid.uuid4().hex[:12]}"
        self._as_admin(f'CREATE DATABASE "{self.name}"')
        self.url = self.admin.set(database=self.name).render_as_string(hide_password=False)
        self.env = {"DATABASE_URL": self.url}

    def _as_admin(self, statement: str) -> None:
        engine = create_engine(self.admin, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with engine.connect() as connection:
            connection.execute(text(statement))
        engine.dispose()

    def rows(self, sql: str, **params) -> list[tuple]:
        """The rows of one query, on the bench's own connections: a run that asks every 50 ms
        whether all is answered would otherwise start a PostgreSQL process each time."""
        if self.engine is None:
            named = {"connect_args": {"application_name": "bench"}} if self.name else {}
            self.engine = create_engine(self.url, pool_size=2, max_overflow=0, **named)
        with self.engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(sql), params)]

    def value(self, sql: str, **params):
        return self.rows(sql, **params)[0][0]

    def size_bytes(self, table: str | None = None) -> int:
        """Bytes the data takes: of one table with its indexes and TOAST, or of the whole
        database (on SQLite only the whole can be told: its pages in use, the ones still in
        the write-ahead log included)."""
        if self.name is None:
            pages = self.value("PRAGMA page_count") - self.value("PRAGMA freelist_count")
            return pages * self.value("PRAGMA page_size")
        if table:
            return self.value("SELECT pg_total_relation_size(:t)", t=table)
        return self.value("SELECT pg_database_size(current_database())")

    def connections(self) -> int:
        """PostgreSQL connections the server's processes hold to this database."""
        return self.value(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name != 'bench'"
        )

    def drop(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
        if self.name is not None:
            self._as_admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

"""`db copy --to URL`: every row of this install's database into another one (SQLite to
PostgreSQL, usually), ids kept, in batches; then the counts and the stored secrets checked.

The install is stopped meanwhile (the command refuses while a worker runs). The target must be
migrated to the same revision and hold nothing but what `db upgrade` writes (the model table
and the starting prompt), which is replaced. The whole copy is one transaction of the target:
a copy that fails leaves it as it was. Media files and the secret key file are not in the
database: they stay in the instance folder, on the same machine.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from alembic.migration import MigrationContext
from sqlalchemy import Connection, Engine, Table, create_engine, delete, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from .. import config, settings
from ..extensions import db

BATCH = 5000  # rows per INSERT: few round trips, bounded memory
SEEDED = ("ai_models", "prompt_versions")  # rows `db upgrade` writes, replaced by the source's
NO_PASSWORD = "no password supplied"  # noqa: S105 (the PostgreSQL client's words, when asked)


class CopyRefused(Exception):
    """The target cannot take the copy; the message says what to do."""


@dataclass
class CopyResult:
    counts: dict[str, int] = field(default_factory=dict)  # table → rows copied
    secrets: int = 0  # stored secrets decrypted on the target


def shown(url: str) -> str:
    """The URL without its password, fit for the screen."""
    return make_url(url).render_as_string(hide_password=True)


def target_engine(url: str) -> Engine:
    return create_engine(url, **config.engine_options(url))


def tables() -> list[Table]:
    """The app's tables, each after the tables it refers to."""
    return list(db.metadata.sorted_tables)


def check_target(source: Connection, target: Connection, url: str) -> None:
    """CopyRefused unless the target is migrated to the source's revision and holds no rows."""
    upgrade = f"Run `DATABASE_URL={shown(url)} {config.FLASK_COMMAND} db upgrade` first."
    head = MigrationContext.configure(source).get_current_revision()
    there = MigrationContext.configure(target).get_current_revision()
    if there is None:
        raise CopyRefused(f"The target database has no tables. {upgrade}")
    if there != head:
        raise CopyRefused(
            f"The target database is at migration {there}, this one at {head}. {upgrade}"
        )
    filled = [table.name for table in tables() if table.name not in SEEDED and count(target, table)]
    if filled:
        raise CopyRefused(
            f"The target database is not empty (rows in {', '.join(filled)}): "
            "copy into a new, migrated database only, so nothing there is overwritten."
        )


def copy_table(
    source: Connection, target: Connection, table: Table, progress: Callable[[int], None]
) -> int:
    """Every row of `table`, in primary-key order (a row referring to an earlier row of its
    own table, like a reply to its message, comes after it), BATCH rows at a time: through
    PostgreSQL's COPY when the target is PostgreSQL (several times faster than INSERTs),
    else INSERTs."""
    rows = source.execution_options(yield_per=BATCH).execute(
        select(table).order_by(*table.primary_key.columns)
    )
    write = _copy_into(target, table) if target.dialect.name == "postgresql" else None
    copied = 0
    for batch in rows.partitions():
        if write is None:
            target.execute(table.insert(), [row._mapping for row in batch])
        else:
            write(batch)
        copied += len(batch)
        progress(len(batch))
    return copied


def _copy_into(target: Connection, table: Table) -> Callable[[list], None]:
    """A writer of rows (in the table's column order) through COPY … FROM STDIN, inside the
    target's transaction. Values are converted by the columns' types first, as an INSERT
    would (a stored time to a timestamptz, a flag to a boolean)."""
    names = ", ".join(target.dialect.identifier_preparer.quote(c.name) for c in table.columns)
    statement = f"COPY {target.dialect.identifier_preparer.quote(table.name)} ({names}) FROM STDIN"
    binds = [c.type.bind_processor(target.dialect) for c in table.columns]
    cursor = target.connection.driver_connection.cursor()

    def write(batch: list) -> None:
        with cursor.copy(statement) as copy:
            for row in batch:
                copy.write_row([b(v) if b else v for b, v in zip(binds, row, strict=True)])

    return write


def reset_sequences(target: Connection) -> None:
    """On PostgreSQL, the next id of each table after the highest copied: rows inserted with
    their ids leave the sequences where `db upgrade` left them."""
    if target.dialect.name != "postgresql":
        return
    for table in tables():
        if (column := table.autoincrement_column) is None:
            continue
        highest = func.coalesce(select(func.max(column)).scalar_subquery(), 0)
        sequence = func.pg_get_serial_sequence(table.name, column.name)
        target.execute(select(func.setval(sequence, highest + 1, False)))


def count(connection: Connection, table: Table) -> int:
    return connection.scalar(select(func.count()).select_from(table))


def mismatched_counts(source: Connection, target: Connection) -> list[str]:
    """Each table whose row count differs between here and the target, as words."""
    counts = [(table.name, count(source, table), count(target, table)) for table in tables()]
    return [f"{name}: {here} here, {there} there" for name, here, there in counts if here != there]


def copy_to(
    url: str,
    progress_for: Callable[[Table, int], object],
    ask_password: Callable[[], str] | None = None,
) -> CopyResult:
    """Copy everything to the database at `url`; `progress_for(table, rows)` gives a context
    manager with an `update(n)` method (a click progress bar); `ask_password()` is called if
    the target wants a password nothing else gave. Raises CopyRefused."""
    result = CopyResult()
    engine, connection = _connect(url, ask_password)
    try:
        # One transaction of the target from the check to the end: closing without the
        # commit (a refusal, a failure, Ctrl-C) leaves it as it was.
        with db.engine.connect() as source, connection as target:
            check_target(source, target, url)
            for name in SEEDED:
                target.execute(delete(db.metadata.tables[name]))
            for table in tables():
                with progress_for(table, count(source, table)) as bar:
                    result.counts[table.name] = copy_table(source, target, table, bar.update)
            reset_sequences(target)
            if wrong := mismatched_counts(source, target):
                raise CopyRefused("Row counts differ after the copy: " + "; ".join(wrong))
            result.secrets = check_secrets(target)
            target.commit()
    finally:
        engine.dispose()
    return result


def _connect(url: str, ask_password: Callable[[], str] | None) -> tuple[Engine, Connection]:
    """The target's engine and a connection to it. As psql does, a password is asked for
    only when the server wants one that neither the URL, PGPASSWORD nor the password file
    gave: a server that trusts this machine's user never asks."""
    engine = target_engine(url)
    try:
        return engine, engine.connect()
    except OperationalError as exc:  # a wrong password, a server that is not there
        engine.dispose()
        if ask_password is not None and NO_PASSWORD in str(exc.orig):
            typed = make_url(url).set(password=ask_password())
            return _connect(typed.render_as_string(hide_password=False), None)
        raise CopyRefused(f"Could not connect to {shown(url)}: {exc.orig}") from None


def check_secrets(target: Connection) -> int:
    """How many stored secrets the target holds, all decrypted with the SECRET_KEY in force;
    CopyRefused naming the ones that are not."""
    stored = settings.stored_secrets(target)
    if unreadable := settings.unreadable_among(stored):
        raise CopyRefused(
            f"{', '.join(unreadable)} cannot be decrypted on the target with SECRET_KEY."
        )
    return len(stored)

"""`backup` and `restore` of a SQLite install: the database, the secret key file, the media
folder and the owner's knowledge files in one .tar.gz, written while Switchboard keeps answering.

One .tar.gz rather than a folder: one file to copy off the machine, written under a
temporary name and renamed once whole, so a backup that was cut off never looks like one.
Restore ignores the permissions inside it: what it writes is Switchboard's user's alone.
The database is copied with SQLite's online backup API: one consistent moment, without
stopping the web server or the worker (in WAL mode they keep writing while it reads).
"""

import json
import os
import shlex
import shutil
import sqlite3
import tarfile
import tempfile
from contextlib import closing, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import inspect
from sqlalchemy.engine import make_url

from .. import heartbeats, media_store, state
from ..config import SECRET_KEY_FILE
from ..extensions import db
from ..instance_files import PRIVATE_FILE, PRIVATE_FOLDER
from ..knowledge import files as knowledge_files
from ..models import AppState, utcnow

DATABASE = "switchboard.db"  # the names inside the archive
MEDIA = "media"
KNOWLEDGE = knowledge_files.FOLDER  # the owner's documents
LAST_BACKUP = "backup:last"
STALE = timedelta(days=7)
BEFORE = ".before-restore"
SUFFIX = ".tar.gz"
# Where the owner's and customers' changes show: a database with a later one than the
# backup's holds something the backup would lose.
CHANGES = (
    ("messages", "updated_at"),
    ("request_log", "created_at"),
    ("settings", "updated_at"),
    ("prompt_versions", "created_at"),
    ("knowledge_sources", "updated_at"),
)


class BackupRefused(Exception):
    """Nothing was written; the message says why and what to do."""


@dataclass
class Outcome:
    path: Path
    media: int  # media files in the backup
    key_file: bool  # whether the instance's secret key file is in it
    newest: str | None  # the latest change in the database, "YYYY-MM-DD HH:MM:SS.ffffff" UTC


def sqlite_file() -> Path | None:
    """This install's database file; None when the database is not SQLite."""
    url = db.engine.url
    return Path(url.database).resolve() if url.get_backend_name() == "sqlite" else None


def pg_dump_command() -> str:
    """The pg_dump command for this install's database, without its password."""
    url = make_url(str(db.engine.url))
    words = ["pg_dump", "--format=custom"]
    for option, value in (("--host", url.host), ("--port", url.port), ("--username", url.username)):
        if value:
            words += [option, str(value)]
    words += ["--dbname", url.database or ""]
    return shlex.join(words) + " --file switchboard-$(date +%F).dump"


def worker_running() -> bool:
    """Whether a worker checked in within the last minute (one that stopped cleanly said so
    and is not counted): its writes would go on into a database being replaced or moved."""
    database = sqlite_file()
    if database is not None and not database.exists():
        return False  # a new instance folder: nothing runs on it yet
    if not inspect(db.engine).has_table(AppState.__tablename__):
        return False
    return bool(heartbeats.alive())


def newest_change(path: Path) -> str | None:
    """The latest change to messages, log, settings or prompt in the SQLite file at `path`."""
    with closing(sqlite3.connect(path)) as connection:
        present = {name for (name,) in connection.execute("SELECT name FROM sqlite_master")}
        times = [
            connection.execute(f"SELECT max({column}) FROM {table}").fetchone()[0]  # noqa: S608
            for table, column in CHANGES
            if table in present
        ]
    return max(filter(None, times), default=None)


def _snapshot(source: Path, into: Path) -> None:
    """The database as of one moment, in a file of its own (no write-ahead log beside it)."""
    live, copy = sqlite3.connect(source, timeout=30), sqlite3.connect(into)
    with closing(live), closing(copy):
        live.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")


def _key_file() -> Path:
    return Path(current_app.instance_path) / SECRET_KEY_FILE


def write(path: Path) -> Outcome:
    """A backup of this install into `path` (a new .tar.gz); BackupRefused on PostgreSQL."""
    database = sqlite_file()
    if database is None:
        raise BackupRefused(
            "This install's database is not SQLite: back it up with its own tools, for "
            f"PostgreSQL:\n  {pg_dump_command()}\nand keep the instance folder's "
            f"{SECRET_KEY_FILE} file and {MEDIA}/ folder with it. Nothing was written."
        )
    if not path.name.endswith(SUFFIX):
        raise BackupRefused(f"Name the backup file …{SUFFIX}, e.g. switchboard-2026-05-04{SUFFIX}.")
    if path.exists():
        raise BackupRefused(f"{path} exists already: give the new backup a name of its own.")
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    key, files = _key_file(), 0
    # Beside the archive, so the finished file is renamed into place, never copied.
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".switchboard-backup-") as work:
        snapshot, partial = Path(work) / DATABASE, Path(work) / path.name
        _snapshot(database, snapshot)
        with tarfile.open(partial, "w:gz", compresslevel=6) as archive:
            archive.add(snapshot, DATABASE)
            if key.exists():
                archive.add(key, SECRET_KEY_FILE)
            for file in sorted(media_store.folder().iterdir()):
                if media_store.STORED_NAME.fullmatch(file.name):
                    with suppress(FileNotFoundError):  # its messages were deleted meanwhile
                        archive.add(file, f"{MEDIA}/{file.name}")
                        files += 1
            for file in sorted(knowledge_files.folder().iterdir()):
                if knowledge_files.STORED_NAME.fullmatch(file.name):
                    with suppress(FileNotFoundError):  # its source was removed meanwhile
                        archive.add(file, f"{KNOWLEDGE}/{file.name}")
        outcome = Outcome(path, files, key.exists(), newest_change(snapshot))
        partial.chmod(0o600)
        os.replace(partial, path)
    state.put(LAST_BACKUP, {"path": str(path), "size": path.stat().st_size})
    return outcome


def last() -> dict | None:
    """The last backup: path, size, `at` (when) and `stale` (none for over STALE)."""
    row = db.session.get(AppState, LAST_BACKUP)
    if row is None:
        return None
    stale = row.updated_at < utcnow() - STALE
    return {**json.loads(row.value), "at": row.updated_at, "stale": stale}


def _members(archive: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """The archive's files, when it is a backup of ours: nothing else is unpacked."""
    members = []
    for member in archive.getmembers():
        folder, _, name = member.name.partition("/")
        ours = (
            member.name in (DATABASE, SECRET_KEY_FILE)
            or (folder == MEDIA and media_store.STORED_NAME.fullmatch(name))
            or (folder == KNOWLEDGE and knowledge_files.STORED_NAME.fullmatch(name))
        )
        if not (ours and member.isfile()):
            raise BackupRefused(f"Not a Switchboard backup: it holds {member.name!r}.")
        members.append(member)
    if DATABASE not in {member.name for member in members}:
        raise BackupRefused(f"Not a Switchboard backup: there is no {DATABASE} in it.")
    return members


def _private(member: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
    """The data filter's checks, and the archive's permissions replaced: whatever a backup
    says (made with another umask, or written to open the key to everyone, or setuid), what
    it restores is for Switchboard's user alone."""
    return tarfile.data_filter(member, path).replace(mode=PRIVATE_FILE, deep=False)


def _set_aside(path: Path) -> Path | None:
    """Move `path` to `path.before-restore` (replacing an earlier one); where it went."""
    if not path.exists():
        return None
    aside = path.with_name(path.name + BEFORE)
    if aside.is_dir():
        shutil.rmtree(aside)
    os.replace(path, aside)
    return aside


def _close(database: Path) -> None:
    """No connection of this process left on the database, its write-ahead log folded in
    and removed: the file set aside is whole on its own."""
    db.session.remove()
    db.engine.dispose()
    with closing(sqlite3.connect(database, timeout=30)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("PRAGMA journal_mode=DELETE")


def refusal_to_replace(database: Path, backup: Path) -> str | None:
    """Why restoring `backup` over `database` would lose something; None when nothing."""
    here, there = newest_change(database), newest_change(backup)
    if here and (there is None or here > there):
        return (
            f"The database here changed at {here[:19]} UTC, after the backup's last change "
            f"({there[:19] if there else 'none'} UTC): restoring would lose that."
        )
    return None


def restore(path: Path, force: bool) -> tuple[Outcome, list[Path]]:
    """Put the backup at `path` in place of this install's database, secret key file, media
    and knowledge folders; the replaced ones are kept as *.before-restore (returned)."""
    database = sqlite_file()
    if database is None:
        raise BackupRefused("This install's database is not SQLite: restore it with pg_restore.")
    instance = Path(current_app.instance_path)
    with (
        tarfile.open(path, "r:gz") as archive,
        tempfile.TemporaryDirectory(dir=database.parent, prefix=".switchboard-restore-") as work,
    ):
        unpacked = Path(work)
        # The data filter runs inside _private: no path outside `unpacked`, no links.
        archive.extractall(unpacked, members=_members(archive), filter=_private)  # noqa: S202
        backup = unpacked / DATABASE
        if database.exists() and not force and (why := refusal_to_replace(database, backup)):
            raise BackupRefused(f"{why} Add --force to restore anyway.")
        for folder in (MEDIA, KNOWLEDGE):  # a backup from before knowledge files has none
            (unpacked / folder).mkdir(exist_ok=True)
            (unpacked / folder).chmod(PRIVATE_FOLDER)  # made by the extraction, with the umask
        outcome = Outcome(
            path,
            len(list((unpacked / MEDIA).iterdir())),
            (unpacked / SECRET_KEY_FILE).exists(),
            newest_change(backup),
        )
        if database.exists():
            _close(database)
        moves = [(backup, database), (unpacked / MEDIA, instance / MEDIA),
                 (unpacked / KNOWLEDGE, instance / KNOWLEDGE)]  # fmt: skip
        if outcome.key_file:
            moves.append((unpacked / SECRET_KEY_FILE, _key_file()))
        kept = [aside for _, place in moves if (aside := _set_aside(place))]
        for source, place in moves:
            os.replace(source, place)
    return outcome, kept

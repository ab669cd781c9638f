"""The owner's files, kept in the instance folder's `knowledge/` (beside `media/`), readable by
Switchboard's own user only: the folder 0700, each file 0600, named by a random token so no
name the owner chose ever becomes part of a path."""

import os
import re
import secrets
from pathlib import Path

from flask import current_app

from ..instance_files import PRIVATE_FILE, PRIVATE_FOLDER

STORED_NAME = re.compile(r"[0-9a-f]{32}\.[a-z]{2,4}")
FOLDER = "knowledge"


def folder(instance_path: str | Path | None = None) -> Path:
    """The knowledge folder of this instance, created private on first use."""
    path = Path(instance_path or current_app.instance_path) / FOLDER
    path.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    return path


def save(data: bytes, fmt: str) -> str:
    """Keep `data` as a new private file; its stored name."""
    name = f"{secrets.token_hex(16)}.{fmt}"
    path = folder() / name
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    with os.fdopen(descriptor, "wb") as out:
        out.write(data)
    path.chmod(PRIVATE_FILE)  # whatever the umask left
    return name


def path_of(name: str | None) -> Path | None:
    """Where a stored file is, or None for a name that is not one of ours or a missing file."""
    if not name or not STORED_NAME.fullmatch(name):
        return None
    path = folder() / name
    return path if path.is_file() else None


def delete(name: str | None) -> None:
    if path := path_of(name):
        path.unlink(missing_ok=True)

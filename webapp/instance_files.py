"""The instance folder holds the database and the secret key: only Switchboard's user reads it."""

import os
import stat
from contextlib import suppress
from pathlib import Path

OTHERS = 0o077  # the group's and everyone else's permission bits
PRIVATE_FILE, PRIVATE_FOLDER = 0o600, 0o700
# What a fresh clone's instance folder holds: git keeps the empty folder with this empty file,
# and checks both out with the cloning user's umask, open to everyone.
SHIPPED = frozenset({".gitkeep"})


def make_private(folder: Path) -> None:
    """The folder, and every file this process creates from now on (the database, its WAL and
    SHM, lock files, the generated secret key), open to Switchboard's own user only. SQLite
    creates its files with the process's umask, so the umask is what keeps them private."""
    os.umask(os.umask(OTHERS) | OTHERS)
    folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    # A folder with nothing of Switchboard's in it yet is closed here. One that holds an
    # install keeps the mode its owner gave it (a backup user's group, say): `serve` says
    # what is open and how to close it, but never changes it behind their back.
    if all(entry.name in SHIPPED for entry in folder.iterdir()):
        with suppress(PermissionError):  # another user's folder: `serve` warns instead
            folder.chmod(PRIVATE_FOLDER)


def exposed(folder: Path) -> list[str]:
    """A warning for the folder and for each file in it that other users can open, with the
    command that fixes it (an install from before, or a copy made with another umask)."""
    warnings = []
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name not in SHIPPED)
    for path in [folder, *files]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & OTHERS:
            private = PRIVATE_FOLDER if path.is_dir() else PRIVATE_FILE
            warnings.append(
                f"{path} is open to other users of this machine (mode {mode:o}); "
                f"fix it with: chmod {private:o} {path}"
            )
    return warnings

"""The instance folder holds the database and the secret key: only Switchboard's user reads it."""

import os
import stat
from pathlib import Path

OTHERS = 0o077  # the group's and everyone else's permission bits


def make_private(folder: Path) -> None:
    """The folder, and every file this process creates from now on (the database, its WAL and
    SHM, lock files, the generated secret key), open to Switchboard's own user only. SQLite
    creates its files with the process's umask, so the umask is what keeps them private."""
    os.umask(os.umask(OTHERS) | OTHERS)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)


def exposed(folder: Path) -> list[str]:
    """A warning for the folder and for each file in it that other users can open, with the
    command that fixes it (an install from before, or a copy made with another umask)."""
    warnings = []
    for path in [folder, *sorted(p for p in folder.iterdir() if p.is_file())]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & OTHERS:
            private = 0o700 if path.is_dir() else 0o600
            warnings.append(
                f"{path} is open to other users of this machine (mode {mode:o}); "
                f"fix it with: chmod {private:o} {path}"
            )
    return warnings

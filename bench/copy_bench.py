"""`db copy` benchmark: a million log rows, with their messages, moved to another database.

Fills a throwaway instance as bench/logs_bench.py does (1,000,000 log rows, about 1.9 million
messages), migrates the target, then times `flask --app wsgi db copy --to URL` run as an owner
runs it, in a process of its own. Prints one JSON line; touches no network but the target's.

    .venv/bin/python bench/copy_bench.py [ROWS] [TARGET_URL]

TARGET_URL is an empty database (postgresql+psycopg://…); by default a new SQLite file.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from logs_bench import ROOT, ROWS, populate

FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else ROWS
    with tempfile.TemporaryDirectory() as folder:
        instance = Path(folder) / "instance"
        target = sys.argv[2] if len(sys.argv) > 2 else f"sqlite:///{Path(folder) / 'target.db'}"
        filled = populate(instance, rows)
        environment = {**os.environ, "INSTANCE_PATH": str(instance)}
        subprocess.run([*FLASK, "db", "upgrade"], cwd=ROOT, check=True, capture_output=True,
                       env={**environment, "DATABASE_URL": target})  # fmt: skip
        started = time.monotonic()
        copy = subprocess.run([*FLASK, "db", "copy", "--to", target], cwd=ROOT,
                              env=environment, capture_output=True, text=True)  # fmt: skip
        seconds = time.monotonic() - started
        if copy.returncode:
            sys.exit(copy.stderr)
        print(json.dumps({
            "run": "db copy",
            "target": target.split(":", 1)[0],
            "log_rows": filled["rows"],
            "messages": filled["messages"],
            "source_mb": filled["db_mb"],
            "seconds": round(seconds, 1),
        }))  # fmt: skip


if __name__ == "__main__":
    main()

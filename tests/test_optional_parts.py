"""`make test` on a machine without Chromium, a PostgreSQL server, Caddy or systemd-analyze: the
tests that need them are skipped, and the run ends saying how to include them; in CI, where the
REQUIRE_… variables are set, their absence fails the run instead."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NEEDING = [  # tests that need each part, in the order of the lines at the end
    "tests/test_browser.py",
    "tests/test_connections.py",
    "tests/test_deploy_files.py::test_caddy_reads_the_caddyfile",
    "tests/test_deploy_systemd.py",
]
SKIPPED_LINES = [
    "Browser tests skipped: Chromium is not installed. "
    "`sudo apt-get install chromium` (Debian) runs them too.",
    "PostgreSQL tests skipped: no PostgreSQL server was given. "
    'TEST_DATABASE_URL (docs/development.md, "The test suite on PostgreSQL") runs them too.',
    "Caddy tests skipped: caddy is not installed. "
    "`sudo apt-get install caddy` (Debian) runs them too.",
    "systemd tests skipped: systemd-analyze is not installed. "
    "`sudo apt-get install systemd` (Debian) runs them too.",
]


def run_suite(tmp_path, *tests: str, **environment: str) -> subprocess.CompletedProcess:
    """pytest as `make test` runs it, on a machine where none of the parts can be found."""
    empty = tmp_path / "bin"
    empty.mkdir(exist_ok=True)
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("REQUIRE_", "TEST_", "PYTEST_"))
    }
    env |= {"PATH": str(empty), "CHROMIUM_PATH": str(tmp_path / "no-chromium"), **environment}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )  # fmt: skip


def test_a_run_without_the_parts_passes_and_ends_saying_how_to_include_their_tests(tmp_path):
    result = run_suite(tmp_path, *NEEDING)
    assert result.returncode == 0, result.stdout
    *_, stats, first, second, third, fourth = result.stdout.splitlines()
    assert re.fullmatch(r"\d+ skipped in .+", stats), stats  # every one of them, nothing else
    assert [first, second, third, fourth] == SKIPPED_LINES


def test_a_run_that_requires_the_browser_fails_without_chromium(tmp_path):
    result = run_suite(tmp_path, "tests/test_browser.py", REQUIRE_BROWSER="1")
    assert result.returncode == 1
    assert "REQUIRE_BROWSER is set, but Chromium is not installed" in result.stdout
    assert "2 errors" in result.stdout.splitlines()[-1]


def test_a_run_that_requires_a_server_fails_without_one(tmp_path):
    result = run_suite(tmp_path, "tests/test_connections.py", REQUIRE_POSTGRESQL="1")
    assert result.returncode == 1
    assert "REQUIRE_POSTGRESQL is set, but no PostgreSQL server was given" in result.stdout


def test_beside_a_server_for_db_copy_the_sqlite_run_leaves_postgresql_only_tests_to_the_other(
    tmp_path,
):
    """CI's first run: SQLite, with TEST_POSTGRES_URL for `db copy` only; the PostgreSQL run
    after it runs these."""
    server = "postgresql+psycopg://postgres@127.0.0.1:9/postgres"
    result = run_suite(
        tmp_path, "tests/test_connections.py", REQUIRE_POSTGRESQL="1", TEST_POSTGRES_URL=server
    )
    assert result.returncode == 0, result.stdout
    assert "PostgreSQL only: SQLite has no server to close a connection" in result.stdout
    assert "PostgreSQL tests skipped" not in result.stdout

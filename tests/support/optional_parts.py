"""What some tests need beyond Python: Chromium, a PostgreSQL server, Caddy, systemd-analyze.

A test says which with `@pytest.mark.needs("browser")` (or a fixture calls `need`). Where the
part is missing, the test is skipped and the run ends with one line per part saying how to
include those tests, so `make test` passes on a fresh machine. Where it must not be missing (CI),
the part's REQUIRE_… variable turns that skip into a failure.
"""

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass

import pytest


def chromium_executable() -> str:
    """Debian's Chromium, or whichever Chromium CHROMIUM_PATH names."""
    return os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def postgresql_server() -> str | None:
    """The admin URL of a throwaway PostgreSQL server where tests may create databases."""
    return os.environ.get("TEST_POSTGRES_URL") or os.environ.get("TEST_DATABASE_URL") or None


@dataclass(frozen=True)
class Part:
    tests: str  # whose tests they are, as the line at the end begins
    missing: str
    remedy: str  # what runs those tests too
    required_by: str  # the variable that makes the part's absence a failure
    present: Callable[[], bool]

    def skipped_line(self) -> str:
        return f"{self.tests} skipped: {self.missing}. {self.remedy} runs them too."


PARTS = {
    "browser": Part(
        "Browser tests",
        "Chromium is not installed",
        "`sudo apt-get install chromium` (Debian)",
        "REQUIRE_BROWSER",
        lambda: os.path.exists(chromium_executable()),
    ),
    "postgresql": Part(
        "PostgreSQL tests",
        "no PostgreSQL server was given",
        'TEST_DATABASE_URL (docs/development.md, "The test suite on PostgreSQL")',
        "REQUIRE_POSTGRESQL",
        lambda: postgresql_server() is not None,
    ),
    "caddy": Part(
        "Caddy tests",
        "caddy is not installed",
        "`sudo apt-get install caddy` (Debian)",
        "REQUIRE_CADDY",
        lambda: shutil.which("caddy") is not None,
    ),
    "systemd": Part(
        "systemd tests",
        "systemd-analyze is not installed",
        "`sudo apt-get install systemd` (Debian)",
        "REQUIRE_SYSTEMD",
        lambda: shutil.which("systemd-analyze") is not None,
    ),
}
_skipped: set[str] = set()  # the parts whose tests this run skipped


def present(name: str) -> bool:
    return PARTS[name].present()


def need(name: str) -> None:
    """Skip the calling test or fixture when this machine lacks the part; fail it where the
    part is required."""
    part = PARTS[name]
    if part.present():
        return
    if os.environ.get(part.required_by, "0") != "0":
        required = f"{part.required_by} is set, but {part.missing}: {part.remedy} runs these tests."
        pytest.fail(required, pytrace=False)
    _skipped.add(name)
    pytest.skip(part.missing)


def pytest_configure(config):
    names = ", ".join(PARTS)
    config.addinivalue_line("markers", f"needs(part): skipped without the part ({names})")
    _skipped.clear()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    for marker in item.iter_markers("needs"):
        need(marker.args[0])


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session):
    """The lines come after pytest's own summary, so they are the last a newcomer reads."""
    result = yield
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for name in PARTS:
            if name in _skipped:
                reporter.write_line(PARTS[name].skipped_line())
    return result

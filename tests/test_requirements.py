"""Every dependency is pinned with the hashes of its files, and installs insist on them."""

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s\\]+)")


def pins(name: str) -> dict[str, tuple[str, set[str]]]:
    """package → (version, hashes), read as pip reads the file (continued lines joined)."""
    text = (ROOT / name).read_text().replace("\\\n", " ")
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = PIN.match(line)
        assert match, f"{name}: not pinned with ==: {line}"
        hashes = set(re.findall(r"--hash=sha256:([0-9a-f]{64})", line))
        assert hashes, f"{name}: {match[1]} has no hash"
        found[match[1].lower()] = (match[2], hashes)
    return found


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_every_requirement_is_pinned_with_its_hashes_and_names_no_index(name):
    assert pins(name)
    assert not re.search(r"--(extra-)?index-url|--find-links|://", (ROOT / name).read_text())


def test_the_test_environment_runs_the_apps_very_packages():
    dev = pins("requirements-dev.txt")
    for package, pinned in pins("requirements.txt").items():
        assert dev.get(package) == pinned, package


def test_installs_refuse_packages_whose_hashes_do_not_match():
    makefile = (ROOT / "Makefile").read_text()
    installs = [line for line in makefile.splitlines() if "pip install" in line and "-r " in line]
    assert len(installs) == 2
    assert all("--require-hashes" in line for line in installs)


def test_every_package_the_app_imports_is_one_make_run_installs():
    # `make run` installs requirements.txt only: a package pinned for the tests alone would
    # be missing there, and the server would not start.
    owners = packages_distributions()
    installed = {normalised(name) for name in pins("requirements.txt")}
    imported = set()
    for path in [ROOT / "wsgi.py", *(ROOT / "webapp").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    outside = imported - set(sys.stdlib_module_names) - {"webapp"}
    missing = {m for m in outside if not {normalised(d) for d in owners.get(m, [m])} & installed}
    assert outside and missing == set()


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()

"""What `make run` prints, its commands run as the Makefile runs them: fresh clone and after."""

import shlex
import signal
import socket
import subprocess
import sys

import pytest

from tests.conftest import wait_for
from tests.support import files
from tests.support.databases import environment_of
from tests.support.deployed import clean_environment
from tests.support.fakes import refused_port_url
from tests.support.files import mode
from tests.support.processes import ROOT, healthy

MIGRATIONS = len(list((ROOT / "migrations" / "versions").glob("[0-9]*.py")))
FLASK = [sys.executable, "-m", "flask", "--app", "wsgi"]


def run_recipe() -> list[str]:
    """The lines of the Makefile's `run` target, as written."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("run:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line[1:])
    return recipe


def as_command(line: str) -> list[str]:
    """A recipe line as this test runs it: this interpreter's flask for $(FLASK)."""
    words = shlex.split(line.lstrip("@").removeprefix("exec "))
    assert words[0] == "$(FLASK)", line
    return [*FLASK, *words[1:]]


def free_port() -> str:
    return refused_port_url().rsplit(":", 1)[1]


def run_until_ready(command: list[str], env: dict, port: str) -> str:
    """`serve` started as `make run` starts it, stopped with Ctrl-C once it answers: what it
    printed."""
    server = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        wait_for(lambda: healthy(f"http://127.0.0.1:{port}"), timeout=60)
    finally:
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    return output


@pytest.fixture
def fresh_clone(tmp_path):
    """A clone's instance folder as git checks it out: open to everyone, with its .gitkeep."""
    instance = tmp_path / "clone" / "instance"
    instance.mkdir(parents=True)
    (instance / ".gitkeep").touch()
    with files.ordinary_umask():
        yield instance


def test_make_run_echoes_none_of_its_own_commands():
    assert [line for line in run_recipe() if not line.startswith("@")] == []


@pytest.mark.sqlite_only("a fresh clone's database is the SQLite file in its instance folder")
def test_make_run_on_a_fresh_clone_says_one_line_about_the_database_and_warns_of_nothing(
    fresh_clone,
):
    port = free_port()
    env = clean_environment(INSTANCE_PATH=str(fresh_clone), PORT=port)
    *before, serve = [as_command(line) for line in run_recipe()]
    said = []
    for command in before:  # flask db upgrade, flask ensure-admin
        done = subprocess.run(
            command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
        )
        said.append(done.stdout + done.stderr)
    said.append(run_until_ready(serve, env, port))
    migrations, admin, serving = said
    assert migrations == f"Database ready: {MIGRATIONS} migrations applied.\n"
    assert admin.startswith("Created admin 'admin'. Password, shown only this once: ")
    assert f"open http://127.0.0.1:{port}/admin/" in serving
    lines = [line for output in said for line in output.splitlines()]
    assert not [line for line in lines if "warning" in line.lower() or "INFO" in line]
    assert mode(fresh_clone) == 0o700


@pytest.mark.sqlite_only("a fresh clone's database is the SQLite file in its instance folder")
def test_verbose_shows_each_migration(fresh_clone):
    env = clean_environment(INSTANCE_PATH=str(fresh_clone), VERBOSE="1")
    done = subprocess.run(
        [*FLASK, "db", "upgrade"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("Running upgrade") == MIGRATIONS
    assert done.stdout == f"Database ready: {MIGRATIONS} migrations applied.\n"


def test_the_next_make_run_says_the_database_is_up_to_date(app):
    env = clean_environment(**environment_of(app))
    upgrade = next(as_command(line) for line in run_recipe() if "db upgrade" in line)
    done = subprocess.run(upgrade, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert (done.returncode, done.stdout + done.stderr) == (0, "Database up to date.\n")


def test_a_port_in_use_is_one_line_naming_port_and_exit_status_1(app):
    serve = as_command(run_recipe()[-1])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_environment(**environment_of(app), PORT=str(port))
        done = subprocess.run(serve, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    output = (done.stdout + done.stderr).splitlines()
    assert done.returncode == 1
    assert len(output) == 1, output
    assert f"Port {port} is in use" in output[0] and f"PORT={port + 1} make run" in output[0]

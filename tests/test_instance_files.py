"""The instance folder and the database, secret key and lock files in it are Switchboard's
user's alone, and `serve` says how to fix a folder that is not."""

import os
import subprocess
import sys

import pytest
import requests

from tests.support import files
from tests.support.databases import environment_of
from tests.support.files import mode
from tests.support.processes import ROOT
from tests.support.served import serving


@pytest.fixture
def ordinary_umask():
    """The umask most shells start with, for the processes the test starts."""
    with files.ordinary_umask():
        yield


@pytest.mark.sqlite_only("the database's own files in the instance folder")
def test_a_new_instance_folder_and_every_file_in_it_are_private(tmp_path, ordinary_umask):
    instance = tmp_path / "instance"
    env = {**os.environ, "INSTANCE_PATH": str(instance)}
    upgrade = [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"]
    subprocess.run(upgrade, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    with serving(env) as url:
        requests.post(f"{url}/webhook/whatsapp", data=b"{}", timeout=10)  # a write: WAL, lock
        files = {path.name: mode(path) for path in instance.iterdir()}
    assert mode(instance) == 0o700
    assert {"switchboard.db", "secret_key", "switchboard.db-writer.lock"} <= set(files)
    assert {"switchboard.db-wal", "switchboard.db-shm"} <= set(files)
    assert set(files.values()) == {0o600}


@pytest.mark.sqlite_only("the database's own files in the instance folder")
def test_serve_warns_with_the_chmod_that_fixes_an_open_instance_folder(app, tmp_path):
    instance = app.instance_path
    os.chmod(instance, 0o755)  # noqa: S103 (the mistake the warning is for)
    os.chmod(f"{instance}/switchboard.db", 0o644)
    with open(tmp_path / "serve.log", "w") as log, serving(environment_of(app), stderr=log):
        pass
    output = (tmp_path / "serve.log").read_text()
    assert f"fix it with: chmod 700 {instance}\n" in output
    assert f"fix it with: chmod 600 {instance}/switchboard.db\n" in output
    assert "secret_key" not in output  # created private: nothing to fix


@pytest.mark.sqlite_only("the SQLite files of a fresh clone's instance folder")
def test_make_run_on_a_fresh_clone_closes_the_instance_folder_without_a_warning(
    tmp_path, ordinary_umask
):
    instance = tmp_path / "clone" / "instance"
    instance.mkdir(parents=True)  # as git checks it out: open to everyone, with its .gitkeep
    (instance / ".gitkeep").touch()
    assert mode(instance) == 0o755
    env = {**os.environ, "INSTANCE_PATH": str(instance)}
    said = []
    for command in (["db", "upgrade"], ["ensure-admin"]):  # what `make run` runs before serve
        done = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", *command],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        said.append(done.stdout + done.stderr)
    with open(tmp_path / "serve.log", "w") as log, serving(env, stderr=log):
        pass
    said.append((tmp_path / "serve.log").read_text())
    assert mode(instance) == 0o700
    assert "Created admin 'admin'" in said[1]
    assert not [line for output in said for line in output.splitlines() if "Warning" in line]
    assert {mode(path) for path in instance.iterdir() if path.name != ".gitkeep"} == {0o600}

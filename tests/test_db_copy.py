"""`db copy --to URL`: a populated install moved to another database, and the app on the copy.

The PostgreSQL target runs when TEST_POSTGRES_URL, else TEST_DATABASE_URL, names a throwaway
server where the test may create a database
(e.g. postgresql+psycopg://postgres@127.0.0.1:54329/postgres).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from flask_migrate import upgrade
from flask_migrate.cli import db as migrate_group
from sqlalchemy import func, select

from tests.conftest import Browser
from tests.support.databases import empty_postgresql_database
from tests.support.fake_postgres import PasswordCatcher
from tests.support.install import LOG_ROWS, PHOTO, SECRETS, populate
from tests.support.processes import ROOT
from webapp import create_app, prompts, settings, tokens
from webapp.data import db_copy
from webapp.extensions import db
from webapp.models import Message, RequestLog

KEY = SECRETS["openrouter_api_key"]


@pytest.fixture
def postgres_database():
    """A new database on the throwaway PostgreSQL server, dropped afterwards."""
    with empty_postgresql_database("switchboard_copy") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def target_url(request, tmp_path):
    if request.param == "postgresql":
        return request.getfixturevalue("postgres_database")
    return f"sqlite:///{tmp_path / 'target.db'}"


def app_on(app, url: str, monkeypatch, migrate: bool = True):
    """The app started on this machine's instance folder with DATABASE_URL=url."""
    monkeypatch.setenv("DATABASE_URL", url)
    on_target = create_app({"TESTING": True, "INSTANCE_PATH": Path(app.instance_path)})
    if migrate:
        with on_target.app_context():
            upgrade()
    return on_target


def copy(app, url: str, *options: str):
    return app.test_cli_runner().invoke(migrate_group, ["copy", "--to", url, *options])


def test_a_populated_install_runs_on_its_copy_with_the_same_secrets(app, target_url, monkeypatch):
    populate(app)
    target = app_on(app, target_url, monkeypatch)
    monkeypatch.setattr(db_copy, "BATCH", 5)  # several batches for the log's rows
    result = copy(app, target_url)
    assert result.exit_code == 0, result.output
    assert f"  {'request_log':<20} {LOG_ROWS:>10}\n" in result.output
    assert "Row counts match." in result.output
    assert "decrypt on the target with the current SECRET_KEY: 3 of 3." in result.output
    assert "The 1 media files and the secret key file" in result.output
    assert KEY not in result.output

    with target.app_context():
        assert {name: settings.get(name) for name in SECRETS} == SECRETS
        assert prompts.current_text() == "You sell bicycles in Utrecht."
        # New rows take ids after the copied ones (PostgreSQL's sequences were moved on).
        assert prompts.save_version("Spring sale!", "owner").id == 3
        tokens.create("another")
        photo = db.session.scalar(select(Message).where(Message.media_file.is_not(None)))
        reply = db.session.scalar(select(Message).where(Message.reply_to_id == photo.id))
        assert reply.text == "Yes, in red and in blue."
        db.session.remove()
        db.engine.dispose()
    listing = target.test_cli_runner().invoke(args=["tokens", "list"]).output
    assert "wa-expert" in listing and "another" in listing
    owner = Browser(target.test_client())
    assert owner.login().status_code == 302, "the copied admin could not sign in"
    thread = owner.get(f"/admin/conversations/{photo.contact_id}").get_data(as_text=True)
    assert "Is this one in stock?" in thread and "Yes, in red and in blue." in thread
    assert owner.client.get(f"/admin/media/{photo.id}").data == PHOTO


def test_a_target_with_rows_is_refused_and_left_as_it_was(app, tmp_path, monkeypatch):
    populate(app)
    url = f"sqlite:///{tmp_path / 'target.db'}"
    target = app_on(app, url, monkeypatch)
    assert copy(app, url).exit_code == 0
    with app.app_context():
        prompts.save_version("A prompt written after the copy.", "owner")
    again = copy(app, url)
    assert again.exit_code == 1
    assert "not empty (rows in contacts, flow_tokens, settings, users" in again.output
    with target.app_context():
        assert prompts.current_text() == "You sell bicycles in Utrecht."
        assert db.session.scalar(select(func.count()).select_from(RequestLog)) == LOG_ROWS


def test_a_target_without_the_migrations_is_refused_with_the_command_that_migrates_it(
    app, tmp_path
):
    url = f"sqlite:///{tmp_path / 'target.db'}"
    environment = {**os.environ, "INSTANCE_PATH": app.instance_path}
    typed = [sys.executable, "-m", "flask", "--app", "wsgi", "db", "copy", "--to", url]
    result = subprocess.run(typed, cwd=ROOT, env=environment, capture_output=True, text=True)
    assert result.returncode == 1
    assert (
        f"The target database has no tables. Run `DATABASE_URL={url} .venv/bin/flask --app wsgi db "
        "upgrade` first." in result.stderr
    )


@pytest.fixture
def password_catcher(monkeypatch, tmp_path):
    """A PostgreSQL server that writes down the password it is sent, on a machine where no
    password comes from the environment or a password file."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    catcher = PasswordCatcher()
    yield catcher
    catcher.close()


def test_db_copy_asks_for_a_password_the_url_leaves_out(app, password_catcher):
    result = copy_typing(app, password_catcher.url(), "typed-pw-8c1f\n")
    assert "Password of switchboard on 127.0.0.1: " in result.output
    assert password_catcher.passwords == ["typed-pw-8c1f"]
    assert "typed-pw-8c1f" not in result.output
    assert result.exit_code == 1  # the catcher refuses every password, in the owner's words
    assert "Could not connect to postgresql+psycopg://switchboard:***@127.0.0.1:" in result.output
    assert "password authentication failed" in result.output


def test_db_copy_takes_the_password_from_pgpassword_without_asking(
    app, password_catcher, monkeypatch
):
    monkeypatch.setenv("PGPASSWORD", "from-the-env-31d7")
    result = copy_typing(app, password_catcher.url(), "")
    assert "Password" not in result.output
    assert password_catcher.passwords == ["from-the-env-31d7"]
    assert "from-the-env-31d7" not in result.output


def test_db_copy_warns_about_a_password_given_in_the_url(app, password_catcher):
    result = copy_typing(app, password_catcher.url(password="in-the-url-66a0"), "")
    assert "typed on the command line" in result.stderr
    assert password_catcher.passwords == ["in-the-url-66a0"]
    assert "in-the-url-66a0" not in result.output


def copy_typing(app, url: str, typed: str):
    return app.test_cli_runner().invoke(migrate_group, ["copy", "--to", url], input=typed)

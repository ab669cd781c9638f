"""`backup` while messages flow, `restore` on a stopped install, and the dashboard's reminder."""

import io
import sqlite3
import tarfile
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from tests.conftest import QUICK, post_webhook, wait_for
from tests.support.files import mode, ordinary_umask
from tests.support.install import PHOTO, populate
from tests.support.payloads import text_delivery
from tests.support.records import add_contact, add_message
from webapp import create_app, settings
from webapp.data import backups
from webapp.extensions import db
from webapp.models import AppState, Message, utcnow
from webapp.worker.process import Worker

SQLITE_FILE = pytest.mark.sqlite_only("backup copies a SQLite file; PostgreSQL has pg_dump")
KEY = "sk-or-v1-test-key-0000000000000000000000000000"  # the `whatsapp` fixture's


def answered(app) -> int:
    with app.app_context():
        return db.session.scalar(
            select(func.count()).where(Message.direction == "in", Message.state == "answered")
        )


def restored_app(folder: Path, backup: Path):
    """`restore` run in a new instance folder, then the app started there afresh (it reads
    the restored secret key file when it starts)."""
    first = create_app({"TESTING": True, "INSTANCE_PATH": folder})
    result = first.test_cli_runner().invoke(args=["restore", str(backup)])
    assert result.exit_code == 0, result.output
    return create_app({"TESTING": True, "INSTANCE_PATH": folder, **QUICK})


@SQLITE_FILE
def test_a_backup_taken_while_messages_flow_restores_into_an_install_that_answers(
    whatsapp, client, worker, runner, fake_graph, fake_openrouter, tmp_path
):
    populate(whatsapp, secrets={})  # the fixture's secrets, pointing at the fakes
    fake_openrouter.echo()
    flowing, sent = threading.Event(), []

    def customers_writing():
        while not flowing.is_set():
            number = f"3161000{len(sent):04d}"
            sent.append(post_webhook(client, text_delivery(number, "Open today?")).status_code)

    writer = threading.Thread(target=customers_writing)
    writer.start()
    wait_for(lambda: answered(whatsapp) >= 5)
    result = runner.invoke(args=["backup", str(tmp_path / "shop.tar.gz")])
    flowing.set()
    writer.join()
    assert set(sent) == {200}
    assert result.exit_code == 0, result.output
    assert "the secret key file, 1 media files." in result.output
    wait_for(lambda: answered(whatsapp) == len(sent) + 1)  # and the photo, answered before

    folder = tmp_path / "restored"
    restored = restored_app(folder, tmp_path / "shop.tar.gz")
    with sqlite3.connect(folder / "switchboard.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("PRAGMA foreign_key_check").fetchall() == []
        kept = copy.execute("SELECT count(*) FROM messages WHERE direction = 'in'").fetchone()
    assert 5 < kept[0] <= len(sent) + 1  # the customers of the moment, and the photo
    assert [p.read_bytes() for p in (folder / "media").iterdir()] == [PHOTO]
    with restored.app_context():
        assert settings.get("openrouter_api_key") == KEY
    again = Worker(restored, threads=2, poll=0.01).start()
    try:
        post_webhook(restored.test_client(), text_delivery("31699999999", "Still there?"))
        wait_for(lambda: ("31699999999", "echo: Still there?") in
                 [(to, body) for to, body, _ in fake_graph.sent_texts()])  # fmt: skip
    finally:
        again.stop()


@SQLITE_FILE
def test_restore_refuses_while_a_worker_runs(app, worker, runner, tmp_path):
    def worker_seen():
        with app.app_context():
            return backups.worker_running()

    wait_for(worker_seen)
    assert runner.invoke(args=["backup", str(tmp_path / "b.tar.gz")]).exit_code == 0
    result = runner.invoke(args=["restore", str(tmp_path / "b.tar.gz")])
    assert result.exit_code == 1
    assert "stop the web server and the worker first" in result.output


@SQLITE_FILE
def test_restore_keeps_a_newer_database_unless_forced_and_then_sets_it_aside(app, runner, tmp_path):
    assert runner.invoke(args=["backup", str(tmp_path / "b.tar.gz")]).exit_code == 0
    with app.app_context():
        settings.save({"request_timeout": "77"}, author="owner")
    refused = runner.invoke(args=["restore", str(tmp_path / "b.tar.gz")])
    assert refused.exit_code == 1
    assert "after the backup's last change" in refused.output and "--force" in refused.output
    with app.app_context():
        assert settings.get("request_timeout") == 77

    forced = runner.invoke(args=["restore", "--force", str(tmp_path / "b.tar.gz")])
    assert forced.exit_code == 0, forced.output
    instance = Path(app.instance_path)
    assert "switchboard.db.before-restore" in forced.output
    with app.app_context():
        assert settings.get("request_timeout") == 30
    with sqlite3.connect(instance / "switchboard.db.before-restore") as before:
        saved = before.execute("SELECT value FROM settings WHERE name = 'request_timeout'")
        assert saved.fetchone() == ("77",)
    assert (instance / "secret_key.before-restore").read_text() == (
        instance / "secret_key"
    ).read_text()


@SQLITE_FILE
def test_restore_refuses_an_archive_that_is_not_a_backup(runner, app, tmp_path):
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("switchboard.db", "../outside"):
            info = tarfile.TarInfo(name)
            info.size = 4
            tar.addfile(info, io.BytesIO(b"data"))
    result = runner.invoke(args=["restore", str(archive)])
    assert result.exit_code == 1
    assert "Not a Switchboard backup: it holds '../outside'." in result.output
    assert not (tmp_path / "outside").exists()


def test_on_postgresql_backup_prints_the_pg_dump_command_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://shop:s3cret-pw@db.internal:5433/shop")
    app = create_app({"TESTING": True, "INSTANCE_PATH": tmp_path / "instance"})
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "b.tar.gz")])
    assert result.exit_code == 1
    assert (
        "pg_dump --format=custom --host db.internal --port 5433 --username shop --dbname shop"
        in result.output
    )
    assert "s3cret-pw" not in result.output and "Nothing was written." in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["instance"]


@SQLITE_FILE
def test_the_dashboard_asks_for_a_backup_until_one_is_recent(admin, app, runner, tmp_path):
    contact = add_contact(app, "31611111111", "Ana")
    add_message(app, contact, "customer", "hi", "answered", utcnow())
    page = admin.get("/admin/").get_data(as_text=True)
    assert 'id="backup-warning"' in page and "No backup has been made yet" in page
    assert ".venv/bin/flask --app wsgi backup ~/switchboard-backups/switchboard-$(date" in page

    assert runner.invoke(args=["backup", str(tmp_path / "b.tar.gz")]).exit_code == 0
    page = admin.get("/admin/").get_data(as_text=True)
    assert 'id="backup-warning"' not in page
    assert f", <code>{tmp_path / 'b.tar.gz'}</code>" in page

    with app.app_context():
        eight_days_ago = utcnow() - timedelta(days=8)
        db.session.execute(
            update(AppState)
            .where(AppState.name == backups.LAST_BACKUP)
            .values(updated_at=eight_days_ago)
        )
        db.session.commit()
    page = admin.get("/admin/").get_data(as_text=True)
    assert 'id="backup-warning"' in page
    assert f"The last backup was made {eight_days_ago:%Y-%m-%d %H:%M}, over 7 days ago." in page


@SQLITE_FILE
def test_restore_leaves_files_private_whatever_modes_the_archive_carries(app, runner, tmp_path):
    populate(app)
    assert runner.invoke(args=["backup", str(tmp_path / "b.tar.gz")]).exit_code == 0
    loose = tmp_path / "loose.tar.gz"  # as a backup made with another umask, or tampered with
    with tarfile.open(tmp_path / "b.tar.gz") as source, tarfile.open(loose, "w:gz") as target:
        for member in source.getmembers():
            member.mode = 0o666 if member.name == "switchboard.db" else 0o4777
            target.addfile(member, source.extractfile(member))
    folder = tmp_path / "restored"
    restoring = create_app({"TESTING": True, "INSTANCE_PATH": folder})
    with ordinary_umask():
        result = restoring.test_cli_runner().invoke(args=["restore", str(loose)])
    assert result.exit_code == 0, result.output
    media = folder / "media"
    restored = [folder / "switchboard.db", folder / "secret_key", *media.iterdir()]
    assert len(restored) == 3
    assert {path.name: mode(path) for path in restored} == {path.name: 0o600 for path in restored}
    assert mode(media) == 0o700

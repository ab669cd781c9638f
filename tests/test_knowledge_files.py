"""The owner's knowledge travels: its files are in the backup and come back with a restore,
and `db copy` moves sources and chunks with their full-text search working on the copy."""

from pathlib import Path

import pytest
from flask_migrate import upgrade
from flask_migrate.cli import db as migrate_group
from sqlalchemy import text

from tests.conftest import QUICK
from tests.support.databases import empty_postgresql_database
from tests.support.files import mode
from tests.support.payloads import pdf_bytes
from webapp import create_app
from webapp.extensions import db
from webapp.knowledge import files, indexing, sources
from webapp.models import KnowledgeChunk, KnowledgeSource

SQLITE_FILE = pytest.mark.sqlite_only("backup copies a SQLite file; PostgreSQL has pg_dump")
MENU = pdf_bytes(["Margherita 9.50"], ["We deliver on Sundays"])


def add_knowledge(app) -> None:
    with app.app_context():
        sources.add_file(MENU, "Menu.pdf", author="test")
        sources.add_text("Rules", "Returns within 30 days.", author="test")
        sources.add_faq("Do you have parking?", "Yes, behind the shop.", author="test")
        indexing.read_waiting()


def matching(connection, word: str) -> list[str]:
    """The labels of the chunks full-text search finds for `word` on this database."""
    if connection.dialect.name == "sqlite":
        query = (
            "SELECT c.label FROM knowledge_fts f JOIN knowledge_chunks c ON c.id = f.rowid "
            "WHERE knowledge_fts MATCH :word ORDER BY c.label"
        )
    else:
        query = (
            "SELECT label FROM knowledge_chunks WHERE search @@ plainto_tsquery('english', :word) "
            "ORDER BY label"
        )
    return list(connection.execute(text(query), {"word": word}).scalars())


@SQLITE_FILE
def test_a_backup_holds_the_knowledge_files_and_a_restore_brings_them_back(app, runner, tmp_path):
    add_knowledge(app)
    archive = tmp_path / "backup.tar.gz"
    assert runner.invoke(args=["backup", str(archive)]).exit_code == 0
    folder = tmp_path / "elsewhere"
    first = create_app({"TESTING": True, "INSTANCE_PATH": folder})
    result = first.test_cli_runner().invoke(args=["restore", str(archive)])
    assert result.exit_code == 0, result.output
    restored = create_app({"TESTING": True, "INSTANCE_PATH": folder, **QUICK})
    with restored.app_context():
        menu = sources.by_name("Menu.pdf")
        kept = files.path_of(menu.filename)
        assert kept.read_bytes() == MENU
        assert mode(kept) == 0o600 and mode(kept.parent) == 0o700
        with db.engine.connect() as connection:
            assert matching(connection, "sundays") == ["Menu.pdf, page 2"]
        # and it can be read again from the restored file
        sources.refresh(menu)
        assert indexing.read_now(menu.id) == "ready"
        db.engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def target_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'target.db'}"
        return
    with empty_postgresql_database("switchboard_knowledge") as url:
        yield url


@SQLITE_FILE
def test_db_copy_moves_sources_and_chunks_and_search_works_on_the_copy(
    app, target_url, monkeypatch
):
    add_knowledge(app)
    monkeypatch.setenv("DATABASE_URL", target_url)
    target = create_app({"TESTING": True, "INSTANCE_PATH": Path(app.instance_path)})
    with target.app_context():
        upgrade()
        db.engine.dispose()
    monkeypatch.delenv("DATABASE_URL")
    result = app.test_cli_runner().invoke(migrate_group, ["copy", "--to", target_url])
    assert result.exit_code == 0, result.output
    assert "the 1 knowledge files" in result.output
    with target.app_context():
        assert db.session.query(KnowledgeSource).count() == 3
        assert db.session.query(KnowledgeChunk).count() == 4
        with db.engine.connect() as connection:
            assert matching(connection, "sundays") == ["Menu.pdf, page 2"]
            assert matching(connection, "parking") == ["FAQ › Do you have parking?"]
        db.engine.dispose()

"""PostgreSQL connections kept in the pool: one the server closed while it waited there is
replaced before use, without an error; one used a moment ago is trusted, not tried."""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from webapp import extensions
from webapp.extensions import db

pytestmark = pytest.mark.postgresql_only("SQLite has no server to close a connection")


@pytest.fixture
def postgresql(app):
    with app.app_context():
        yield


def pooled_connection() -> int:
    """The server's process id of the connection the session used; it is back in the pool."""
    pid = db.session.scalar(text("SELECT pg_backend_pid()"))
    db.session.commit()
    return pid


def close_on_the_server(pid: int) -> None:
    """What a server restart or a firewall does, from a connection outside the pool."""
    other = create_engine(db.engine.url)
    with other.connect() as connection:
        assert connection.scalar(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    other.dispose()


def test_a_connection_closed_while_it_waited_in_the_pool_is_replaced(postgresql, monkeypatch):
    monkeypatch.setattr(extensions, "PING_AFTER", 0.0)  # every wait counts as a long one
    pid = pooled_connection()
    close_on_the_server(pid)
    assert db.session.scalar(text("SELECT pg_backend_pid()")) != pid  # no error: a new one


def test_a_connection_used_a_moment_ago_is_not_tried_and_one_failure_renews_the_pool(
    postgresql, monkeypatch
):
    monkeypatch.setattr(extensions, "PING_AFTER", 3600.0)
    pid = pooled_connection()
    close_on_the_server(pid)
    with pytest.raises(OperationalError):  # the statement that was running when it went
        db.session.scalar(text("SELECT 1"))
    db.session.rollback()
    assert db.session.scalar(text("SELECT pg_backend_pid()")) != pid

"""Webhooks refused while no app secret is saved: the dashboard learns of them, and a flood of
them does not become a flood of database writes."""

from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, update

from tests.conftest import post_webhook
from tests.support.payloads import fixture
from webapp import state
from webapp.extensions import db
from webapp.models import AppState, utcnow

WRITES = ("INSERT", "UPDATE", "DELETE")


@contextmanager
def writes_to(app):
    """The write statements the app sends its database meanwhile."""
    seen = []

    def remember(_conn, _cursor, statement, *_args):
        if statement.lstrip().upper().startswith(WRITES):
            seen.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", remember)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", remember)


def refuse(client) -> None:
    assert post_webhook(client, fixture("text.json"), signature="").status_code == 403


def test_unsigned_webhooks_without_an_app_secret_write_once_a_minute_not_each_time(client, app):
    refuse(client)
    with writes_to(app) as writes:
        for _ in range(20):
            refuse(client)
    assert writes == []
    with app.app_context():
        assert state.get("webhook_refused")["why"] == "no app secret is saved"


def test_a_refusal_a_minute_after_the_last_one_is_recorded_again(client, app):
    refuse(client)
    with app.app_context():
        minute_ago = utcnow() - timedelta(seconds=61)
        db.session.execute(
            update(AppState).where(AppState.name == "webhook_refused").values(updated_at=minute_ago)
        )
        db.session.commit()
    refuse(client)
    with app.app_context():
        assert db.session.get(AppState, "webhook_refused").updated_at > minute_ago

"""Two transactions at once on PostgreSQL: one about to commit, another waiting for its locks."""

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import event, text

from tests.conftest import wait_for
from webapp.extensions import db


def waiting_for_a_lock() -> bool:
    with db.engine.connect() as connection:
        return bool(
            connection.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        )


@dataclass
class Interleaved:
    outcome: list = field(default_factory=list)  # what the other transaction returned or raised
    waited: bool = False  # for the first one's locks, instead of finishing before its commit


@contextmanager
def interleaved(app, holding, action):
    """Run `action` on another connection (a thread) when a transaction of this thread is
    about to commit and `holding(session)` is true of what it wrote; that transaction commits
    once `action` has finished or waits for one of its locks."""
    run, main = Interleaved(), threading.get_ident()

    def act() -> None:
        with app.app_context():
            try:
                run.outcome.append(action())
            except Exception as exc:  # the test looks at it
                run.outcome.append(exc)

    other = threading.Thread(target=act)

    def before_commit(session) -> None:
        if threading.get_ident() != main or other.ident is not None or not holding(session):
            return
        other.start()
        wait_for(lambda: not other.is_alive() or waiting_for_a_lock(), timeout=10)
        run.waited = other.is_alive()

    event.listen(db.session, "before_commit", before_commit)
    try:
        yield run
    finally:
        event.remove(db.session, "before_commit", before_commit)
        if other.ident is not None:
            other.join(timeout=10)
    assert other.ident is not None, "the first transaction never wrote what was expected"

"""The claim loops' gate: an idle worker looks for work only when the database's write-ahead
log moved (a commit), on SQLite and on PostgreSQL alike."""

import socket

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from tests.conftest import post_webhook, wait_for
from tests.support.payloads import text_delivery
from webapp import state
from webapp.extensions import db
from webapp.worker import claim_loop


def test_the_gate_stays_shut_while_nothing_is_written_and_opens_on_a_commit(whatsapp, client):
    with whatsapp.app_context():
        gate = claim_loop.Changes(db.engine)
    assert gate.seen()  # the first look always queries
    wait_for(lambda: not gate.seen())  # the writes of the test's start have settled
    assert not gate.seen()
    post_webhook(client, text_delivery("16505551234", "hi"))
    assert gate.seen()
    assert not gate.seen()


def test_a_database_it_cannot_reach_opens_the_gate_every_time(app, tmp_path):
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "sqlite":
        url = url.set(database=str(tmp_path / "gone.db"))  # no WAL file to look at
    else:
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        url = url.set(host="127.0.0.1", port=port)  # nothing listens there
    gate = claim_loop.Changes(create_engine(url))
    assert gate.seen() and gate.seen() and gate.seen()  # "maybe" each time: the claim tells


@pytest.mark.postgresql_only("SQLite's WAL is the install's own: looking costs a stat")
def test_on_postgresql_a_log_that_moves_at_every_look_leaves_the_gate_open_a_while(whatsapp):
    with whatsapp.app_context():
        gate = claim_loop.Changes(db.engine)
        wait_for(lambda: not gate.seen())
        for n in range(claim_loop.MOVING):  # a server busy with other databases' writes
            state.put(f"test:busy:{n}", {})
            assert gate.seen()
        gate.close()  # the gate no longer looks: no connection is needed to say "maybe"
        assert gate.seen() and gate.connection is None

"""Scaling out, for real: two web processes and two worker processes on one database, one
worker SIGKILLed mid-run. Every customer's messages are answered once, in order, none lost.
And on PostgreSQL, two workers claiming the same customers' bursts at once never deadlock.

Runs on the database the suite runs on (SQLite, or PostgreSQL with TEST_DATABASE_URL), so
the claims, fences and unique indexes are tried by real processes racing on both.
"""

import random
import signal
import threading
import time
from collections import defaultdict
from contextlib import ExitStack

import pytest
import requests
from sqlalchemy import select, text

from tests.conftest import APP_SECRET, wait_for
from tests.support.databases import environment_of
from tests.support.payloads import text_delivery
from tests.support.processes import start_worker_process
from tests.support.served import serving
from webapp.clients.whatsapp_webhook import sign
from webapp.extensions import db
from webapp.models import Message, RequestLog

CUSTOMERS, EACH = 50, 10  # 500 messages
REDELIVERED = 0.10
LEASE_SECONDS = "3"  # the killed worker's turns are taken over after this
BURSTS, BURST = 5, 4  # 20 messages from each of the 50 customers: 1,000


def post(url: str, body: bytes) -> None:
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, body)}
    response = requests.post(f"{url}/webhook/whatsapp", data=body, headers=headers, timeout=20)
    assert response.status_code == 200


def customer_writes(urls: list[str], number: str, rng: random.Random) -> None:
    """One customer's messages, one after the other with pauses (as a person types, so some
    arrive while the last is being answered), each to either web process; one in ten
    delivered twice, as Meta does."""
    for n in range(EACH):
        time.sleep(rng.uniform(0.2, 0.8))
        body = text_delivery(number, f"question {n}", f"wamid.SCALE{number}x{n:02d}")
        post(rng.choice(urls), body)
        if rng.random() < REDELIVERED:
            post(rng.choice(urls), body)


def workers_seen(url: str) -> int:
    return requests.get(f"{url}/healthz", timeout=5).json().get("workers", 0)


def inbound(app) -> list[Message]:
    with app.app_context():
        rows = db.session.scalars(select(Message).where(Message.direction == "in")).all()
        db.session.expunge_all()
        return rows


def ended(app, count: int = CUSTOMERS * EACH) -> bool:
    rows = inbound(app)
    return len(rows) == count and all(m.state not in ("received", "processing") for m in rows)


def test_two_web_and_two_worker_processes_answer_each_turn_once_in_order_through_a_kill(
    whatsapp, fake_openrouter, fake_graph, tmp_path
):
    fake_openrouter.echo(delay=0.1, spread=0.05)
    env = {"WORKER_LEASE_SECONDS": LEASE_SECONDS}
    rng = random.Random(7)
    numbers = [f"4917000{n:05d}" for n in range(CUSTOMERS)]
    with ExitStack() as stack:
        urls = [stack.enter_context(serving(environment_of(whatsapp), **env)) for _ in range(2)]
        workers = [start_worker_process(whatsapp, **env) for _ in range(2)]
        stack.callback(lambda: [w.kill() or w.wait(10) for w in workers])
        wait_for(lambda: workers_seen(urls[0]) == 2, timeout=30)
        writers = [
            threading.Thread(target=customer_writes, args=(urls, n, random.Random(rng.random())))
            for n in numbers
        ]
        for writer in writers:
            writer.start()
        wait_for(lambda: len(fake_graph.sent_texts()) >= 50, timeout=60)
        workers[0].send_signal(signal.SIGKILL)  # mid-run: turns held, a send in flight maybe
        for writer in writers:
            writer.join(timeout=120)
        wait_for(lambda: ended(whatsapp), timeout=120)

    rows = inbound(whatsapp)
    assert len({m.wa_message_id for m in rows}) == CUSTOMERS * EACH  # none lost, none twice
    # Every message ended where the owner sees it: answered, or failed with its reason (a
    # send the kill cut off is never sent again: it is marked, not lost).
    assert all(m.state == "answered" or (m.state == "failed" and m.error_kind) for m in rows)
    by_id = {m.wa_message_id: m for m in rows}
    replies = defaultdict(list)  # customer → the message each reply quoted, in send order
    for to, _, quoted in fake_graph.sent_texts():
        replies[to].append(quoted)
    quoted = [q for qs in replies.values() for q in qs]
    assert len(quoted) == len(set(quoted))  # no turn answered twice
    for number, in_order in replies.items():
        positions = [by_id[q].id for q in in_order]
        assert positions == sorted(positions), f"{number} was answered out of order"
    # Each answered turn got one reply, quoting its last message; the run had many turns.
    answered_turns = {m.turn_id for m in rows if m.state == "answered"}
    assert answered_turns <= {by_id[q].turn_id for q in quoted}
    assert len(quoted) > 2 * CUSTOMERS, len(quoted)


def customer_bursts(url: str, number: str, rng: random.Random) -> None:
    """One customer's messages in bursts: a few sent one right after the other, then a pause,
    so claims often find several messages of one customer waiting."""
    for burst in range(BURSTS):
        time.sleep(rng.uniform(0.1, 0.6))
        for n in range(BURST):
            body = text_delivery(number, f"burst {burst} part {n}", f"wamid.B{number}x{burst}x{n}")
            post(url, body)


OTHER_SESSIONS = text(
    "SELECT count(*) FROM pg_stat_activity"
    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
)
DEADLOCKS = text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")


def deadlocks_counted(app) -> int:
    """PostgreSQL's own count of deadlocks it broke in this database, once every other
    session on it has ended (a session's counts reach the statistics when it ends)."""
    with app.app_context():
        db.engine.dispose()

        def alone() -> bool:
            sessions = db.session.scalar(OTHER_SESSIONS)
            db.session.commit()  # the next look reads the sessions anew
            return sessions == 0

        wait_for(alone, timeout=30)
        return db.session.scalar(DEADLOCKS)


@pytest.mark.postgresql_only("SQLite writes one transaction at a time: two claims never overlap")
def test_two_workers_claiming_one_customers_messages_at_once_never_deadlock(
    whatsapp, fake_openrouter, fake_graph, tmp_path
):
    """Merge window 0: a claim takes the customer's waiting messages in its own transaction.
    Two workers claiming at the same moment find the same customers' bursts waiting."""
    fake_openrouter.echo(delay=0.05, spread=0.05)
    rng = random.Random(11)
    numbers = [f"4917100{n:05d}" for n in range(CUSTOMERS)]
    outputs = [tmp_path / f"worker{n}.log" for n in range(2)]
    with ExitStack() as stack:
        url = stack.enter_context(serving(environment_of(whatsapp)))
        workers = [start_worker_process(whatsapp, output) for output in outputs]
        stack.callback(lambda: [w.terminate() or w.wait(30) for w in workers])
        wait_for(lambda: workers_seen(url) == 2, timeout=30)
        writers = [
            threading.Thread(target=customer_bursts, args=(url, n, random.Random(rng.random())))
            for n in numbers
        ]
        for writer in writers:
            writer.start()
        for writer in writers:
            writer.join(timeout=120)
        wait_for(lambda: ended(whatsapp, CUSTOMERS * BURSTS * BURST), timeout=120)

    for output in outputs:
        said = output.read_text()
        assert "deadlock" not in said.lower(), said
    assert deadlocks_counted(whatsapp) == 0
    rows = inbound(whatsapp)
    assert len({m.wa_message_id for m in rows}) == CUSTOMERS * BURSTS * BURST  # none lost
    assert {m.state for m in rows} == {"answered"}  # none failed inside Switchboard
    with whatsapp.app_context():  # no run failed inside Switchboard and was tried again
        assert not db.session.scalars(
            select(RequestLog.error_kind).where(RequestLog.status == "error")
        ).all()
    by_turn = defaultdict(list)
    for m in sorted(rows, key=lambda m: m.id):
        by_turn[m.turn_id].append(m)
    sent = fake_graph.sent_texts()
    quoted = [q for _, _, q in sent]
    assert len(quoted) == len(set(quoted)) == len(by_turn)  # each turn answered once
    by_id = {m.wa_message_id: m for m in rows}
    answered = defaultdict(list)  # customer → their messages, in the order the replies answered
    for to, body, q in sent:
        messages = by_turn[by_id[q].turn_id]
        assert body == "echo: " + "\n\n".join(m.text for m in messages)
        answered[to] += [m.id for m in messages]
    assert all(ids == sorted(ids) for ids in answered.values())  # each customer's in order
    assert sum(len(ids) for ids in answered.values()) == CUSTOMERS * BURSTS * BURST

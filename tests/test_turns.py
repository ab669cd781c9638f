"""Turns: one customer's messages answered one turn at a time, bursts once, leases fenced."""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH, completion
from tests.support.payloads import text_delivery
from tests.support.replies import CUSTOMER, finished, log_rows, states
from webapp import settings
from webapp.extensions import db
from webapp.models import Contact, Message, Turn, utcnow
from webapp.replies import leases, turns
from webapp.worker.process import Worker

OTHER = "4915112345678"


def chats(fake_openrouter) -> list[list[dict]]:
    return [r.json()["messages"] for r in fake_openrouter.requests if r.path == CHAT_PATH]


def set_merge_window(app, seconds: int) -> None:
    with app.app_context():
        settings.save({"merge_window_seconds": str(seconds)}, author="test")


def test_a_burst_of_three_is_one_model_call_and_one_reply_quoting_the_last(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    set_merge_window(whatsapp, 1)
    burst = ["hi", "I ordered yesterday", "where is it?"]
    for number, text in enumerate(burst):
        post_webhook(client, text_delivery(CUSTOMER, text, f"wamid.BURST{number}"))
    wait_for(lambda: finished(whatsapp, 3))
    [asked] = chats(fake_openrouter)
    assert asked[-1] == {"role": "user", "content": "hi\n\nI ordered yesterday\n\nwhere is it?"}
    assert fake_graph.sent_texts() == [
        (CUSTOMER, "echo: hi\n\nI ordered yesterday\n\nwhere is it?", "wamid.BURST2")
    ]
    assert states(whatsapp) == ["answered"] * 3


def test_the_merge_window_waits_for_quiet_not_for_a_fixed_time(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    set_merge_window(whatsapp, 1)
    post_webhook(client, text_delivery(CUSTOMER, "one"))
    for text in ("two", "three"):  # each within the window of the one before
        threading.Event().wait(0.6)
        post_webhook(client, text_delivery(CUSTOMER, text))
    wait_for(lambda: finished(whatsapp, 3))
    assert [m[-1]["content"] for m in chats(fake_openrouter)] == ["one\n\ntwo\n\nthree"]


def test_a_slow_answer_then_a_new_message_are_answered_in_order_with_the_first_answer_in_context(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.queue(body=completion("Your order ships today."), path=CHAT_PATH, delay=1.0)
    fake_openrouter.echo()
    post_webhook(client, text_delivery(CUSTOMER, "Where is my order?"))
    wait_for(lambda: chats(fake_openrouter))  # the first answer is being written
    post_webhook(client, text_delivery(CUSTOMER, "And the invoice?"))
    wait_for(lambda: finished(whatsapp, 2))
    assert [body for _, body, _ in fake_graph.sent_texts()] == [
        "Your order ships today.",
        "echo: And the invoice?",
    ]
    second = chats(fake_openrouter)[1]
    assert second[1:] == [
        {"role": "user", "content": "Where is my order?"},
        {"role": "assistant", "content": "Your order ships today."},
        {"role": "user", "content": "And the invoice?"},
    ]


def test_different_customers_are_answered_in_parallel(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    released = threading.Event()  # the model answers nobody until all six are asking
    for _ in range(6):
        fake_openrouter.queue(body=completion("hello to you"), path=CHAT_PATH, until=released)
    for number in range(6):
        post_webhook(client, text_delivery(f"3161234567{number}", "hello"))
    try:  # one customer after another, the second question would wait for the first answer
        wait_for(lambda: sum(r.path == CHAT_PATH for r in fake_openrouter.requests) == 6)
    finally:
        released.set()
    wait_for(lambda: finished(whatsapp, 6))


def race(app, racers: int, claim) -> list:
    """Run `claim(name)` in `racers` threads released at the same instant; all they got."""
    got, barrier = [], threading.Barrier(racers)

    def racer(name: str) -> None:
        with app.app_context():
            barrier.wait()
            got.extend(claim(name))

    threads = [threading.Thread(target=racer, args=(f"w{n}",)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return got


def test_workers_racing_to_claim_open_each_customers_turn_once(whatsapp, client):
    for number in range(30):
        post_webhook(client, text_delivery(f"3161000{number:04d}", "hi"))

    def claim_until_none_is_left(name: str) -> list:
        claimed = []
        for _ in range(30):  # until everything is claimed, by one racer or another
            claimed += leases.claim(name, 4, timedelta(seconds=30))
        return claimed

    contacts = [lease.contact_id for lease in race(whatsapp, 6, claim_until_none_is_left)]
    assert len(contacts) == 30 and len(set(contacts)) == 30


@pytest.mark.postgresql_only("SQLite writes one transaction at a time: the second claim waits")
def test_a_claim_in_progress_does_not_hold_up_another_workers_claim(whatsapp, client):
    """PostgreSQL lets workers write at once: while one worker's claim is still open, another
    takes the next customers at once, instead of waiting to find the first ones taken."""
    for number in range(8):
        post_webhook(client, text_delivery(f"3161100{number:04d}", "hi"))
    opened, done = threading.Event(), threading.Event()
    first = []

    def claim_and_hold() -> None:
        with whatsapp.app_context():
            first.extend(leases.claim("first", 4, timedelta(seconds=30), commit=False))
            opened.set()
            done.wait(10)  # the claim stays open until the other one is done
            db.session.commit()

    holder = threading.Thread(target=claim_and_hold)
    holder.start()
    try:
        assert opened.wait(10)
        with whatsapp.app_context():
            started = time.monotonic()
            second = leases.claim("second", 4, timedelta(seconds=30))
            waited = time.monotonic() - started
    finally:
        done.set()
        holder.join()
    assert waited < 2  # not the 10 s the first claim stays open
    assert len(first) == len(second) == 4
    assert not {lease.contact_id for lease in first} & {lease.contact_id for lease in second}


@pytest.mark.postgresql_only("SQLite writes one transaction at a time: the second claim waits")
def test_a_claim_passes_over_a_customer_whose_messages_another_claim_is_taking(whatsapp, client):
    """Merge window 0: a claim takes the customer's messages in its own transaction. Another
    worker's claim meanwhile takes the next customer at once: had it waited for the first
    claim's turn while holding the customer's second message, the two would deadlock."""
    post_webhook(client, text_delivery(CUSTOMER, "one"))
    post_webhook(client, text_delivery(CUSTOMER, "two"))
    post_webhook(client, text_delivery(OTHER, "hi"))
    claimed, second_done = threading.Event(), threading.Event()
    first, second, failures = [], [], []

    def claim_then_take() -> None:
        with whatsapp.app_context():
            try:
                [lease] = leases.claim("first", 1, timedelta(seconds=30), commit=False)
                claimed.set()
                second_done.wait(3)  # the other claim either came back or is stuck waiting
                first.append(turns.take_claimed(lease))
                db.session.commit()
            except Exception as exc:
                failures.append(exc)
                claimed.set()

    def claim_next() -> None:
        with whatsapp.app_context():
            try:
                second.extend(leases.claim("second", 1, timedelta(seconds=30)))
            except Exception as exc:
                failures.append(exc)
            second_done.set()

    taker = threading.Thread(target=claim_then_take)
    taker.start()
    assert claimed.wait(10)
    started = time.monotonic()
    other = threading.Thread(target=claim_next)
    other.start()
    other.join(15)
    waited = time.monotonic() - started
    taker.join(15)
    assert not failures
    assert waited < 2
    [batch] = first
    assert [m.text for m in batch.messages] == ["one", "two"]
    with whatsapp.app_context():
        [lease] = second
        assert db.session.get(Contact, lease.contact_id).customer_id == OTHER


def test_workers_racing_for_one_expired_lease_give_it_to_exactly_one(whatsapp, client):
    post_webhook(client, text_delivery(CUSTOMER, "hi"))
    with whatsapp.app_context():
        [stale] = leases.claim("crashed", 1, timedelta(seconds=30))
        db.session.execute(update(Turn).values(lease_until=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    won = race(whatsapp, 8, lambda name: leases.claim(name, 1, timedelta(seconds=30)))
    assert [(lease.turn_id, lease.runs) for lease in won] == [(stale.turn_id, 2)]
    with whatsapp.app_context():
        try:
            turns.finish(stale, "answered")
        except leases.LeaseLost:
            pass
        else:
            raise AssertionError("the run that lost its lease could still finish the turn")
        assert db.session.scalar(select(Turn.state)) == "open"


def test_two_workers_answer_many_customers_each_turn_once(
    client, whatsapp, fake_openrouter, fake_graph
):
    fake_openrouter.echo(delay=0.2)
    first = Worker(whatsapp, threads=4, poll=0.005, holder="test:first").start()
    second = Worker(whatsapp, threads=4, poll=0.005, holder="test:second").start()
    try:
        numbers = [f"3162000{n:04d}" for n in range(12)]
        for round_ in range(3):
            for number in numbers:
                post_webhook(client, text_delivery(number, f"question {round_}"))
        wait_for(lambda: finished(whatsapp, 36), timeout=60)
    finally:
        first.stop()
        second.stop()
    with whatsapp.app_context():
        holders = set(db.session.scalars(select(Turn.holder)))
        turns_per_customer = dict(
            db.session.execute(
                select(Contact.customer_id, func.count())
                .join(Turn, Turn.contact_id == Contact.id)
                .group_by(Contact.customer_id)
            ).all()
        )
        replies = db.session.scalars(
            select(Message.turn_id).where(Message.direction == "out")
        ).all()
    assert holders == {"test:first", "test:second"}  # both took turns
    assert len(replies) == len(set(replies))  # one reply a turn
    sent = Counter(to for to, _, _ in fake_graph.sent_texts())
    assert sent == turns_per_customer
    assert set(states(whatsapp)) == {"answered"}


def test_a_run_without_time_left_sends_the_fallback_within_the_deadline(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    with whatsapp.app_context():
        settings.save({"answer_within_seconds": "10", "request_timeout": "4"}, author="test")
    set_merge_window(whatsapp, 2)
    fake_openrouter.echo(delay=30)  # every model hangs
    started = utcnow()
    post_webhook(client, text_delivery(CUSTOMER, "hello?"))
    wait_for(lambda: fake_graph.sent_texts(), timeout=20)
    took = utcnow() - started
    # One deadline from the turn's start: the wait for a burst (2 s), the models and the send
    # all fit in 'Answer within'.
    assert timedelta(seconds=5) < took < timedelta(seconds=10.5)
    wait_for(lambda: finished(whatsapp))
    [(_, body, _)] = fake_graph.sent_texts()
    assert body.startswith("Sorry, we can't answer right now")
    kinds = [row.error_kind for row in log_rows(whatsapp) if row.upstream == "openrouter"]
    assert kinds and set(kinds) == {"timeout"}
    assert len(kinds) <= 3  # attempts that could not finish in time were not started


def test_typing_shows_while_a_burst_is_awaited_and_again_on_the_latest_message(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    set_merge_window(whatsapp, 1)
    with whatsapp.app_context():
        settings.save({"mark_read": "on"}, author="test")
    post_webhook(client, text_delivery(CUSTOMER, "hi", "wamid.TYPE1"))
    wait_for(lambda: [r for r in fake_graph.requests if r.json().get("status") == "read"], 2)
    assert chats(fake_openrouter) == []  # still waiting for the burst to end
    post_webhook(client, text_delivery(CUSTOMER, "where is my order?", "wamid.TYPE2"))
    wait_for(lambda: finished(whatsapp, 2))
    read = [r.json() for r in fake_graph.requests if r.json().get("status") == "read"]
    assert [r["message_id"] for r in read] == ["wamid.TYPE1", "wamid.TYPE2"]
    assert all(r["typing_indicator"] == {"type": "text"} for r in read)
    assert len(chats(fake_openrouter)) == 1


def test_a_customer_who_keeps_writing_is_answered_in_turns_none_taken_over(
    client, whatsapp, fake_openrouter, fake_graph
):
    """Messages every 0.4 s for longer than the heartbeat renews a lease of a turn waiting for
    quiet (ten leases): each turn stops waiting after a quarter of its deadline and answers
    what came, instead of outliving its lease and being taken over as if its worker died."""
    app = whatsapp
    app.config["LEASE_SECONDS"] = 1
    with app.app_context():
        settings.save({"answer_within_seconds": "10", "merge_window_seconds": "1"}, author="t")
    fake_openrouter.echo()
    running = Worker(app, threads=4, poll=0.01).start()
    try:
        for n in range(35):
            post_webhook(client, text_delivery(CUSTOMER, f"line {n}", f"wamid.KEEP{n}"))
            time.sleep(0.4)
        wait_for(lambda: finished(app, 35), timeout=30)
    finally:
        running.stop()
    assert set(states(app)) == {"answered"}
    with app.app_context():
        runs = db.session.scalars(select(Turn.runs)).all()
    assert len(runs) > 2 and set(runs) == {1}  # several turns, none run twice
    said = "\n\n".join(body.removeprefix("echo: ") for _, body, _ in fake_graph.sent_texts())
    assert said.split("\n\n") == [f"line {n}" for n in range(35)]  # every line once, in order

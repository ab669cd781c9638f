"""Nothing lost, nothing sent twice: crashes, stalls, restarts, unknown sends, early statuses."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import select, text, update

from tests.conftest import APP_SECRET, CSRF_FIELD, post_webhook, wait_for
from tests.support.databases import ON_POSTGRESQL, environment_of
from tests.support.fake_graph import MESSAGES_PATH, fixture_bytes
from tests.support.fakes import CHAT_PATH, completion, refused_port_url
from tests.support.payloads import delivery, fixture, status, text_delivery
from tests.support.processes import (
    ROOT,
    healthy,
    skewed_clock,
    start_worker_process,
    worker_started,
)
from tests.support.replies import CUSTOMER, finished, log_rows, states
from tests.support.served import SERVE, Visitor
from webapp import settings, sqlite_writes
from webapp.clients.retry import Deadline
from webapp.clients.whatsapp_webhook import sign
from webapp.extensions import db
from webapp.models import Contact, Message, PendingStatus, Turn, utcnow
from webapp.replies import delivery as outbound
from webapp.replies import leases, turns
from webapp.requestlog import Origin
from webapp.snapshot import Snapshot
from webapp.worker.process import Worker


def graph_posts(fake_graph) -> list:
    """Every text send that reached the fake Graph API, whatever it answered."""
    return [
        r for r in fake_graph.requests if MESSAGES_PATH.fullmatch(r.path) and "text" in r.json()
    ]


def turn_of(app) -> Turn:
    with app.app_context():
        turn = db.session.scalar(select(Turn))
        db.session.expunge_all()
        return turn


def test_a_worker_killed_mid_answer_is_answered_once_after_a_restart(
    client, whatsapp, fake_openrouter, fake_graph
):
    fake_openrouter.echo(delay=2.0)
    process = start_worker_process(whatsapp)
    try:
        post_webhook(client, fixture("text.json"))
        wait_for(lambda: [r for r in fake_openrouter.requests if r.path == CHAT_PATH], 20)
    finally:
        process.send_signal(signal.SIGKILL)  # a crash: no chance to clean up
        process.wait(timeout=10)
    assert states(whatsapp) == ["processing"] and fake_graph.sent_texts() == []

    fake_openrouter.echo(delay=0)
    worker = Worker(whatsapp, threads=2, poll=0.01).start()  # the same host: it takes over
    try:
        wait_for(lambda: finished(whatsapp), timeout=10)
        time.sleep(0.3)  # room for a duplicate, if there were one
    finally:
        worker.stop()
    assert states(whatsapp) == ["answered"]
    assert len(fake_graph.sent_texts()) == 1
    assert turn_of(whatsapp).runs == 2


def stop_between_writes(app, process) -> None:
    """SIGSTOP a worker process while it is not writing: stopped in the middle of a write, it
    would hold up every writer until it runs again, as SQLite's own lock would."""
    if ON_POSTGRESQL:
        stop_outside_transactions(app, process)
        return
    with app.app_context():
        turn = sqlite_writes.turn_for(db.engine.url.database)
    turn.take()
    try:
        process.send_signal(signal.SIGSTOP)
        # The signal lands a moment later: give the turn back only once the process is
        # stopped, or it could take the turn in that moment and keep it while stopped.
        wait_for(lambda: stopped(process), timeout=10)
    finally:
        turn.give()


def stop_outside_transactions(app, process) -> None:
    """On PostgreSQL, stopped mid-transaction it would keep its row locks: stop it, and
    if another connection to the database is inside a transaction, let it go on a moment
    and stop it again."""
    busy = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
    )
    while True:
        process.send_signal(signal.SIGSTOP)
        wait_for(lambda: stopped(process), timeout=10)
        with app.app_context():
            in_transaction = db.session.scalar(busy)
            db.session.rollback()
        if not in_transaction:
            return
        process.send_signal(signal.SIGCONT)
        time.sleep(0.005)


def stopped(process) -> bool:
    return Path(f"/proc/{process.pid}/stat").read_text().split(")")[1].split()[0] in ("T", "t")


def test_a_stalled_worker_whose_lease_ran_out_never_sends(
    client, whatsapp, fake_openrouter, fake_graph, tmp_path
):
    fake_openrouter.queue(body=completion("late answer"), path=CHAT_PATH, delay=3.0)
    fake_openrouter.echo()
    log_path = tmp_path / "stalled.log"
    stalled = start_worker_process(whatsapp, log_path, WORKER_LEASE_SECONDS="1")
    try:
        post_webhook(client, text_delivery(CUSTOMER, "anyone there?"))
        wait_for(lambda: [r for r in fake_openrouter.requests if r.path == CHAT_PATH], 20)
        stop_between_writes(whatsapp, stalled)  # stuck: no heartbeat renews its lease
        time.sleep(2.5)
        other = Worker(whatsapp, threads=2, poll=0.01, holder="test:other").start()
        try:
            wait_for(lambda: finished(whatsapp))
            stalled.send_signal(signal.SIGCONT)  # its model call returns now
            wait_for(lambda: b"taken over" in log_path.read_bytes(), timeout=30)
        finally:
            other.stop()
    finally:
        stalled.kill()
        stalled.wait(timeout=10)
    assert [body for _, body, _ in fake_graph.sent_texts()] == ["echo: anyone there?"]
    assert states(whatsapp) == ["answered"]
    assert turn_of(whatsapp).runs == 2


HOUR = 3600.0


def chats(fake_openrouter) -> list:
    return [r for r in fake_openrouter.requests if r.path == CHAT_PATH]


def test_a_worker_whose_clock_runs_an_hour_ahead_leaves_a_live_turn_to_its_worker(
    client, whatsapp, fake_openrouter, fake_graph, tmp_path
):
    answer = threading.Event()
    fake_openrouter.queue(body=completion("It ships today."), path=CHAT_PATH, until=answer)
    fake_openrouter.echo()  # a second run, if one took the turn over, is answered at once
    holder = Worker(whatsapp, threads=2, poll=0.01, holder="test:holder").start()
    try:
        post_webhook(client, text_delivery(CUSTOMER, "Where is my order?"))
        wait_for(lambda: chats(fake_openrouter))  # the turn is held, its lease renewed
        ahead = start_worker_process(whatsapp, tmp_path / "ahead.log", **skewed_clock(HOUR))
        try:
            wait_for(lambda: worker_started(whatsapp, ahead), timeout=30)
            time.sleep(2.5)  # it looks for turns whose lease ran out every second
            assert len(chats(fake_openrouter)) == 1 and turn_of(whatsapp).runs == 1
            answer.set()
            wait_for(lambda: finished(whatsapp))
        finally:
            ahead.terminate()
            ahead.wait(timeout=30)
    finally:
        answer.set()
        holder.stop()
    assert [body for _, body, _ in fake_graph.sent_texts()] == ["It ships today."]
    assert states(whatsapp) == ["answered"]
    assert (turn_of(whatsapp).holder, turn_of(whatsapp).runs) == ("test:holder", 1)


def test_a_dead_workers_turn_is_taken_over_on_time_whichever_way_the_clocks_are_wrong(
    client, whatsapp, fake_openrouter, fake_graph, tmp_path
):
    """The worker that dies runs an hour ahead, the one left an hour behind: two hours
    apart, they still hand the turn over when its lease runs out."""
    fake_openrouter.queue(body=completion("never sent"), path=CHAT_PATH, until=threading.Event())
    fake_openrouter.echo()
    lease = {"WORKER_LEASE_SECONDS": "2"}
    ahead = start_worker_process(whatsapp, tmp_path / "ahead.log", **lease, **skewed_clock(HOUR))
    behind = None
    try:
        post_webhook(client, text_delivery(CUSTOMER, "anyone there?"))
        wait_for(lambda: chats(fake_openrouter), timeout=30)  # the one ahead holds the turn
        behind = start_worker_process(
            whatsapp, tmp_path / "behind.log", **lease, **skewed_clock(-HOUR)
        )
        wait_for(lambda: worker_started(whatsapp, behind), timeout=30)
        ahead.send_signal(signal.SIGKILL)
        ahead.wait(timeout=10)
        wait_for(lambda: finished(whatsapp), timeout=20)
    finally:
        ahead.kill()
        ahead.wait(timeout=10)
        if behind is not None:
            behind.terminate()
            behind.wait(timeout=30)
    assert [body for _, body, _ in fake_graph.sent_texts()] == ["echo: anyone there?"]
    turn = turn_of(whatsapp)
    assert (turn.holder, turn.runs) == (f"{socket.gethostname()}:{behind.pid}", 2)


def test_a_turn_given_back_by_a_worker_whose_clock_runs_ahead_is_taken_up_on_time(
    client, whatsapp, fake_openrouter, fake_graph, tmp_path
):
    """A run that failed inside Switchboard gives its turn back, to be taken up again a few
    seconds later by whichever worker is there, not an hour later."""
    from cryptography.fernet import Fernet

    from webapp.models import Setting

    fake_openrouter.echo()
    with whatsapp.app_context():  # as if saved under a SECRET_KEY since lost
        readable = settings.get("openrouter_api_key")
        row = db.session.get(Setting, "openrouter_api_key")
        row.value = Fernet(Fernet.generate_key()).encrypt(b"sk-or-v1-lost").decode()
        db.session.commit()
    ahead = start_worker_process(whatsapp, tmp_path / "ahead.log", **skewed_clock(HOUR))
    try:
        post_webhook(client, text_delivery(CUSTOMER, "hello?"))
        wait_for(lambda: [r for r in log_rows(whatsapp) if r.status == "error"], timeout=30)
    finally:
        ahead.terminate()  # it ends the run first: the turn is given back
        ahead.wait(timeout=30)
    with whatsapp.app_context():  # the owner puts the key in again
        settings.save({"openrouter_api_key": readable}, author="test")
    worker = Worker(whatsapp, threads=2, poll=0.01, holder="test:next").start()
    try:
        wait_for(lambda: finished(whatsapp), timeout=20)
    finally:
        worker.stop()
    assert [body for _, body, _ in fake_graph.sent_texts()] == ["echo: hello?"]
    assert (turn_of(whatsapp).holder, turn_of(whatsapp).runs) == ("test:next", 2)


def test_a_crash_between_parts_marks_the_reply_cut_short_and_sends_nothing_again(
    client, whatsapp, fake_openrouter, fake_graph
):
    long_answer = "\n\n".join(f"Paragraph {n}. " + "word " * 700 for n in range(1, 4))
    fake_openrouter.reply(long_answer)
    fake_graph.queue(body=fixture_bytes("send_ok.json"), path=None)  # part 1 arrives
    fake_graph.queue(body=fixture_bytes("send_ok.json"), delay=10.0)  # part 2 hangs…
    process = start_worker_process(whatsapp)
    try:
        post_webhook(client, fixture("text.json"))
        wait_for(lambda: len(graph_posts(fake_graph)) == 2, timeout=20)
    finally:
        process.send_signal(signal.SIGKILL)  # …and the worker dies while sending it
        process.wait(timeout=10)
    worker = Worker(whatsapp, threads=2, poll=0.01).start()
    try:
        wait_for(lambda: finished(whatsapp), timeout=10)
    finally:
        worker.stop()
    assert len(graph_posts(fake_graph)) == 2  # nothing was sent again
    with whatsapp.app_context():
        parts = db.session.scalars(
            select(Message).where(Message.direction == "out").order_by(Message.part)
        ).all()
        inbound = db.session.scalar(select(Message).where(Message.direction == "in"))
        assert [p.state for p in parts] == ["sent", "unknown", "failed"]
        assert inbound.state == "failed" and inbound.error_detail.startswith("Cut short")
        assert "1 of 3 parts were sent" in inbound.error_detail
    assert [r.error_kind for r in log_rows(whatsapp) if r.status == "error"] == ["internal"]


def answered_while_stopping(app, client, fake_openrouter, fake_graph, *signals) -> None:
    """Send the worker process these signals mid-answer: it must finish, then exit cleanly."""
    fake_openrouter.echo(delay=1.0)
    process = start_worker_process(app)
    try:
        post_webhook(client, fixture("text.json"))
        wait_for(lambda: [r for r in fake_openrouter.requests if r.path == CHAT_PATH], 20)
        for signum in signals:
            process.send_signal(signum)
            time.sleep(0.2)
        assert process.wait(timeout=20) == 0
    finally:
        process.kill()
    assert states(app) == ["answered"]
    assert len(fake_graph.sent_texts()) == 1


def test_a_worker_process_stopped_with_sigterm_finishes_its_answer_first(
    client, whatsapp, fake_openrouter, fake_graph
):
    answered_while_stopping(whatsapp, client, fake_openrouter, fake_graph, signal.SIGTERM)


def test_ctrl_c_then_sigterm_still_lets_the_worker_finish_its_answer(
    client, whatsapp, fake_openrouter, fake_graph
):
    # Ctrl-C reaches the worker, and `serve` asks it to stop as well.
    answered_while_stopping(
        whatsapp, client, fake_openrouter, fake_graph, signal.SIGINT, signal.SIGTERM
    )


def test_a_send_that_timed_out_is_not_repeated_and_the_owner_can_send_it_again(
    client, admin, whatsapp, worker, fake_openrouter, fake_graph
):
    whatsapp.config["GRAPH_TIMEOUT"] = 1.0
    fake_openrouter.reply("It ships on Monday.")
    fake_graph.queue(body=fixture_bytes("send_ok.json"), delay=3.0)  # accepted, never answered
    post_webhook(client, text_delivery(CUSTOMER, "When does it ship?"))
    wait_for(lambda: finished(whatsapp))
    time.sleep(0.5)  # room for a resend, if there were one
    assert len(graph_posts(fake_graph)) == 1
    with whatsapp.app_context():
        part = db.session.scalar(select(Message).where(Message.direction == "out"))
        contact_id, part_id = part.contact_id, part.id
        assert (part.state, part.error_kind) == ("unknown", "whatsapp_unknown")
    assert states(whatsapp) == ["failed"]
    page = admin.get(f"/admin/conversations/{contact_id}").get_data(as_text=True)
    assert "May not have arrived" in page and "Send again" in page
    response = admin.post(f"/admin/conversations/{contact_id}/messages/{part_id}/send-again")
    assert response.status_code == 302
    assert len(graph_posts(fake_graph)) == 2
    with whatsapp.app_context():
        assert db.session.get(Message, part_id).state == "sent"
    again = admin.post(f"/admin/conversations/{contact_id}/messages/{part_id}/send-again")
    assert again.status_code == 302 and len(graph_posts(fake_graph)) == 2  # sent: not again


def test_a_status_that_arrives_before_its_send_is_recorded_is_applied_when_it_is(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.reply("On its way.")
    answer = json.loads(fixture_bytes("send_ok.json"))
    answer["messages"] = [{"id": "wamid.EARLY"}]
    fake_graph.queue(body=answer, delay=1.0)
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: graph_posts(fake_graph))
    early = delivery(statuses=[status("wamid.EARLY", "delivered", CUSTOMER)])
    assert post_webhook(client, early).status_code == 200  # before the send is recorded
    with whatsapp.app_context():
        assert db.session.scalar(select(PendingStatus.status)) == "delivered"
    wait_for(lambda: finished(whatsapp))
    with whatsapp.app_context():
        part = db.session.scalar(select(Message).where(Message.direction == "out"))
        assert (part.wa_message_id, part.state) == ("wamid.EARLY", "delivered")
        assert db.session.scalars(select(PendingStatus)).all() == []


def test_delivery_statuses_move_the_ticks_forward_only(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    with whatsapp.app_context():
        wa_id = db.session.scalar(select(Message.wa_message_id).where(Message.direction == "out"))

    def out_state():
        with whatsapp.app_context():
            return db.session.scalar(select(Message.state).where(Message.direction == "out"))

    assert out_state() == "sent"
    post_webhook(client, delivery(statuses=[status(wa_id, "read", CUSTOMER)]))
    assert out_state() == "read"
    post_webhook(client, delivery(statuses=[status(wa_id, "delivered", CUSTOMER)]))  # late
    assert out_state() == "read"


def test_a_failed_status_marks_the_reply_failed_with_metas_reason(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    with whatsapp.app_context():
        wa_id = db.session.scalar(select(Message.wa_message_id).where(Message.direction == "out"))
    error = {
        "code": 131026,
        "title": "Message undeliverable",
        "error_data": {"details": "Receiver is incapable of receiving this message"},
    }
    post_webhook(client, delivery(statuses=[status(wa_id, "failed", CUSTOMER, error)]))
    with whatsapp.app_context():
        out = db.session.scalar(select(Message).where(Message.direction == "out"))
        assert (out.state, out.error_code, out.error_kind) == (
            "failed",
            131026,
            "whatsapp_rejected",
        )
        assert "undeliverable" in out.error_detail


def test_statuses_of_messages_sent_elsewhere_are_kept_a_day_then_dropped(client, whatsapp):
    assert post_webhook(client, fixture("status_failed.json")).status_code == 200
    # This one is for another business number (its phone_number_id): not ours to keep.
    assert post_webhook(client, fixture("status_delivered.json")).status_code == 200
    with whatsapp.app_context():
        assert db.session.scalars(select(PendingStatus.status)).all() == ["failed"]
        db.session.execute(
            update(PendingStatus).values(created_at=utcnow() - timedelta(days=1, minutes=1))
        )
        db.session.commit()
        assert outbound.sweep()["statuses_dropped"] == 1


def test_forget_deletes_the_customer_their_messages_turns_and_log_rows(
    client, whatsapp, worker, fake_openrouter, fake_graph, runner
):
    fake_openrouter.echo()
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    result = runner.invoke(args=["contacts", "forget", "+1 650-555-1234", "--yes"])
    assert result.exit_code == 0, result.output
    with whatsapp.app_context():
        for model in (Contact, Message, Turn):
            assert db.session.scalars(select(model)).all() == []
    assert log_rows(whatsapp) == []
    assert runner.invoke(args=["contacts", "forget", CUSTOMER, "--yes"]).exit_code != 0


def test_a_team_message_left_sending_by_a_crash_is_marked_unknown_not_resent(
    whatsapp, fake_graph, client
):
    post_webhook(client, fixture("text.json"))
    with whatsapp.app_context():
        contact_id = db.session.scalar(select(Contact.id))
        [(part_id, _text)] = outbound.store_parts(contact_id, ["typed by the team"], "human")
        db.session.execute(
            update(Message)
            .where(Message.id == part_id)
            .values(updated_at=utcnow() - timedelta(minutes=6))
        )
        db.session.commit()  # then the web process died
        assert outbound.sweep()["sends_unknown"] == 1
        part = db.session.get(Message, part_id)
        assert part.state == "unknown" and "not sent again" in part.error_detail
    assert fake_graph.sent_texts() == []


def test_a_turn_whose_runs_all_died_gets_the_fallback_once(
    client, whatsapp, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    post_webhook(client, text_delivery(CUSTOMER, "hello"))
    with whatsapp.app_context():
        [lease] = leases.claim("crashed", 1, timedelta(seconds=30))
        turns.take(lease)
        db.session.execute(
            update(Turn).values(runs=leases.MAX_RUNS, lease_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()  # three runs began, none ended
    worker = Worker(whatsapp, threads=2, poll=0.01, holder="test:next").start()
    try:
        wait_for(lambda: finished(whatsapp))
    finally:
        worker.stop()
    assert [r for r in fake_openrouter.requests if r.path == CHAT_PATH] == []
    [(_, body, _)] = fake_graph.sent_texts()
    assert body.startswith("Sorry, we can't answer right now")
    assert states(whatsapp) == ["failed"]
    [row] = [r for r in log_rows(whatsapp) if r.status == "error"]
    assert row.error_kind == "internal" and "3 times" in row.error_message


def children_of(pid: int) -> list[int]:
    """The child processes of `pid`, whichever of its threads started them."""
    tasks = Path(f"/proc/{pid}/task").iterdir()
    return [int(c) for task in tasks for c in (task / "children").read_text().split()]


def test_make_runs_server_starts_the_worker_again_when_it_is_killed(
    whatsapp, fake_openrouter, fake_graph, tmp_path
):
    fake_openrouter.echo()
    port = int(refused_port_url().rsplit(":", 1)[1])
    env = {**os.environ, **environment_of(whatsapp), "PORT": str(port)}
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as output:
        serve = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "serve"],
            cwd=ROOT, env=env, stdout=output, stderr=output,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: healthy(url), timeout=30)
        [first] = wait_for(lambda: children_of(serve.pid))
        os.kill(first, signal.SIGKILL)  # the out-of-memory killer, say
        wait_for(lambda: [c for c in children_of(serve.pid) if c != first])  # a new worker
        body = text_delivery(CUSTOMER, "anyone there?")
        headers = {"X-Hub-Signature-256": sign(APP_SECRET, body)}
        sent = requests.post(f"{url}/webhook/whatsapp", data=body, headers=headers, timeout=10)
        assert sent.status_code == 200
        wait_for(lambda: finished(whatsapp), timeout=20)
    finally:
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=30) == 0
    assert [body for _, body, _ in fake_graph.sent_texts()] == ["echo: anyone there?"]
    output = log_path.read_text()
    assert "The worker stopped unexpectedly (exit code -9)" in output and "Stopped." in output


def test_a_key_no_secret_key_can_read_fails_three_runs_then_the_customer_gets_the_fallback(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    from cryptography.fernet import Fernet

    from webapp.models import Setting

    with whatsapp.app_context():  # as if saved under a SECRET_KEY since lost
        row = db.session.get(Setting, "openrouter_api_key")
        row.value = Fernet(Fernet.generate_key()).encrypt(b"sk-or-v1-lost").decode()
        db.session.commit()
    post_webhook(client, text_delivery(CUSTOMER, "hello?"))
    wait_for(lambda: finished(whatsapp))
    rows = [r for r in log_rows(whatsapp) if r.status == "error"]
    assert [r.error_kind for r in rows] == ["internal"] * 3
    assert [r.attempt for r in rows] == [1, 2, 3]
    assert all("SECRET_KEY_FALLBACKS" in r.error_message for r in rows)
    assert [r for r in fake_openrouter.requests if r.path == CHAT_PATH] == []
    [(_, body, _)] = fake_graph.sent_texts()
    assert body.startswith("Sorry, we can't answer right now")
    assert states(whatsapp) == ["failed"]
    assert turn_of(whatsapp).runs == 3


def test_a_bug_in_one_run_is_logged_as_internal_and_the_next_run_answers(
    client, whatsapp, worker, fake_openrouter, fake_graph, monkeypatch
):
    from webapp.replies import memory

    fake_openrouter.echo()
    real, calls = memory.history, []

    def broken_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug, for once")
        return real(*args, **kwargs)

    monkeypatch.setattr(memory, "history", broken_once)
    post_webhook(client, text_delivery(CUSTOMER, "hello?"))
    wait_for(lambda: finished(whatsapp))
    [row] = [r for r in log_rows(whatsapp) if r.status == "error"]
    assert row.error_kind == "internal" and "RuntimeError: a bug, for once" in row.error_message
    assert [body for _, body, _ in fake_graph.sent_texts()] == ["echo: hello?"]
    assert states(whatsapp) == ["answered"]


def test_send_again_cut_off_by_a_crash_is_settled_as_may_not_have_arrived(
    client, admin, whatsapp, worker, fake_openrouter, fake_graph
):
    """Send again marks a part sending, then calls Graph. A web server killed during that call
    left the reply's part sending for good: its turn had ended, so no run would settle it."""
    fake_openrouter.reply("It ships on Monday.")
    rejected = fixture_bytes("send_error_131030_recipient_not_in_allowed_list.json")
    fake_graph.queue(status=400, body=rejected)
    post_webhook(client, text_delivery(CUSTOMER, "When does it ship?"))
    wait_for(lambda: finished(whatsapp))
    with whatsapp.app_context():
        part = db.session.scalar(select(Message).where(Message.direction == "out"))
        contact_id, part_id = part.contact_id, part.id
        assert part.state == "failed"
    fake_graph.queue(body=fixture_bytes("send_ok.json"), delay=30)  # the next send hangs
    port = int(refused_port_url().rsplit(":", 1)[1])
    environment = {**os.environ, **environment_of(whatsapp), "PORT": str(port)}
    server = subprocess.Popen(SERVE, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: healthy(url), timeout=30)
        owner = Visitor(url, {})
        owner.sign_in()
        page = owner.request("GET", f"/admin/conversations/{contact_id}").text
        token = next(group for group in CSRF_FIELD.search(page).groups() if group)
        send_again = f"/admin/conversations/{contact_id}/messages/{part_id}/send-again"

        def press() -> None:
            with contextlib.suppress(requests.RequestException):  # the server dies meanwhile
                owner.request("POST", send_again, data={"csrf_token": token})

        pressing = threading.Thread(target=press)
        pressing.start()
        wait_for(lambda: len(graph_posts(fake_graph)) == 2, timeout=20)
    finally:
        server.send_signal(signal.SIGKILL)  # dies during the call to Graph
        server.wait(timeout=10)
    pressing.join(timeout=15)
    with whatsapp.app_context():
        assert db.session.get(Message, part_id).state == "sending"
        db.session.execute(
            update(Message)
            .where(Message.id == part_id)
            .values(updated_at=utcnow() - timedelta(minutes=6))  # the sweep waits 5 minutes
        )
        db.session.commit()
        assert outbound.sweep()["sends_unknown"] == 1
        assert db.session.get(Message, part_id).state == "unknown"
    page = admin.get(f"/admin/conversations/{contact_id}").get_data(as_text=True)
    assert "May not have arrived" in page and "Send again" in page
    assert len(graph_posts(fake_graph)) == 2  # the sweep sent nothing


def stalled_run_with_a_reply(app, client) -> tuple:
    """A run that claimed a customer's turn with a one-second lease, took the message and
    stored its reply, as the worker does before sending: (lease, the reply's parts, to)."""
    post_webhook(client, text_delivery(CUSTOMER, "Is it in stock?"))
    with app.app_context():
        [lease] = leases.claim("host-a:1", 1, timedelta(seconds=1))
        batch = turns.take(lease)
        with leases.fenced(lease):
            parts = outbound.store_parts(lease.contact_id, ["Yes, two left."], "bot",
                                         lease.turn_id, batch.last.id)  # fmt: skip
    return lease, parts, batch.to


def send_as(app, lease, parts, to) -> None:
    with app.app_context():
        snap = Snapshot.load(app.config)
        origin = Origin("whatsapp", lease.contact_id)
        outbound.send_parts(parts, snap.whatsapp(), to, origin, snap.retry, Deadline(10),
                            lease=lease)  # fmt: skip


def test_a_run_that_stalled_past_its_lease_sends_nothing_once_its_turn_was_taken_over(
    client, whatsapp, fake_graph
):
    """Its heartbeat has not noticed (the whole process was stopped): the database says."""
    lease, parts, to = stalled_run_with_a_reply(whatsapp, client)
    time.sleep(1.2)  # stalled: the lease ran out, nothing renewed it
    with whatsapp.app_context():
        [taken] = leases.claim("host-b:2", 1, timedelta(seconds=30))
        assert taken.turn_id == lease.turn_id and taken.runs == 2
    assert not lease.lost  # as far as the stalled run itself knows, it still holds the turn
    with pytest.raises(leases.LeaseLost):
        send_as(whatsapp, lease, parts, to)
    assert graph_posts(fake_graph) == []


def test_a_run_that_lost_its_turn_during_a_call_writes_no_log_row_and_tries_no_more(
    client, whatsapp, fake_graph
):
    lease, parts, to = stalled_run_with_a_reply(whatsapp, client)
    unavailable = fixture_bytes("send_error_graph_generic_shape.json")
    fake_graph.default(status=503, body=unavailable, delay=2.0)  # slow, then "try again"

    def take_over() -> None:
        time.sleep(1.5)
        with whatsapp.app_context():
            leases.claim("host-b:2", 1, timedelta(seconds=30))

    other = threading.Thread(target=take_over)
    other.start()
    with pytest.raises(leases.LeaseLost):
        send_as(whatsapp, lease, parts, to)
    other.join()
    assert len(graph_posts(fake_graph)) == 1  # not tried again
    assert [row for row in log_rows(whatsapp) if row.upstream == "whatsapp"] == []

"""Nothing lost, nothing sent twice: restarts, lost jobs, interrupted sends, delivery statuses."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import select

from tests.conftest import post_webhook, wait_for
from tests.fakes import CHAT_PATH
from tests.payloads import delivery, fixture, status, text_delivery
from tests.test_replies import CUSTOMER, finished, states
from webapp import inbox, queue
from webapp.extensions import db
from webapp.models import Contact, Message, RequestLog

ROOT = Path(__file__).resolve().parent.parent


def start_worker_process(app) -> subprocess.Popen:
    """`flask worker` in its own process, on the same instance folder as the test app."""
    env = {**os.environ, "INSTANCE_PATH": app.instance_path}
    env.pop("WORKER_THREADS", None)
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--threads", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_a_worker_killed_mid_answer_is_picked_up_after_restart_and_answers_once(
    client, whatsapp, fake_openrouter, fake_graph
):
    fake_openrouter.echo(delay=2.0)
    process = start_worker_process(whatsapp)
    try:
        post_webhook(client, fixture("text.json"))
        wait_for(lambda: states(whatsapp) == ["processing"], timeout=20)
        wait_for(lambda: [r for r in fake_openrouter.requests if r.path == CHAT_PATH])
    finally:
        process.send_signal(signal.SIGKILL)  # a crash: no chance to clean up
        process.wait(timeout=10)
    assert states(whatsapp) == ["processing"] and fake_graph.sent_texts() == []

    fake_openrouter.echo(delay=0)
    whatsapp.config["STALE_AFTER_SECONDS"] = 0.2
    time.sleep(0.3)
    consumer = queue.make_consumer(whatsapp.extensions["huey"], workers=2, periodic=False)
    consumer.start()
    try:
        whatsapp.extensions["tasks"].requeue_stuck_messages.call_local()
        wait_for(lambda: finished(whatsapp))
        time.sleep(0.3)  # room for a duplicate, if there were one
    finally:
        consumer.stop(graceful=True)
    assert states(whatsapp) == ["answered"]
    assert len(fake_graph.sent_texts()) == 1


def answered_while_stopping(app, client, fake_openrouter, fake_graph, *signals) -> None:
    """Send the worker process these signals mid-answer: it must finish, then exit cleanly."""
    fake_openrouter.echo(delay=1.0)
    process = start_worker_process(app)
    try:
        post_webhook(client, fixture("text.json"))
        wait_for(lambda: states(app) == ["processing"], timeout=20)
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


def test_a_message_whose_job_was_lost_is_queued_again(
    client, whatsapp, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    post_webhook(client, text_delivery(CUSTOMER, "still there?"))
    whatsapp.extensions["huey"].flush()  # the queue lost the job; the database kept the message
    assert whatsapp.extensions["huey"].pending_count() == 0
    whatsapp.config["STALE_AFTER_SECONDS"] = 0.1
    time.sleep(0.2)
    whatsapp.extensions["tasks"].requeue_stuck_messages.call_local()
    assert whatsapp.extensions["huey"].pending_count() == 1
    consumer = queue.make_consumer(whatsapp.extensions["huey"], workers=1, periodic=False)
    consumer.start()
    try:
        wait_for(lambda: finished(whatsapp))
    finally:
        consumer.stop(graceful=True)
    assert [body for _, body, _ in fake_graph.sent_texts()] == ["echo: still there?"]


def test_a_job_that_runs_twice_sends_one_reply(whatsapp, fake_openrouter, fake_graph, client):
    fake_openrouter.echo()
    post_webhook(client, fixture("text.json"))
    with whatsapp.app_context():
        message_id = db.session.scalar(select(Message.id))
    job = whatsapp.extensions["tasks"].reply_to_message
    job.call_local(message_id)
    job.call_local(message_id)
    assert len(fake_graph.sent_texts()) == 1


def test_a_send_interrupted_by_a_crash_is_not_repeated(whatsapp, fake_graph, client):
    post_webhook(client, fixture("text.json"))
    with whatsapp.app_context():
        message = db.session.scalar(select(Message))
        inbox.start_outbound(
            message.contact_id, "half-sent answer", 0, "bot", reply_to=message
        )  # then the process died
        message_id = message.id
    whatsapp.extensions["tasks"].reply_to_message.call_local(message_id)
    assert fake_graph.sent_texts() == []
    with whatsapp.app_context():
        message = db.session.get(Message, message_id)
        assert message.state == "failed"
        assert "not sent again" in message.error_detail


def test_delivery_statuses_move_the_ticks_forward_only(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    with whatsapp.app_context():
        out = db.session.scalar(select(Message).where(Message.direction == "out"))
        wa_id = out.wa_message_id

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


def test_statuses_of_messages_sent_elsewhere_are_ignored(client, whatsapp):
    assert post_webhook(client, fixture("status_delivered.json")).status_code == 200
    assert post_webhook(client, fixture("status_failed.json")).status_code == 200


def test_forget_deletes_the_customer_their_messages_and_log_rows(
    client, whatsapp, worker, fake_openrouter, fake_graph, runner
):
    fake_openrouter.echo()
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    result = runner.invoke(args=["contacts", "forget", CUSTOMER, "--yes"])
    assert result.exit_code == 0, result.output
    with whatsapp.app_context():
        for model in (Contact, Message, RequestLog):
            assert db.session.scalars(select(model)).all() == []
    assert runner.invoke(args=["contacts", "forget", CUSTOMER, "--yes"]).exit_code != 0


def test_a_team_message_left_sending_by_a_crash_is_marked_failed_not_resent(
    whatsapp, fake_graph, client
):
    post_webhook(client, fixture("text.json"))
    with whatsapp.app_context():
        contact_id = db.session.scalar(select(Contact.id))
        out = inbox.start_outbound(contact_id, "typed by the team", 0, "human")  # then a crash
        out_id = out.id
    whatsapp.config["STALE_AFTER_SECONDS"] = 0.1
    time.sleep(0.2)
    whatsapp.extensions["tasks"].requeue_stuck_messages.call_local()
    with whatsapp.app_context():
        out = db.session.get(Message, out_id)
        assert out.state == "failed" and "not sent again" in out.error_detail
    assert fake_graph.sent_texts() == []

"""What one customer's files may cost the server, end to end: a PDF built to keep a reader busy
for minutes, voice notes arriving by the dozen, and a number sending files all day. The real
worker (a `flask worker` process where its memory or a stop signal matters), the fake Graph
API serving the files, fake OpenRouter answering."""

import signal
import threading
import time

from sqlalchemy import select

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH
from tests.support.payloads import (
    delivery,
    file_message,
    pdf_of_70_mb_of_text,
    pdf_of_many_operators,
)
from tests.support.processes import (
    peak_memory_mb,
    readers_of,
    running,
    start_worker_process,
    worker_started,
)
from webapp import media_store, settings
from webapp.extensions import db
from webapp.models import Message, RequestLog, Turn
from webapp.worker.process import Worker

TOKEN = "EAAG-test-access-token"  # the `whatsapp` fixture's
CUSTOMER, OTHER = "4915100000001", "4915100000002"
PDF = "application/pdf"
VOICE = b"OggS\x00\x02" + b"opus frames of a voice note " * 50
TRANSCRIBE_PATH = "/api/v1/audio/transcriptions"


def configure(app, **values) -> None:
    with app.app_context():
        settings.save({name: str(value) for name, value in values.items()}, author="test")


def host(fake_graph, media_id: str, body: bytes, mime_type: str = PDF) -> None:
    fake_graph.token = TOKEN
    fake_graph.host_media(media_id, body, mime_type)


def post(client, *messages: dict) -> None:
    assert post_webhook(client, delivery(*messages)).status_code == 200


def sent(fake_graph, to: str | None = None) -> list[str]:
    return [body for number, body, _ in fake_graph.sent_texts() if to in (None, number)]


def chats(fake_openrouter) -> list[dict]:
    return [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]


def rows(app, **where) -> list[RequestLog]:
    with app.app_context():
        found = db.session.scalars(select(RequestLog).filter_by(**where).order_by(RequestLog.id))
        found = found.all()
        db.session.expunge_all()
        return found


def turn(app) -> Turn:
    with app.app_context():
        found = db.session.scalars(select(Turn)).one()
        db.session.expunge(found)
        return found


def stop(process) -> None:
    process.kill()
    process.wait(timeout=10)


def test_a_pdf_of_70_mb_of_text_is_answered_in_time_by_one_reading_outside_the_worker(
    client, whatsapp, fake_openrouter, fake_graph, tmp_path
):
    """86 kB that unpack to 70 MB of text on ten pages: read page by page inside the worker,
    it held a core and most of a gigabyte for many minutes, past its lease, read twice."""
    host(fake_graph, "70mb", pdf_of_70_mb_of_text())
    configure(whatsapp, answer_within_seconds=10)
    fake_openrouter.echo()
    worker = start_worker_process(whatsapp, tmp_path / "worker.log")
    try:
        wait_for(lambda: worker_started(whatsapp, worker), timeout=30)
        started_mb = peak_memory_mb(worker.pid)
        started = time.monotonic()
        post(client, file_message(CUSTOMER, "document", "70mb", PDF, filename="Report.pdf",
                                  caption="Is my invoice in here?"))  # fmt: skip
        wait_for(lambda: sent(fake_graph), timeout=12)
        took, peak_mb = time.monotonic() - started, peak_memory_mb(worker.pid)
    finally:
        stop(worker)
    assert took < 10.5  # answer_within_seconds, and the post
    assert peak_mb - started_mb < 60, (started_mb, peak_mb)
    assert sent(fake_graph) == [
        "echo: [A document: report.pdf you cannot read]\nIs my invoice in here?"
    ]
    [refused] = rows(whatsapp, operation="reading")
    assert (refused.status, refused.error_kind) == ("error", "file_too_heavy")
    assert "unpack to more than 10 MB" in refused.error_message
    assert turn(whatsapp).runs == 1  # one run, one reading


def test_a_worker_asked_to_stop_during_a_reading_stops_at_once_and_gives_the_turn_back(
    client, whatsapp, fake_openrouter, fake_graph, tmp_path
):
    host(fake_graph, "slow", pdf_of_many_operators())  # a minute of CPU, unbounded
    fake_openrouter.echo()
    worker = start_worker_process(whatsapp, tmp_path / "worker.log")
    try:
        wait_for(lambda: worker_started(whatsapp, worker), timeout=30)
        post(client, file_message(CUSTOMER, "document", "slow", PDF, filename="slow.pdf",
                                  caption="My order"))  # fmt: skip
        wait_for(lambda: len(fake_graph.media_requests()) == 2)  # the file is in
        time.sleep(1.0)  # and being read
        readers = readers_of(worker.pid)
        asked = time.monotonic()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=10)
        took = time.monotonic() - asked
    finally:
        stop(worker)
    assert took < 5
    assert readers and not any(running(pid) for pid in readers)  # the reading ended with it
    assert sent(fake_graph) == [] and rows(whatsapp, error_kind="internal") == []
    given_back = turn(whatsapp)
    assert (given_back.state, given_back.token, given_back.runs) == ("open", None, 1)

    # The next worker takes the turn up, and reads the file again in the time it has.
    configure(whatsapp, answer_within_seconds=10)
    again = Worker(whatsapp, threads=2, poll=0.01).start()
    try:
        wait_for(lambda: sent(fake_graph), timeout=15)
    finally:
        again.stop()
    assert sent(fake_graph) == ["echo: [A document: slow.pdf you cannot read]\nMy order"]
    assert turn(whatsapp).runs == 2
    [cut] = rows(whatsapp, operation="reading")
    assert cut.error_kind == "timeout" and "all the time that was left" in cut.error_message


def test_a_customer_past_their_daily_files_is_told_once_and_nothing_more_is_stored(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    configure(whatsapp, media_quota_mb_per_day=1)
    fake_openrouter.echo()
    zip_file = "application/zip"
    for n in range(6):
        host(fake_graph, f"zip{n}", bytes([n]) * 600_000, zip_file)

    def send(customer: str, n: int, replies: int, **fields) -> None:
        post(client, file_message(customer, "document", f"zip{n}", zip_file, **fields))
        wait_for(lambda: len(sent(fake_graph)) == replies)

    send(CUSTOMER, 0, 1, caption="first")  # 0.6 MB kept
    send(CUSTOMER, 1, 2, caption="second")  # 1.2 MB: the file that passes the limit is kept
    send(CUSTOMER, 2, 4, caption="third")  # not fetched: told why, and answered from words
    post(client, file_message(CUSTOMER, "document", "zip3", zip_file))  # no words: no answer
    wait_for(lambda: len(rows(whatsapp, error_kind="customer_limited")) == 2)
    send(CUSTOMER, 4, 5, caption="fifth")  # answered, not told again
    send(OTHER, 5, 6, caption="mine")  # someone else's files are theirs to send

    unseen = "echo: [A document you cannot read]\n"
    told = "You've sent a lot of files today; I can't look at more until tomorrow."
    assert sent(fake_graph, CUSTOMER) == [
        unseen + "first",
        unseen + "second",
        told,
        unseen + "third",
        unseen + "fifth",
    ]
    assert sent(fake_graph, OTHER) == [unseen + "mine"]
    fetched = {path.rsplit("/", 1)[-1] for path, _ in fake_graph.media_requests()}
    assert {"zip0", "zip1", "zip5"} <= fetched and fetched.isdisjoint({"zip2", "zip3", "zip4"})
    with whatsapp.app_context():
        assert len(list(media_store.folder().iterdir())) == 3
        kept = db.session.scalars(select(Message.media_file).where(Message.direction == "in"))
        assert sum(name is not None for name in kept) == 3
    limited = rows(whatsapp, error_kind="customer_limited")
    assert [row.message_id is not None for row in limited] == [True] * 3
    assert all("'Files per customer per day' allows 1 MB" in row.error_message for row in limited)


def voice_from(customer: str, n: int) -> dict:
    return file_message(customer, "audio", f"voice{n}", "audio/ogg; codecs=opus", voice=True)


def test_no_more_voice_note_turns_than_their_places_hold_voice_notes_at_once(
    client, whatsapp, worker, fake_openrouter, fake_graph, monkeypatch
):
    from webapp.replies import media

    monkeypatch.setattr(media, "_voice_turns", threading.BoundedSemaphore(2), raising=False)
    fake_openrouter.transcribes("Do you deliver?", delay=0.4)
    fake_openrouter.echo()
    customers = [f"4915100000{n:02d}" for n in range(5)]
    for n, _ in enumerate(customers):
        host(fake_graph, f"voice{n}", VOICE, "audio/ogg")
    post(client, *[voice_from(c, n) for n, c in enumerate(customers)])
    wait_for(lambda: len(sent(fake_graph)) == 5)
    arrivals = sorted(r.at for r in fake_openrouter.requests if r.path == TRANSCRIBE_PATH)
    assert len(arrivals) == 5
    # With two places, a third voice note is sent for text only once a first one came back.
    assert all(arrivals[i + 2] - arrivals[i] >= 0.35 for i in range(3))


def test_a_voice_note_that_finds_no_place_in_time_is_answered_untranscribed_and_logged(
    client, whatsapp, worker, fake_openrouter, fake_graph, monkeypatch
):
    from webapp.replies import media

    monkeypatch.setattr(media, "_voice_turns", threading.BoundedSemaphore(1), raising=False)
    monkeypatch.setattr(media, "SEND_MARGIN", 10_000.0)  # no time to wait for a place
    fake_openrouter.transcribes("Do you deliver?", delay=1.0)
    fake_openrouter.echo()
    for n in range(2):
        host(fake_graph, f"voice{n}", VOICE, "audio/ogg")
    post(client, voice_from(CUSTOMER, 0), voice_from(OTHER, 1))
    wait_for(lambda: len(sent(fake_graph)) == 2)
    # One was heard; the other, unheard, has nothing to read: it gets the non-text reply.
    [chat] = chats(fake_openrouter)
    assert chat["messages"][-1]["content"] == "[Voice note] Do you deliver?"
    with whatsapp.app_context():
        unheard = str(settings.get("non_text_reply"))
    assert sorted(sent(fake_graph)) == sorted(["echo: [Voice note] Do you deliver?", unheard])
    [crowded] = rows(whatsapp, upstream="switchboard")
    assert (crowded.error_kind, crowded.operation) == ("timeout", "transcription")
    assert "answered without being transcribed" in crowded.error_message

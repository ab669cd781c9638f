"""Forgetting a customer, and retention, leave no copy of them anywhere: not in any table, not
in any file of the instance folder. A delivery of a forgotten message again is acknowledged
and dropped; the customer's next real message is answered as any other."""

import base64
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData, String, func, or_, select, text, update

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH
from tests.support.interleaving import interleaved
from tests.support.payloads import delivery, pdf_bytes, status, text_message
from tests.support.replies import finished
from webapp import contacts, media_store, prompts, settings
from webapp.data import retention
from webapp.extensions import db
from webapp.models import (
    Contact,
    Message,
    PendingStatus,
    RequestLog,
    Trial,
    TrialCell,
    Turn,
    utcnow,
)
from webapp.worker import trial_cells

NUMBER, TYPED = "447700900123", "+44 7700 900123"
NAME = "Philippa Quist"
SAID = "Is the walnut cake safe for my nut allergy?"
HEARD = "Please bring it to 12 Ravenscroft Lane on Friday."
VOICE = b"OggS\x00\x02" + b"opus frames of Philippa speaking " * 40
INVOICE = ["Order 77123 for Philippa", "Walnut cake, large: 38.00"]
OTHER_NUMBER_ID = "999000111"
SENT_ELSEWHERE = "Did my Marzipan order reach you?"
# What must be gone: their number, name and words, and the ids of their messages, which
# carry their number (base64) as Meta writes them.
EVERYTHING_OF_THEIRS = [NUMBER, NAME, "walnut cake", "Ravenscroft", "77123", "Marzipan"]
KEPT_NUMBER, KEPT_WORDS = "31611112222", "Do you sell gluten free bread?"
CHEAP, SMART = "openai/gpt-4o-mini", "anthropic/claude-sonnet-4-6"


def wamid(number: str, tag: str) -> str:
    """A message id as Meta makes them: the sender's number inside, in base64."""
    raw = b"\x1c\x18" + bytes([len(number)]) + number.encode() + b"\x15\x02\x00\x12\x18\x16"
    return "wamid." + base64.b64encode(raw + tag.encode().hex().upper()[:22].encode()).decode()


def media_message(kind: str, media_id: str, message_id: str, **part) -> dict:
    return {"from": NUMBER, "id": message_id, "timestamp": str(int(time.time())), "type": kind,
            kind: {"id": media_id, **part}}  # fmt: skip


def signed(body: dict) -> bytes:
    return json.dumps(body).encode()


def to_number_id(body: dict, number_id: str) -> dict:
    body["entry"][0]["changes"][0]["value"]["metadata"]["phone_number_id"] = number_id
    return body


def deliveries() -> dict[str, bytes]:
    """The customer's deliveries as Meta signs them: words, a voice note, a PDF, and a message
    to a phone number ID that is not this one's."""
    said = text_message(NUMBER, SAID, wamid(NUMBER, "said"))
    heard = media_message("audio", "MEDIA-VOICE", wamid(NUMBER, "heard"),
                          mime_type="audio/ogg; codecs=opus", voice=True)  # fmt: skip
    invoice = media_message("document", "MEDIA-PDF", wamid(NUMBER, "invoice"),
                            mime_type="application/pdf", filename="walnut cake.pdf")  # fmt: skip
    elsewhere = text_message(NUMBER, SENT_ELSEWHERE, wamid(NUMBER, "elsewhere"))
    return {
        "said": signed(delivery(said, name=NAME)),
        "heard": signed(delivery(heard, name=NAME)),
        "invoice": signed(delivery(invoice, name=NAME)),
        "elsewhere": signed(to_number_id(delivery(elsewhere, name=NAME), OTHER_NUMBER_ID)),
    }


def converse(client, app, fake_openrouter, fake_graph) -> dict[str, bytes]:
    """The customer writes, speaks and sends a PDF; each is answered (the model echoes what it
    read, so the answers quote them). Another customer writes too."""
    fake_openrouter.echo()
    fake_openrouter.transcribes(HEARD)
    fake_graph.host_media("MEDIA-VOICE", VOICE, "audio/ogg; codecs=opus")
    fake_graph.host_media("MEDIA-PDF", pdf_bytes(INVOICE), "application/pdf")
    sent = deliveries()
    for count, name in enumerate(["said", "heard", "invoice"], 1):
        assert post_webhook(client, sent[name]).status_code == 200
        wait_for(lambda count=count: finished(app, count))
    assert post_webhook(client, sent["elsewhere"]).status_code == 200
    kept = text_message(KEPT_NUMBER, KEPT_WORDS)
    assert post_webhook(client, delivery(kept, name="Kees")).status_code == 200
    wait_for(lambda: finished(app, 4))
    return sent


def chats(fake_openrouter) -> list:
    return [r for r in fake_openrouter.requests if r.path == CHAT_PATH]


def start_trial(admin, app, **fields) -> int:
    with app.app_context():
        prompt = prompts.current_text()
    data = {"models": [CHEAP, SMART], "prompt": prompt, "source": "replay", "last_n": "4",
            "message": "What did I ask you?", "customer": ""}  # fmt: skip
    response = admin.post("/admin/trials", data={**data, **fields})
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rsplit("/", 1)[1])


def trial_done(app, trial_id: int) -> bool:
    with app.app_context():
        return db.session.scalar(select(Trial.state).where(Trial.id == trial_id)) == "done"


def compare(admin, app) -> tuple[int, int]:
    """A trial replaying the last four messages (three of theirs) on two models, and one
    typed as them (asked with their memory); both answered."""
    replayed = start_trial(admin, app)
    typed = start_trial(admin, app, source="typed", customer=TYPED)
    wait_for(lambda: trial_done(app, replayed) and trial_done(app, typed))
    return replayed, typed


def traces(app, needles: list[str]) -> list[str]:
    """Where any of `needles` is: each text column of each table of the database as it is
    (not as the models say it is), and each file of the instance folder (on SQLite, the
    database's own files among them)."""
    found = []
    with app.app_context():
        tables = MetaData()
        tables.reflect(bind=db.engine)
        for table in tables.sorted_tables:
            for column in (c for c in table.columns if isinstance(c.type, String)):
                for value in db.session.scalars(select(column)):
                    found += [f"{column}: {n}" for n in needles if n in (value or "")]
        db.session.commit()
    for path in sorted(Path(app.instance_path).rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {n}" for n in needles if n.encode() in data]
    return found


def ids_of_theirs(sent: dict[str, bytes]) -> list[str]:
    return [json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
            for body in sent.values()]  # fmt: skip


def test_forget_leaves_no_copy_of_the_customer_in_the_database_or_the_instance_folder(
    client, admin, whatsapp, worker, fake_openrouter, fake_graph, runner
):
    sent = converse(client, whatsapp, fake_openrouter, fake_graph)
    replayed, _ = compare(admin, whatsapp)
    theirs = EVERYTHING_OF_THEIRS + ids_of_theirs(sent)
    before = traces(whatsapp, theirs)
    assert {found.split(": ")[-1] for found in before} == set(theirs)  # the search finds them

    result = runner.invoke(args=["contacts", "forget", TYPED, "--yes"])

    assert result.exit_code == 0, result.output
    assert traces(whatsapp, theirs) == []
    assert traces(whatsapp, [KEPT_NUMBER, KEPT_WORDS]) != []  # the other customer stays
    # The replayed trial keeps the other customer's question and its two answers; the one
    # typed as the forgotten customer had nothing else, and went whole.
    with whatsapp.app_context():
        assert db.session.scalars(select(Trial.id)).all() == [replayed]
        assert db.session.scalar(select(func.count()).select_from(TrialCell)) == 2
    page = admin.get(f"/admin/trials/{replayed}").get_data(as_text=True)
    assert page.count(f"echo: {KEPT_WORDS}") == 2


def age(app, age: timedelta) -> None:
    """Everything of the customer (NUMBER) happened `age` ago: their row, messages, turns,
    log rows and files."""
    when = utcnow() - age
    with app.app_context():
        contact = db.session.scalar(select(Contact.id).where(Contact.phone == NUMBER))
        # Theirs, and the one row without a contact: their message to another number ID.
        theirs = or_(RequestLog.contact_id == contact, RequestLog.contact_id.is_(None))
        for model, where in [
            (Contact, Contact.id == contact),
            (Message, Message.contact_id == contact),
            (Turn, Turn.contact_id == contact),
            (RequestLog, theirs),
        ]:
            db.session.execute(update(model).where(where).values(created_at=when))
        db.session.commit()
        for name in media_store.names_in(Message.contact_id == contact):
            os.utime(media_store.folder() / name, (when.timestamp(), when.timestamp()))


def test_retention_leaves_no_copy_of_a_customer_older_than_it_keeps(
    client, admin, whatsapp, worker, fake_openrouter, fake_graph
):
    sent = converse(client, whatsapp, fake_openrouter, fake_graph)
    age(whatsapp, timedelta(days=500))
    # A trial from back then, and one of today replaying their old messages.
    replayed, typed = compare(admin, whatsapp)
    with whatsapp.app_context():
        db.session.execute(
            update(Trial).where(Trial.id == typed).values(created_at=utcnow() - timedelta(500))
        )
        db.session.commit()
        settings.save({"retention_days": "400"}, author="test")
        gone = retention.purge()
    assert traces(whatsapp, EVERYTHING_OF_THEIRS + ids_of_theirs(sent)) == []
    assert gone["trials"] == 1 and gone["trial_questions"] == 3 and gone["contacts"] == 1
    assert traces(whatsapp, [KEPT_NUMBER, KEPT_WORDS]) != []
    page = admin.get(f"/admin/trials/{replayed}").get_data(as_text=True)
    assert page.count(f"echo: {KEPT_WORDS}") == 2


def test_a_forgotten_message_delivered_again_is_acknowledged_and_dropped(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    """The captured, signed delivery replayed through the webhook: 200, and nothing of it is
    stored, and nothing answered; nor is a status of a reply they got kept."""
    fake_openrouter.echo()
    captured = signed(delivery(text_message(NUMBER, SAID, wamid(NUMBER, "said")), name=NAME))
    assert post_webhook(client, captured).status_code == 200
    wait_for(lambda: fake_graph.sent_texts())
    with whatsapp.app_context():
        reply_id = db.session.scalar(
            select(Message.wa_message_id).where(Message.direction == "out")
        )
        assert contacts.forget(TYPED)
    asked, answered = len(chats(fake_openrouter)), len(fake_graph.sent_texts())

    assert post_webhook(client, captured).status_code == 200
    read = delivery(statuses=[status(reply_id, "read", NUMBER)])
    assert post_webhook(client, read).status_code == 200

    with whatsapp.app_context():
        for model in (Contact, Message, PendingStatus):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0, model
    time.sleep(0.5)  # the worker polls every 10 ms: time enough to answer, had it been stored
    assert (len(chats(fake_openrouter)), len(fake_graph.sent_texts())) == (asked, answered)
    assert traces(whatsapp, [NUMBER, NAME, SAID]) == []


def customer_deleted(session) -> bool:
    """Forget's transaction, about to commit: the customer's row deleted."""
    return not session.scalar(select(func.count()).select_from(Contact))


@pytest.mark.postgresql_only("SQLite writes one transaction at a time: the webhook waits")
def test_a_replay_arriving_while_forget_commits_is_dropped(client, whatsapp):
    """The replayed delivery's write of the customer waits for forget's lock on them; once
    forget commits, the delivery sees what forget remembered, and leaves no customer behind."""
    captured = signed(delivery(text_message(NUMBER, SAID, wamid(NUMBER, "said")), name=NAME))
    assert post_webhook(client, captured).status_code == 200

    def replay() -> int:
        return post_webhook(client, captured).status_code

    with (
        whatsapp.app_context(),
        interleaved(whatsapp, customer_deleted, replay) as webhook,
    ):
        assert contacts.forget(NUMBER)
    assert webhook.outcome == [200] and webhook.waited
    with whatsapp.app_context():
        for model in (Contact, Message):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0, model


def test_a_new_message_after_forget_is_stored_and_answered(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.echo()
    assert post_webhook(client, delivery(text_message(NUMBER, SAID), name=NAME)).status_code == 200
    wait_for(lambda: fake_graph.sent_texts())
    with whatsapp.app_context():
        assert contacts.forget(NUMBER)

    again = delivery(text_message(NUMBER, "Hello again, a new question"), name=NAME)
    assert post_webhook(client, again).status_code == 200

    wait_for(lambda: len(fake_graph.sent_texts()) == 2)
    assert fake_graph.sent_texts()[-1][:2] == (NUMBER, "echo: Hello again, a new question")
    with whatsapp.app_context():
        assert db.session.scalars(select(Message.text).where(Message.direction == "in")).all() == [
            "Hello again, a new question"
        ]


def test_an_answer_asked_for_before_its_customer_was_forgotten_is_never_asked(
    admin, whatsapp, fake_openrouter
):
    """A worker claimed a trial's cell, then the customer whose message it replays was
    forgotten: the cell asks no model and writes nothing."""
    fake_openrouter.echo()
    with whatsapp.app_context():
        contact, _ = contacts.upsert(NUMBER, phone=NUMBER, profile_name=NAME)
        db.session.add(Message(contact_id=contact, direction="in", author="customer", text=SAID,
                               state="answered"))  # fmt: skip
        db.session.commit()
    trial_id = start_trial(admin, whatsapp, models=[CHEAP], last_n="1")
    with whatsapp.app_context():
        [claim] = trial_cells.claim("test-worker", 5)
        assert contacts.forget(NUMBER)
        trial_cells.run(claim, whatsapp.config)
        assert db.session.get(Trial, trial_id) is None
        assert db.session.scalar(select(func.count()).select_from(RequestLog)) == 0
    assert chats(fake_openrouter) == []


def test_forget_finds_a_message_to_another_number_id_logged_before_senders_were_named(app):
    """A log row written before this version names no sender: the upgrade reads it from the
    message the row kept, so forgetting that number deletes the row and drops a replay."""
    from flask_migrate import downgrade, upgrade

    raw = text_message(NUMBER, SENT_ELSEWHERE, wamid(NUMBER, "elsewhere"))
    with app.app_context():
        downgrade(revision="0011_keep_messages")
        db.session.execute(
            text("INSERT INTO request_log (created_at, channel, upstream, attempt, status, "
                 "response_body) VALUES (:at, 'whatsapp', 'whatsapp', 1, 'error', :body)"),
            {"at": utcnow(), "body": json.dumps(raw)},
        )  # fmt: skip
        db.session.commit()
        upgrade()
        assert contacts.forget(TYPED)
        assert db.session.scalar(select(func.count()).select_from(RequestLog)) == 0
        assert db.session.scalar(text("SELECT count(*) FROM forgotten_messages")) == 1
    assert traces(app, [NUMBER, "Marzipan"]) == []

"""A shop that has run for a few days, written straight into the database: the data every admin
page is opened with by the page tests, and the data of the screenshots in docs/.

Everything is the same from run to run except the clock: times are counted back from the
start of the current hour.
The texts are long where real ones are: a customer's paragraph with a link in it, a document
with a long file name, model IDs with a variant, a provider's error body.
"""

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from tests.support import templates
from tests.support.fakes import fixture_bytes
from tests.support.payloads import pdf_bytes
from webapp import catalog, catalog_data, heartbeats, media_store, prompts, settings, state
from webapp.data import backups
from webapp.extensions import db
from webapp.knowledge import gaps, indexing, sources
from webapp.models import (
    Contact,
    FlowToken,
    GapAsk,
    KnowledgeGap,
    Message,
    RequestLog,
    Trial,
    TrialCell,
)
from webapp.replies.signals import Given

PROMPT = (
    "You answer customers of Velo Verde, a bike shop in Ghent (Sint-Pietersnieuwstraat 12).\n"
    "Opening hours: Tuesday to Saturday 9:00–18:00; closed Sunday and Monday.\n"
    "Repairs: a standard service is €65 and takes two working days; bring the bike in, no "
    "appointment needed. We sell city bikes, e-bikes and cargo bikes, and rent them by the day.\n"
    "Answer briefly and kindly, in the customer's language. When you are not sure, say that a "
    "person from the shop will answer during opening hours."
)
LONG_QUESTION = (
    "Hi! I bought the green commuter e-bike from you in March and since last week the motor "
    "cuts out whenever I ride up the hill by the station, especially when it rains. The "
    "display shows error E-07 for a second and then it works again. Is that covered by the "
    "warranty, and can I bring it in on Saturday morning? This is the model I have: "
    "https://velo-verde.example/products/urban-commuter-e-bike-2026-edition-matte-green-size-m"
    "?ref=whatsapp-order-48213"
)
LONG_ANSWER = (
    "Hello Ana, thank you for the details! Error E-07 usually means a loose connector between "
    "the battery and the motor, which water makes worse. It is covered by the two-year "
    "warranty. You can bring the bike in on Saturday from 9:00; no appointment is needed. The "
    "check takes about an hour, so you could wait in the café next door or pick it up later."
)
DOCUMENT_NAME = "Invoice_2026-03-14_VeloVerde_order-48213_e-bike-urban-commuter_matte-green_M.pdf"
LONG_MODEL = "nousresearch/hermes-3-llama-3.1-405b:free"
OTHER_LONG_MODEL = "meta-llama/llama-3.3-70b-instruct:free"


@dataclass(frozen=True)
class Showcase:
    """The ids a page's address needs."""

    contact: int  # the customer whose thread has every kind of message
    waiting: int  # a customer handed to a person: needs you
    log_row: int  # a failed attempt retried, with its bodies
    trial: int  # three models on two replayed questions, one a photo
    closed: int = 0  # a customer whose 24-hour window is closed: the template picker shows
    template: int = 0  # an approved template, chosen in the picker


def anchor() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def fill(app) -> Showcase:
    """Write the shop's data into `app`'s database (freshly migrated, with the admin)."""
    with app.app_context():
        now = anchor()
        _configure(now)
        ana, waiting = _conversations(now)
        log_row = _log(now, ana)
        trial = _trial(now, ana)
        _gaps(now, ana)
        _knowledge()
        closed, template = templates.add_to_showcase()
        db.session.commit()
        return Showcase(contact=ana.id, waiting=waiting.id, log_row=log_row, trial=trial,
                        closed=closed, template=template)  # fmt: skip


def _knowledge() -> None:
    """A menu, delivery rules with a long unbroken word, text still being read, an FAQ."""
    sources.add_file(pdf_bytes(["Margherita 9.50", "Diavola 11.00"]), "Menu.pdf", author="owner")
    sources.add_text("Delivery rules", "We deliver within 5 km. " * 40 + "x" * 120, author="owner")
    sources.add_faq("Do you deliver on Sundays?", "Yes, from 12 to 6 pm.", author="owner")
    sources.add_faq("Can I pay by card?", "Yes, all cards.", author="owner")
    indexing.read_waiting()
    sources.add_text("Opening times", "Monday to Saturday, 9 to 6.", author="owner")  # Reading…


def _configure(now: datetime) -> None:
    settings.save(
        {
            "openrouter_api_key": "sk-or-v1-showcase000000000000000000000000000000000000000000c0de",
            "whatsapp_access_token": "EAAG-showcase-access-token",
            "whatsapp_phone_number_id": "106540352242922",
            "whatsapp_app_secret": "showcase-app-secret",
            "whatsapp_verify_token": "velo-verde",
            "public_url": "https://assistant.velo-verde.example",
        },
        author="owner",
    )
    first = prompts.save_version(PROMPT.split("\n")[0], "owner")
    first.created_at = now - timedelta(days=6)
    prompts.save_version(PROMPT, "owner").created_at = now - timedelta(days=2)
    state.record(
        "key_test",
        {
            "ok": True,
            "label": "Velo Verde shop",
            "usage": 3.42,
            "limit": 20.0,
            "limit_remaining": 16.58,
            "is_free_tier": False,
        },
    )
    state.record("webhook_verified", {})
    state.put(backups.LAST_BACKUP, {"path": "/home/shop/backup.tar.gz", "size": 48_213})
    heartbeats.beat("shop-server:4242", {"threads": 128})
    catalog_data.store(json.loads(fixture_bytes("models_list_excerpt.json"))["data"])
    catalog.make_default("anthropic/claude-sonnet-4-6")
    for model_id in (OTHER_LONG_MODEL, LONG_MODEL):
        catalog.add(model_id)
    catalog.set_role("openai/gpt-4o-mini", catalog.FALLBACK)
    catalog.set_role(OTHER_LONG_MODEL, catalog.FALLBACK)
    catalog.set_role("perplexity/sonar", catalog.DISABLED)
    for name, display, used, revoked in (
        ("wa-expert order flow", "sb-…7f3a", 214, None),
        ("old website widget", "sb-…09bc", 12, now - timedelta(days=3)),
    ):
        db.session.add(
            FlowToken(
                name=name,
                token_hash=hashlib.sha256(name.encode()).hexdigest(),
                display=display,
                created_at=now - timedelta(days=20),
                last_used_at=now - timedelta(hours=1, minutes=12),
                requests=used,
                revoked_at=revoked,
            )
        )


def _media(data: bytes) -> str:
    """Keep `data` in the media folder as the worker does: named by its sha256."""
    name = hashlib.sha256(data).hexdigest()
    path = media_store.folder() / name
    path.write_bytes(data)
    path.chmod(0o600)
    return name


def _conversations(now: datetime) -> tuple[Contact, Contact]:
    def contact(phone, name, hours_ago, paused=False):
        row = Contact(
            customer_id=phone,
            phone=phone,
            profile_name=name,
            paused=paused,
            created_at=now - timedelta(days=4),
            last_inbound_at=now - timedelta(hours=hours_ago),
        )
        db.session.add(row)
        db.session.flush()
        return row

    def say(who, author, minutes_ago, text=None, state="answered", **fields):
        direction = "in" if author == "customer" else "out"
        message = Message(
            contact_id=who.id,
            direction=direction,
            author=author,
            text=text,
            state=state,
            created_at=now - timedelta(minutes=minutes_ago),
            **fields,
        )
        db.session.add(message)
        db.session.flush()
        return message

    ana = contact("32470123456", "Ana Souza", 0.5)
    question = say(ana, "customer", 95, LONG_QUESTION)
    say(ana, "bot", 94, LONG_ANSWER, "read", reply_to_id=question.id)
    photo = _media(photo_png())
    say(
        ana,
        "customer",
        70,
        "This is the connector, it looks a bit green?",
        type="image",
        media_file=photo,
        media_mime="image/png",
        media_size=len(photo_png()),
    )
    say(ana, "bot", 69, "That green is corrosion: we clean it and replace the seal.", "delivered")
    voice = b"OggS\x00\x02" + bytes(range(64))
    say(
        ana,
        "customer",
        50,
        type="audio",
        media_file=_media(voice),
        media_mime="audio/ogg",
        media_size=len(voice),
        media_text="Can you also check the back brake? It squeaks.",
    )
    say(
        ana,
        "bot",
        49,
        "Of course, we check both brakes during the service.",
        "failed",
        error_kind="whatsapp_window",
        error_code=131047,
        error_detail="Message failed to send because more than 24 hours have passed since the "
        "customer last replied to this number.",
    )
    invoice = pdf_bytes(["Velo Verde · Invoice 48213", "Urban commuter e-bike, matte green, M"])
    say(
        ana,
        "customer",
        31,
        type="document",
        media_file=_media(invoice),
        media_mime="application/pdf",
        media_size=len(invoice),
        media_name=DOCUMENT_NAME,
        media_text="Velo Verde · Invoice 48213\nUrban commuter e-bike, matte green, M",
    )
    say(ana, "human", 30, "Thanks Ana, see you Saturday! — Jo from the shop", "sent", sent_by="jo")

    bram = contact("32486555010", "Bram", 3, paused=True)
    say(bram, "customer", 185, "Do you rent cargo bikes for a whole weekend?", "paused")
    nameless = contact("447700900123", None, 26)
    say(nameless, "customer", 26 * 60, "👍")
    say(nameless, "bot", 26 * 60 - 1, "Glad to help! Have a good ride.", "read")
    for phone, name, hours, text in (
        ("31612345678", "Femke van der Berg-Oosterhout", 5, "Is the shop open on Easter Monday?"),
        ("4915112345678", "Jonas", 8, "How much is a standard service?"),
        ("33612345678", "Élodie", 30, "Bonjour, vous louez des vélos électriques ?"),
    ):
        who = contact(phone, name, hours)
        asked = say(who, "customer", hours * 60, text)
        say(
            who,
            "bot",
            hours * 60 - 1,
            "We are closed on Easter Monday.",
            "read",
            reply_to_id=asked.id,
        )
    waiting = contact("32499887766", "Mathilde Vandenberghe-Dupont", 1)
    say(waiting, "customer", 62, "My battery died after two days, I want my money back.")
    say(waiting, "bot", 61, "I'm passing you to someone from our team.", "read")
    waiting.paused = True
    waiting.needs_person_since = now - timedelta(minutes=61)
    waiting.needs_person_why = "Asked for a person: wants a refund for a battery that died"
    return ana, waiting


def _log(now: datetime, ana: Contact) -> int:
    def row(minutes_ago, **fields):
        values = {
            "channel": "whatsapp",
            "contact_id": ana.id,
            "status": "ok",
            "http_status": 200,
            "model_requested": "anthropic/claude-sonnet-4-6",
            "model_used": "anthropic/claude-sonnet-4-6",
            "latency_ms": 1840,
            "prompt_tokens": 612,
            "completion_tokens": 88,
            "cost": 0.003156,
            **fields,
        }
        log = RequestLog(created_at=now - timedelta(minutes=minutes_ago), **values)
        db.session.add(log)
        db.session.flush()
        return log

    question = db.session.query(Message).filter_by(contact_id=ana.id, direction="in").first()
    failed = row(
        95.5,
        message_id=question.id,
        status="error",
        http_status=404,
        model_used=None,
        latency_ms=412,
        prompt_tokens=None,
        completion_tokens=None,
        cost=None,
        model_requested="google/gemini-3.5-flash",
        error_kind="model_not_found",
        error_message="No endpoints found for google/gemini-3.5-flash.",
        request_body=json.dumps(
            {
                "model": "google/gemini-3.5-flash",
                "messages": [
                    {"role": "system", "content": PROMPT},
                    {"role": "user", "content": LONG_QUESTION},
                ],
            }
        ),
        response_body=json.dumps(
            {"error": {"code": 404, "message": "No endpoints found for google/gemini-3.5-flash."}}
        ),
    )
    row(
        95.2,
        message_id=question.id,
        attempt=2,
        status="error",
        http_status=429,
        model_used=None,
        cost=None,
        prompt_tokens=None,
        completion_tokens=None,
        latency_ms=230,
        error_kind="rate_limited",
        error_message="Rate limit exceeded: free-models-per-min",
    )
    row(
        95,
        message_id=question.id,
        attempt=3,
        model_requested=OTHER_LONG_MODEL,
        model_used=OTHER_LONG_MODEL,
        provider="Together",
        cost=0.0,
    )
    row(
        94,
        message_id=question.id,
        upstream="whatsapp",
        model_requested=None,
        model_used=None,
        prompt_tokens=None,
        completion_tokens=None,
        cost=None,
        latency_ms=310,
    )
    row(
        70.5,
        operation="media",
        upstream="whatsapp",
        model_requested=None,
        model_used=None,
        prompt_tokens=None,
        completion_tokens=None,
        cost=None,
        latency_ms=520,
    )
    row(
        50.5,
        operation="transcription",
        model_requested="openai/gpt-4o-mini-transcribe",
        model_used="openai/gpt-4o-mini-transcribe",
        latency_ms=2310,
        cost=0.00031,
    )
    row(
        49,
        upstream="whatsapp",
        status="error",
        http_status=400,
        model_requested=None,
        model_used=None,
        prompt_tokens=None,
        completion_tokens=None,
        cost=None,
        error_kind="whatsapp_window",
        error_message="(#131047) Re-engagement message",
    )
    row(
        12 * 60,
        channel="flow",
        contact_id=None,
        model_requested=LONG_MODEL,
        model_used=LONG_MODEL,
        latency_ms=5230,
        cost=0.0,
    )
    row(
        20 * 60,
        channel="playground",
        contact_id=None,
        status="error",
        http_status=None,
        model_used=None,
        cost=None,
        prompt_tokens=None,
        completion_tokens=None,
        latency_ms=30000,
        error_kind="timeout",
        error_message="No answer within 30 seconds",
    )
    row(19 * 60, channel="playground", contact_id=None)  # the owner's first answer in Try it
    for day in range(1, 13):  # the days before: enough for the dashboard's charts
        for n in range(3 + day % 4):
            row(day * 24 * 60 + n * 37, cost=0.0021 + n / 10000, latency_ms=900 + 140 * n)
        if day % 3 == 0:
            row(
                day * 24 * 60 + 200,
                status="error",
                http_status=402,
                model_used=None,
                cost=None,
                prompt_tokens=None,
                completion_tokens=None,
                latency_ms=180,
                error_kind="no_credits",
                error_message="Insufficient credits",
            )
    return failed.id


def _trial(now: datetime, ana: Contact) -> int:
    photo = db.session.query(Message).filter_by(contact_id=ana.id, type="image").one()
    models = ["anthropic/claude-sonnet-4-6", "openai/gpt-4o-mini", LONG_MODEL]
    questions = [
        {
            "text": "Do you repair cargo bikes too, and how long does a service take?",
            "message_id": None,
            "contact_id": None,
        },
        {"text": photo.text, "message_id": photo.id, "contact_id": ana.id},
    ]
    trial = Trial(
        author="owner",
        prompt=PROMPT + "\nAlways end with the opening hours.",
        models=json.dumps(models),
        source="replay",
        last_n=2,
        questions=json.dumps(questions),
        state="done",
        created_at=now - timedelta(hours=4),
        finished_at=now - timedelta(hours=4),
    )
    db.session.add(trial)
    db.session.flush()
    answers = {
        "anthropic/claude-sonnet-4-6": (
            "Yes, we repair cargo bikes of every brand. A standard service takes two working "
            "days. We are open Tuesday to Saturday, 9:00–18:00.",
            "That green layer is corrosion on the connector. Bring the bike in and we clean it "
            "and replace the seal under warranty. Open Tuesday to Saturday, 9:00–18:00.",
        ),
        "openai/gpt-4o-mini": (
            "Yes! Cargo bikes are welcome; a service takes about two days.",
            "It looks like corrosion. We can fix it in the shop.",
        ),
    }
    for column, model in enumerate(models):
        for index, question in enumerate(questions):
            cell = TrialCell(
                trial_id=trial.id,
                model=model,
                question=index,
                message_id=question["message_id"],
                finished_at=trial.finished_at,
            )
            if model in answers:
                cell.state, cell.reply = "done", answers[model][index]
                cell.latency_ms, cell.prompt_tokens = 1400 + 600 * column + 90 * index, 640
                cell.completion_tokens, cell.cost = 70 + 10 * index, 0.0029 / (1 + 9 * column)
            else:
                cell.state, cell.error_kind = "failed", "rate_limited"
                cell.error_message = "Rate limit exceeded: free-models-per-min."
            db.session.add(cell)
    return trial.id


def _gaps(now: datetime, ana: Contact) -> None:
    """Questions the assistant could not answer: one asked often, one long, one answered."""
    asked = [
        ("Do you rent cargo bikes for a weekend, and do I need to bring an ID?", 3, ana.id),
        (LONG_QUESTION, 1, ana.id),
        ("Can I pay with Bitcoin?", 1, None),
    ]
    for question, times, contact_id in asked:
        for hours in range(times):
            gaps.record([Given("cannot_answer")], question, "whatsapp", contact_id, None)
            db.session.flush()
            latest = db.session.scalars(select(GapAsk).order_by(GapAsk.id.desc())).first()
            latest.asked_at = now - timedelta(hours=5 * hours + 1)
    paid = db.session.scalar(
        select(KnowledgeGap.id).where(KnowledgeGap.key == "can i pay with bitcoin")
    )
    db.session.commit()
    gaps.answer(paid, "Can I pay with Bitcoin?", "No: cash, card and bank transfer.", "owner")


def photo_png(width: int = 320, height: int = 240) -> bytes:
    """A picture of a road under a sky, drawn by hand: a real PNG the browser shows."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = []
    for y in range(height):
        if y < height * 0.6:  # sky, lighter towards the horizon
            shade = int(150 + 90 * y / (height * 0.6))
            pixel = bytes((shade - 60, shade - 10, 255))
            rows.append(b"\x00" + pixel * width)
        else:  # grass beside a grey road that widens towards the viewer
            depth = (y - height * 0.6) / (height * 0.4)
            half = int(width * (0.05 + 0.35 * depth))
            grass, road = bytes((70, 150, 60)), bytes((110, 110, 115))
            side = width // 2 - half
            rows.append(
                b"\x00" + grass * side + road * (2 * half) + grass * (width - side - 2 * half)
            )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )

"""Database tables, as typed SQLAlchemy 2 mappings; the schema itself changes only by migration."""

import json
from datetime import UTC, datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .extensions import db
from .states import CellState, SourceState, TrialState, TurnState

# The channel of the admin's own questions: the Try it page's test customers, and trials.
PLAYGROUND = "playground"


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class AdminSession(db.Model):
    """A signed-in browser. The cookie carries a random token; only its SHA-256 is kept here,
    and a session ends when its row goes (sign-out, a password change, or the account page)."""

    __tablename__ = "admin_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ThrottleCounter(db.Model):
    """Failed credentials counted for one key (a username at an address, a username, an
    address, an admin's password form) since `window_start`. Each try is counted before its
    password is checked, by a conditional UPDATE, so concurrent tries cannot slip past."""

    __tablename__ = "throttle_counters"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_start: Mapped[datetime] = mapped_column(default=utcnow)


class Setting(db.Model):
    """One of the owner's settings; secrets hold Fernet tokens, never plain text."""

    __tablename__ = "settings"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AppState(db.Model):
    """Something the app remembers (the last key test, dashboard figures, worker heartbeats)."""

    __tablename__ = "app_state"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AiModel(db.Model):
    """A row of the model table; `position` is the fallback order.

    `role`: default (answers; exactly one, a unique partial index), fallback (tried when the
    default fails), available (flows and trials may use it, never a silent fallback), disabled.
    """

    __tablename__ = "ai_models"
    __table_args__ = (
        Index(
            "ix_ai_models_one_default",
            "role",
            unique=True,
            sqlite_where=text("role = 'default'"),
            postgresql_where=text("role = 'default'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[str] = mapped_column(String(200), unique=True)
    label: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="available")
    position: Mapped[int] = mapped_column(default=0, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PromptVersion(db.Model):
    """Every saved system prompt; the newest is the current one."""

    __tablename__ = "prompt_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    author: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(String(200), default="")
    restored_from_id: Mapped[int | None] = mapped_column(ForeignKey("prompt_versions.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Contact(db.Model):
    """A customer on WhatsApp, known by phone number or, for username users, by their user id.

    `channel` is `playground` for an admin's test customer on the Try it page (see
    webapp/replies/try_it.py): answered like any customer, counted as none.
    """

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(128), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(128))
    profile_name: Mapped[str | None] = mapped_column(String(256))
    username: Mapped[str | None] = mapped_column(String(128))
    paused: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_inbound_at: Mapped[datetime | None] = mapped_column(index=True)
    channel: Mapped[str] = mapped_column(  # whatsapp, or playground: the Try it page's
        String(16), default="whatsapp", server_default="whatsapp"
    )
    away_sent_at: Mapped[datetime | None]  # the last away message (outside opening hours)
    # A person's hold (webapp/people): `paused` with `resume_at` set ends by itself then (a
    # team member's last reply plus `takeover_minutes`); without it, only Done ends it.
    resume_at: Mapped[datetime | None]
    needs_person_since: Mapped[datetime | None] = mapped_column(index=True)  # "needs you"
    needs_person_why: Mapped[str | None] = mapped_column(String(300))
    unanswered_in_row: Mapped[int] = mapped_column(default=0, server_default="0")
    saved_name: Mapped[str | None] = mapped_column(String(256))  # from the Business app
    # A per-customer limit (webapp/money/limits.py): past it, `limited_until` is when they are
    # answered again (told once, then silence); Lift clears it and counts from `limit_lifted_at`.
    limited_until: Mapped[datetime | None]
    limited_why: Mapped[str | None] = mapped_column(String(300))
    limit_lifted_at: Mapped[datetime | None]


class Turn(db.Model):
    """One answer to a customer: the messages it takes, the lease of the run answering it.

    `state`: open → answered | failed | paused. At most one open turn per contact (a unique
    partial index), so a customer's messages are answered one turn at a time, in order. A run
    holds the turn while `token` is its own and `lease_until` has not passed; every write of a
    run is conditional on both, so a run that lost its lease can never send or finish.
    """

    __tablename__ = "turns"
    __table_args__ = (
        Index(
            "ix_turns_open_contact",
            "contact_id",
            unique=True,
            sqlite_where=text("state = 'open'"),
            postgresql_where=text("state = 'open'"),
        ),
        Index("ix_turns_state_lease", "state", "lease_until"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), default=TurnState.OPEN)
    token: Mapped[str | None] = mapped_column(String(32))
    holder: Mapped[str | None] = mapped_column(String(128))  # host:pid of the worker
    lease_until: Mapped[datetime | None]
    runs: Mapped[int] = mapped_column(default=0)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class Message(db.Model):
    """One WhatsApp message, in (from the customer) or out (from the bot or a person).

    Inbound `state`: received → processing (taken by a turn) → answered | failed | paused,
    or ignored (nothing to answer). Outbound `state`: queued → sending → sent → delivered →
    read, or failed, or unknown (it went out, but no answer came back: maybe it arrived).
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_contact_created", "contact_id", "created_at"),
        # Also the queue: waiting messages in arrival order, the first few read per claim.
        Index("ix_messages_direction_state_id", "direction", "state", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # No cascade: a customer goes only once their messages have gone (retention, forget), so
    # a message stored a moment ago is never deleted with a customer thought idle.
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"))
    turn_id: Mapped[int | None] = mapped_column(
        ForeignKey("turns.id", ondelete="SET NULL"), index=True
    )
    direction: Mapped[str] = mapped_column(String(3))  # in, out
    author: Mapped[str] = mapped_column(String(16))  # customer, bot, human
    # Which of the team wrote a `human` message: an admin's username, a staff member's
    # +number (answering from their phone), or the WhatsApp Business app (an echo).
    sent_by: Mapped[str | None] = mapped_column(String(128))
    wa_message_id: Mapped[str | None] = mapped_column(String(256), unique=True)
    type: Mapped[str] = mapped_column(String(32), default="text")
    text: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    reply_to_id: Mapped[int | None] = mapped_column(  # a reply outlives what it quoted
        ForeignKey("messages.id", ondelete="SET NULL"), index=True
    )
    part: Mapped[int] = mapped_column(default=0)  # place of this part in a split reply
    channel: Mapped[str] = mapped_column(  # whatsapp, flow (a flow builder's), or playground
        String(16), default="whatsapp", server_default="whatsapp"
    )
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[int | None]
    error_detail: Mapped[str | None] = mapped_column(Text)
    raw: Mapped[str | None] = mapped_column(Text)
    # A received photo, voice note, video, document or sticker, kept in the instance's media/
    # folder under its sha256 (media_file); several messages may share one file. `media_text`
    # is what was read from it: a voice note's transcript, a PDF's text (`text` stays the
    # caption); `media_name` a document's file name.
    media_file: Mapped[str | None] = mapped_column(String(64), index=True)
    media_mime: Mapped[str | None] = mapped_column(String(128))
    media_size: Mapped[int | None]
    media_name: Mapped[str | None] = mapped_column(String(255))
    media_text: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    contact: Mapped[Contact] = relationship()


class PendingStatus(db.Model):
    """A delivery status that arrived before its send was recorded, kept until it can apply."""

    __tablename__ = "pending_statuses"

    id: Mapped[int] = mapped_column(primary_key=True)
    wa_message_id: Mapped[str] = mapped_column(String(256), index=True)
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[int | None]
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class RequestLog(db.Model):
    """One attempt at an upstream call (a model or a WhatsApp send), with how it went."""

    __tablename__ = "request_log"
    __table_args__ = (
        Index("ix_request_log_status_created", "status", "created_at"),
        Index("ix_request_log_kind_created", "error_kind", "created_at"),
        Index("ix_request_log_channel_created", "channel", "created_at"),
        Index("ix_request_log_model_requested_created", "model_requested", "created_at"),
        Index("ix_request_log_model_used_created", "model_used", "created_at"),
        Index("ix_request_log_contact_created", "contact_id", "created_at"),
        Index("ix_request_log_flow_token_created", "flow_token_id", "created_at"),
        Index(
            "ix_request_log_customer_id",
            "customer_id",
            sqlite_where=text("customer_id IS NOT NULL"),
            postgresql_where=text("customer_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    channel: Mapped[str] = mapped_column(String(16))  # whatsapp, flow, playground
    upstream: Mapped[str] = mapped_column(String(16), default="openrouter")  # or whatsapp
    # What was called when it was not a chat or a send: "media" (a customer's file fetched
    # from WhatsApp), "transcription" (a voice note turned into text), "reading" (a PDF read).
    operation: Mapped[str | None] = mapped_column(String(16))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    # The number or user id of a customer no contact row holds (a message for another phone
    # number ID is logged, not stored), so that forgetting them finds the row.
    customer_id: Mapped[str | None] = mapped_column(String(128))
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True
    )
    # The flow key a flow's call came with: its limits count its calls and their cost. No
    # foreign key: keys are revoked, never deleted (and SQLite would copy the log to add one).
    flow_token_id: Mapped[int | None]
    attempt: Mapped[int] = mapped_column(default=1)
    model_requested: Mapped[str | None] = mapped_column(String(200))
    model_used: Mapped[str | None] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(8))  # ok, error
    http_status: Mapped[int | None]
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int | None]
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    cost: Mapped[float | None]
    generation_id: Mapped[str | None] = mapped_column(String(200))
    request_body: Mapped[str | None] = mapped_column(Text)
    response_body: Mapped[str | None] = mapped_column(Text)
    # JSON list of the labels of the knowledge the model was given ("FAQ › Delivery times")
    knowledge: Mapped[str | None] = mapped_column(Text)

    @property
    def knowledge_labels(self) -> list[str]:
        return labels_of(self.knowledge)


def labels_of(stored: str | None) -> list[str]:
    """The knowledge labels a row keeps as a JSON list; none when empty or unreadable."""
    try:
        found = json.loads(stored) if stored else []
    except ValueError:
        return []
    return [str(label) for label in found] if isinstance(found, list) else []


class ForgottenMessage(db.Model):
    """A WhatsApp message id of a message forgotten or deleted by retention, kept a while so
    that a delivery of it again (Meta's, or a captured one replayed) is dropped. Only the
    id's SHA-256 is kept: Meta's ids carry the customer's number."""

    __tablename__ = "forgotten_messages"

    wa_message_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    forgotten_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class FlowToken(db.Model):
    """A bearer token for the flow endpoint; only its SHA-256 is kept, never the token."""

    __tablename__ = "flow_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display: Mapped[str] = mapped_column(String(16))  # sb-…a1b2, enough to tell tokens apart
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    requests: Mapped[int] = mapped_column(default=0)
    revoked_at: Mapped[datetime | None]
    # The key's own limits (webapp/money/limits.py; None = none): its requests in any hour and
    # its cost in the owner's day. Past one, 429 until `limited_until`; Lift counts afresh.
    max_requests_per_hour: Mapped[int | None]
    max_cost_per_day: Mapped[float | None]
    limited_until: Mapped[datetime | None]
    limit_lifted_at: Mapped[datetime | None]


class FlowTokenFailure(db.Model):
    """A request to the flow endpoint with a missing or wrong token, kept for the throttle."""

    __tablename__ = "flow_token_failures"
    __table_args__ = (Index("ix_flow_token_failures_address_at", "address", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Trial(db.Model):
    """A side-by-side run of models (and maybe a draft prompt) on typed or replayed questions.

    `questions` is JSON: [{"text", "message_id", "contact_id"}], one per row of the grid; a
    question whose customer was forgotten (or whose message retention deleted) is null, so the
    cells of the others keep their index.
    `prompt` is the draft the owner tried, or None for the saved prompt. `state`: running → done.
    """

    __tablename__ = "trials"

    id: Mapped[int] = mapped_column(primary_key=True)
    author: Mapped[str] = mapped_column(String(64))
    prompt: Mapped[str | None] = mapped_column(Text)
    models: Mapped[str] = mapped_column(Text)  # JSON list of model IDs, in column order
    source: Mapped[str] = mapped_column(String(16))  # typed, replay
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    last_n: Mapped[int | None]
    questions: Mapped[str] = mapped_column(Text)  # JSON
    state: Mapped[str] = mapped_column(String(16), default=TrialState.RUNNING)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    finished_at: Mapped[datetime | None]


class TrialCell(db.Model):
    """One model's answer to one question of a trial, claimed by a worker like a turn is.

    `state`: pending → running → done | failed. A running cell whose `lease_until` passed
    (its worker died) is claimed again; every write of a run is conditional on its `token`.
    """

    __tablename__ = "trial_cells"
    __table_args__ = (Index("ix_trial_cells_state_lease", "state", "lease_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(200))
    question: Mapped[int]  # index into the trial's questions
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(16), default=CellState.PENDING)
    reply: Mapped[str | None] = mapped_column(Text)
    latency_ms: Mapped[int | None]
    prompt_tokens: Mapped[int | None]
    completion_tokens: Mapped[int | None]
    cost: Mapped[float | None]
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_message: Mapped[str | None] = mapped_column(Text)
    token: Mapped[str | None] = mapped_column(String(32))
    holder: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    runs: Mapped[int] = mapped_column(default=0)
    finished_at: Mapped[datetime | None]
    knowledge: Mapped[str | None] = mapped_column(Text)  # JSON labels, as on a log row

    @property
    def knowledge_labels(self) -> list[str]:
        return labels_of(self.knowledge)


class KnowledgeSource(db.Model):
    """One thing the owner gave the assistant to know: a file, pasted text, one FAQ entry
    (`name` the question, `text` the answer) or a web page.

    `state`: pending (to be read by a worker) → reading (leased until `lease_until`) → ready
    | failed (`error` says why, in the owner's words). `text` is the extracted text the chunks
    are cut from; a file itself is kept in the instance folder under `filename`.
    """

    __tablename__ = "knowledge_sources"
    __table_args__ = (Index("ix_knowledge_sources_state_lease", "state", "lease_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(500), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # file, text, faq, url
    file_format: Mapped[str | None] = mapped_column(String(16))  # pdf, txt, md, csv, docx, html
    filename: Mapped[str | None] = mapped_column(String(300))  # in the instance's knowledge folder
    url: Mapped[str | None] = mapped_column(Text)
    size_bytes: Mapped[int | None]
    text: Mapped[str] = mapped_column(Text, default="")
    chars: Mapped[int] = mapped_column(default=0)
    tokens: Mapped[int] = mapped_column(default=0)  # approximate
    state: Mapped[str] = mapped_column(String(16), default=SourceState.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)  # e.g. "cut at 2 million characters"
    lease_until: Mapped[datetime | None]
    author: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnowledgeChunk(db.Model):
    """A piece of a source's text, the unit that is retrieved. `label` says where it comes
    from ("Menu.pdf, page 2", "FAQ › Delivery times"). Full-text search reads a table the
    migration keeps in step with this one (SQLite: FTS5 `knowledge_fts`; PostgreSQL: the
    generated `search` tsvector column), unmapped here."""

    __tablename__ = "knowledge_chunks"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_sources.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    label: Mapped[str] = mapped_column(String(600))
    text: Mapped[str] = mapped_column(Text)
    tokens: Mapped[int] = mapped_column(default=0)


class KnowledgeVector(db.Model):
    """A chunk's embedding by one model: `vector` little-endian float32, `bits` its signs
    (one bit a dimension), which a search compares first."""

    __tablename__ = "knowledge_vectors"
    __table_args__ = (UniqueConstraint("chunk_id", "model", name="uq_knowledge_vectors_chunk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    chunk_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_chunks.id", ondelete="CASCADE"), index=True
    )
    model: Mapped[str] = mapped_column(String(200), index=True)
    bits: Mapped[bytes] = mapped_column(LargeBinary)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class KnowledgeGap(db.Model):
    """A question the assistant could not answer from what it knows, grouped by `key` (the
    question in a normal form). `state`: open → answered (by `source_id`, an FAQ entry)."""

    __tablename__ = "knowledge_gaps"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    source_id: Mapped[int | None] = mapped_column(
        ForeignKey("knowledge_sources.id", ondelete="SET NULL")
    )
    answered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GapAsk(db.Model):
    """One time a customer asked a gap's question: forgetting the customer deletes it (and
    a gap nobody asked any more goes with it)."""

    __tablename__ = "gap_asks"

    id: Mapped[int] = mapped_column(primary_key=True)
    gap_id: Mapped[int] = mapped_column(
        ForeignKey("knowledge_gaps.id", ondelete="CASCADE"), index=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    question: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16))  # whatsapp, flow, playground
    asked_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class OwnerAlert(db.Model):
    """One alert to one of the team that a customer needs a person (or, without a contact,
    that the budget is nearly or fully spent: `reason` is then the whole message): a WhatsApp
    message to a staff number (`to`: its wa_id) or an e-mail (`to`: the addresses). `state`:
    queued → sending → sent, or failed, or unknown (the send may have arrived). A staff
    member's reply quoting the alert (WhatsApp's `context.id`) finds the customer by
    `wa_message_id`."""

    __tablename__ = "owner_alerts"
    __table_args__ = (Index("ix_owner_alerts_state_id", "state", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))  # whatsapp, email
    to: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="queued")
    template: Mapped[str | None] = mapped_column(String(512))  # sent as this template
    wa_message_id: Mapped[str | None] = mapped_column(String(256), unique=True)
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error_detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WhatsAppTemplate(db.Model):
    """A message template of the business account, as Meta last listed it (`templates sync`):
    its status (APPROVED, PENDING, REJECTED, PAUSED, DISABLED…), category, language and
    components (JSON, as Meta gives them), so a send can fill its variables."""

    __tablename__ = "whatsapp_templates"
    __table_args__ = (UniqueConstraint("name", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    meta_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(512))
    language: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    parameter_format: Mapped[str | None] = mapped_column(String(16))  # POSITIONAL or NAMED
    components: Mapped[str] = mapped_column(Text, default="[]")
    rejected_reason: Mapped[str | None] = mapped_column(Text)
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


class WhatsAppCharge(db.Model):
    """What Meta says it charges for one message, from the `pricing` object of its delivery
    statuses: billable or not, and the category (marketing, utility, authentication, service…).
    One row per message, written by its first status that carries `pricing`; counted per month
    on the cost card (counts, not prices: Meta's rates depend on the customer's country)."""

    __tablename__ = "whatsapp_charges"

    id: Mapped[int] = mapped_column(primary_key=True)
    wa_message_id: Mapped[str] = mapped_column(String(256), unique=True)
    billable: Mapped[bool]
    category: Mapped[str | None] = mapped_column(String(32))
    pricing_model: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

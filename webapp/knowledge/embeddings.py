"""Embeddings of the chunks, computed by the worker through the OpenRouter key.

The worker's `embed_chunks` job gives each chunk lacking a vector by the current
`embedding_model` one, `BATCH` chunks a call, for at most `RUN_SECONDS` a run. A changed
model is a new set of vectors: the old model's stay (and are not used) until the new one has
every chunk, then they go. A failed call is logged and kept as the state `embeddings`, which
the Knowledge page shows; the job then waits, longer after each failure in a row, up to an
hour, so a wrong key or an empty account does not mean a call every few seconds. Several
workers may run it at once on PostgreSQL: a vector another one stored first is skipped.
"""

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import delete, func, select

from .. import catalog_data, requestlog, settings, state
from ..clients.openrouter_errors import OpenRouterError
from ..extensions import db, dialect_insert
from ..models import KnowledgeChunk, KnowledgeVector, utcnow
from ..money import budget
from ..requestlog import Origin
from ..snapshot import Snapshot
from ..troubleshooting import TROUBLES, ErrorKind
from . import vectors

BATCH = 64  # chunks a call: OpenRouter takes more, but a failure then wastes less
MAX_CHARS = 8000  # of a chunk sent: about 2,000 tokens, well within every model's input
RUN_SECONDS = 8.0  # a run leaves the worker's other periodic jobs their turn
BACKOFF = (30, 120, 600, 3600)  # seconds before trying again after 1, 2, 3, 4+ failures
FORGET_EVERY = 60.0  # seconds: a failure cleared once a minute at most, not at every question
JOB_STATE = "embeddings"  # the job's last failure
QUESTION_STATE = "embeddings_question"  # the last failure to embed a customer's question
NO_KEY = "Add your OpenRouter key on the Settings page: until then knowledge is found by its words."
INDEXING = Origin("knowledge")  # the log's channel for the worker's own calls


@dataclass(frozen=True)
class Progress:
    model: str  # the embedding model in force; empty: full-text only
    done: int  # chunks with an embedding by that model
    total: int  # chunks in all
    failing: str | None = None  # why the last attempt failed, in the owner's words
    failed_at: datetime | None = None


def progress() -> Progress:
    """How far the chunks are embedded by the model in force, and the last failure."""
    model = str(settings.get("embedding_model")).strip()
    total = db.session.scalar(select(func.count()).select_from(KnowledgeChunk)) or 0
    if not model:
        return Progress("", 0, total)
    done = db.session.scalar(
        select(func.count()).select_from(KnowledgeVector).where(KnowledgeVector.model == model)
    )
    if not settings.is_set("openrouter_api_key"):
        return Progress(model, done or 0, total, NO_KEY)
    failures = [f for f in (state.get(JOB_STATE), state.get(QUESTION_STATE)) if f]
    if not failures:
        return Progress(model, done or 0, total)
    last = max(failures, key=lambda failure: failure["at"])
    return Progress(model, done or 0, total, last["message"], datetime.fromisoformat(last["at"]))


def _failure_words(error: OpenRouterError, what: str) -> str:
    trouble = TROUBLES.get(error.kind)
    fix = f" {trouble.fix}" if trouble else ""
    return f"{what} failed: {error.message}{fix}"


def embed_question(question: str, snap, origin: Origin, timeout: float) -> list[float] | None:
    """The question's vector by `embedding_model`, or None when the call failed (logged, and
    shown on the Knowledge page; the search then goes by words alone)."""
    global _forgotten_at
    model = str(snap["embedding_model"]).strip()
    body = {"model": model, "input": [question]}
    looked = budget.look(snap)
    if looked.spent is not None:  # no call: the words find the knowledge meanwhile
        words = f"Finding knowledge by meaning waits: {looked.words()}"
        state.record_seldom(QUESTION_STATE, {"message": words})
        _forgotten_at = -math.inf
        return None
    try:
        result = snap.openrouter().embed([question], model, timeout=timeout)
    except OpenRouterError as error:
        requestlog.add_error(origin, 1, error, upstream="openrouter", body=body,
                             operation="embedding")  # fmt: skip
        db.session.commit()
        words = _failure_words(error, "Finding knowledge by meaning for a question")
        state.record_seldom(QUESTION_STATE, {"message": words})
        _forgotten_at = -math.inf  # the next success clears it at once
        return None
    _price(snap, result)
    requestlog.insert(requestlog.embedding_ok(origin, body, result))
    if time.monotonic() - _forgotten_at >= FORGET_EVERY:  # works again: the page stops
        _forgotten_at = time.monotonic()  # showing the last failure, a minute later at most
        state.forget(QUESTION_STATE)
    else:
        db.session.commit()
    return result.vectors[0]


_forgotten_at = -math.inf  # when this process last cleared a question's failure


def _price(snap, result) -> None:
    """The answer's own cost, else the catalog's price for the tokens (no output tokens)."""
    if result.cost is None and result.prompt_tokens is not None:
        result.cost = catalog_data.price(snap.catalog, result.model, result.prompt_tokens, 0)


def embed_chunks() -> None:
    """The worker's job: embed the chunks that lack a vector by the current model."""
    snap = Snapshot.load(current_app.config)
    model = str(snap["embedding_model"]).strip()
    if not model or not str(snap["openrouter_api_key"]) or _waiting():
        return
    client, ends = snap.openrouter(), time.monotonic() + RUN_SECONDS
    while time.monotonic() < ends:
        batch = db.session.execute(
            select(KnowledgeChunk.id, KnowledgeChunk.label, KnowledgeChunk.text)
            .where(~_has_vector(model))
            .order_by(KnowledgeChunk.id)
            .limit(BATCH)
        ).all()
        db.session.commit()  # no transaction held while the call waits
        if not batch:
            _finish(model)
            return
        if _budget_spent(snap):
            return
        texts = [f"{label}\n{text}"[:MAX_CHARS] for _, label, text in batch]
        body = {"model": model, "input": f"{len(texts)} parts of knowledge"}
        try:
            result = client.embed(texts, model, timeout=float(snap["request_timeout"]))
        except OpenRouterError as error:
            requestlog.add_error(INDEXING, 1, error, upstream="openrouter", body=body,
                                 operation="embedding")  # fmt: skip
            db.session.commit()
            _failed(error)
            return
        _price(snap, result)
        _store(model, [chunk_id for chunk_id, _, _ in batch], result.vectors)
        requestlog.insert(requestlog.embedding_ok(INDEXING, body, result))
        db.session.commit()
        if state.get(JOB_STATE) is not None:
            state.forget(JOB_STATE)


def _budget_spent(snap) -> bool:
    """Whether a budget is spent: the job waits (no call), the Knowledge page says why, and
    it goes on by itself once the day or month turns or the budget is raised. One log row
    when it starts waiting, not one a run."""
    try:
        budget.check(snap)
    except OpenRouterError as error:
        earlier = state.get(JOB_STATE) or {}
        if earlier.get("kind") != str(ErrorKind.BUDGET_EXCEEDED):
            requestlog.add_error(INDEXING, 1, error, upstream="openrouter",
                                 body={"model": str(snap["embedding_model"])},
                                 operation="embedding")  # fmt: skip
            db.session.commit()
        words = f"Embedding the knowledge waits: {error.message}"
        state.record_seldom(JOB_STATE, {"message": words, "failures": 0,
                                        "kind": str(ErrorKind.BUDGET_EXCEEDED)})  # fmt: skip
        return True
    return False


def _has_vector(model: str):
    return (
        select(KnowledgeVector.id)
        .where(KnowledgeVector.chunk_id == KnowledgeChunk.id, KnowledgeVector.model == model)
        .exists()
    )


def _store(model: str, chunk_ids: list[int], values: list[list[float]]) -> None:
    rows = []
    for chunk_id, raw in zip(chunk_ids, values, strict=True):
        vector = vectors.normalised(raw)
        bits, data = vectors.sign_bits(vector), vectors.packed(vector)
        rows.append({"chunk_id": chunk_id, "model": model, "created_at": utcnow(),
                     "bits": bits, "vector": data})  # fmt: skip
    # A chunk removed during the call has no row left to point at: only those still there.
    present = set(
        db.session.scalars(select(KnowledgeChunk.id).where(KnowledgeChunk.id.in_(chunk_ids)))
    )
    rows = [row for row in rows if row["chunk_id"] in present]
    if rows:  # another worker may have stored some of them first: theirs stay
        db.session.execute(dialect_insert(KnowledgeVector).values(rows).on_conflict_do_nothing())


def _finish(model: str) -> None:
    """Every chunk has a vector by `model`: those of other models are of no more use."""
    db.session.execute(delete(KnowledgeVector).where(KnowledgeVector.model != model))
    db.session.commit()


def _failed(error: OpenRouterError) -> None:
    earlier = state.get(JOB_STATE) or {}
    failures = int(earlier.get("failures", 0)) + 1
    words = _failure_words(error, "Finding knowledge by meaning (embedding the knowledge)")
    state.record(JOB_STATE, {"message": words, "failures": failures, "kind": str(error.kind)})


def _waiting() -> bool:
    """Whether the job is still waiting after its last failure."""
    failure = state.get(JOB_STATE)
    if not failure or failure.get("kind") == str(ErrorKind.BUDGET_EXCEEDED):
        return False  # a spent budget is looked at each run: no backoff
    pause = BACKOFF[min(int(failure.get("failures", 1)), len(BACKOFF)) - 1]
    return datetime.now(UTC) < datetime.fromisoformat(failure["at"]) + timedelta(seconds=pause)

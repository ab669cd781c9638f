"""The worker's side of trials: claim pending cells, ask each cell's model, write its answer.

Cells are claimed like turns: a conditional UPDATE (… WHERE state = 'pending', or 'running'
with its lease run out) that exactly one worker wins, with rows another worker is claiming
skipped on PostgreSQL (FOR UPDATE SKIP LOCKED). A claim locks and writes only the cells it takes,
so it never waits for another worker's claim. The claim's token fences the answer's write.
A cell's lease covers its whole answer ('Answer within' and a margin), so no heartbeat renews
it: the cell of a worker that died is claimed again when the lease runs out, MAX_RUNS times
at most. Each cell asks one model through the reply pipeline, without fallback: a trial
compares models, so a failure is shown, not hidden behind another model's answer.
"""

import json
import logging
import secrets
from contextlib import nullcontext
from dataclasses import dataclass, replace

from sqlalchemy import Float, and_, bindparam, or_, select, update

from .. import media_store, requestlog, settings, trials
from ..clients.openrouter_errors import OpenRouterError
from ..clients.retry import Deadline
from ..crypto import UNREADABLE, SecretUnreadable
from ..extensions import database_now, db
from ..knowledge import given
from ..models import Message, Trial, TrialCell, utcnow
from ..replies import media, pipeline
from ..replies.leases import MAX_RUNS
from ..requestlog import Origin
from ..snapshot import Snapshot
from ..states import CellState
from ..troubleshooting import ErrorKind

log = logging.getLogger(__name__)
LEASE_MARGIN = 30.0  # seconds past the cell's own deadline before another worker takes it
INSIDE = "Switchboard failed while asking this model; the server log has the details."

C, TR = TrialCell.__table__.c, Trial.__table__.c
CLAIMABLE = or_(
    C.state == CellState.PENDING,
    and_(C.state == CellState.RUNNING, C.lease_until < database_now()),  # the database's clock
)
READY = (
    select(C.id)
    .where(CLAIMABLE)
    .order_by(C.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
TAKE = (
    update(TrialCell.__table__)
    .where(C.id == bindparam("cell"), CLAIMABLE)
    .values(
        state=CellState.RUNNING,
        token=bindparam("new_token"),
        holder=bindparam("new_holder"),
        lease_until=database_now(bindparam("lease_seconds", type_=Float)),
        runs=C.runs + 1,
    )
    .returning(C.trial_id, C.model, C.question, C.runs)
)
# The trial's row is locked before its cells are counted: of two workers ending its last two
# cells at once on PostgreSQL, the second counts after the first committed.
LOCK_TRIAL = select(TR.id).where(TR.id == bindparam("trial")).with_for_update()


@dataclass(frozen=True)
class Claim:
    cell_id: int
    trial_id: int
    model: str
    question: int
    runs: int
    token: str


def claim(holder: str, limit: int) -> list[Claim]:
    """Up to `limit` cells for this worker, pending ones and those of stopped workers."""
    ready = db.session.scalars(READY, {"limit": limit}).all()
    if not ready:
        db.session.commit()
        return []
    lease_seconds = float(settings.get("answer_within_seconds")) + LEASE_MARGIN
    claims = []
    for cell_id in ready:
        token = secrets.token_hex(16)
        values = {"cell": cell_id, "new_token": token, "new_holder": holder,
                  "lease_seconds": lease_seconds}  # fmt: skip
        if row := db.session.execute(TAKE, values).first():
            claims.append(Claim(cell_id, row.trial_id, row.model, row.question, row.runs, token))
    db.session.commit()
    return claims


def run(claim: Claim, config) -> None:
    """Answer the cell and write the answer, or the failure, where the owner sees it."""
    try:
        if claim.runs > MAX_RUNS:
            why = f"Switchboard stopped {MAX_RUNS} times while asking this model."
            _finish(
                claim, state=CellState.FAILED, error_kind=str(ErrorKind.INTERNAL), error_message=why
            )
        else:
            _ask(claim, config)
    except Exception as exc:
        log.exception("trial cell %s failed inside Switchboard", claim.cell_id)
        db.session.rollback()
        why = UNREADABLE if isinstance(exc, SecretUnreadable) else INSIDE
        try:
            _finish(
                claim, state=CellState.FAILED, error_kind=str(ErrorKind.INTERNAL), error_message=why
            )
        except Exception:
            log.exception("trial cell %s could not be ended; its lease will run out", claim.cell_id)
    finally:
        db.session.close()


def _ask(claim: Claim, config) -> None:
    trial = db.session.get(Trial, claim.trial_id)
    question = json.loads(trial.questions)[claim.question] if trial else None
    if question is None:  # its customer was forgotten since the claim: the cell went too
        return
    draft = trial.prompt
    snap = Snapshot.load(config, commit=False)
    origin = Origin("playground", question["contact_id"])
    deadline = Deadline(int(snap["answer_within_seconds"]))
    shows_photo = "image" in question and snap.sees_images(claim.model)
    with media.photo_place(deadline) if shows_photo else nullcontext(False) as placed:
        photo = _photo(question) if placed else None
        db.session.commit()  # no transaction is open while the model thinks
        prompt, turns = draft or snap.prompt, int(snap["memory_turns"])
        past, new = trials.remembered(question, turns, photo)
        made = given.for_turn(snap, prompt, new, past, model=claim.model,
                              contact_id=question["contact_id"], origin=origin,
                              deadline=deadline)  # fmt: skip
        try:
            answer = pipeline.ask_model(made.messages, origin, snap, deadline, model=claim.model)
        except OpenRouterError as exc:
            _finish(
                claim, state=CellState.FAILED, error_kind=str(exc.kind), error_message=exc.message
            )
            return
    answer = replace(answer, knowledge=tuple(made.knowledge.labels))
    row = answer.log_row(origin)  # the cost shown is the logged one, whatever filled it in
    _finish(
        claim,
        row,
        state=CellState.DONE,
        reply=answer.result.content,
        latency_ms=row["v_latency_ms"],
        prompt_tokens=row["v_prompt_tokens"],
        completion_tokens=row["v_completion_tokens"],
        cost=row["v_cost"],
        knowledge=row["v_knowledge"],
    )


def _photo(question: dict) -> str | None:
    """The question's photo as a data: URL; None when it has none, or its file is gone."""
    message = db.session.get(Message, question["image"]) if "image" in question else None
    if message is None or not message.media_file:
        return None
    return media_store.data_url(message.media_file, message.media_mime)


def _finish(claim: Claim, log_row: dict | None = None, **values) -> None:
    """Write the cell's outcome (and its log row) if the claim still holds it; end the trial
    with its last cell."""
    # The log row first: it waits for a customer being forgotten (their row), and forget
    # deletes this cell after locking that row, so this must not hold the cell meanwhile.
    if log_row is not None:
        requestlog.insert(log_row)
    held = db.session.execute(
        update(TrialCell.__table__)
        .where(C.id == claim.cell_id, C.token == claim.token, C.state == CellState.RUNNING)
        .values(finished_at=utcnow(), lease_until=None, **values)
    ).rowcount
    if not held:  # it outlived its lease and another worker took it: theirs is the answer
        db.session.rollback()
        log.warning("trial cell %s was taken over by another worker", claim.cell_id)
        return
    db.session.execute(LOCK_TRIAL, {"trial": claim.trial_id})
    db.session.execute(trials.TRIAL_DONE, {"trial": claim.trial_id, "at": utcnow()})
    db.session.commit()

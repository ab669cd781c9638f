"""One run of a turn, from claim to end: take the messages, ask the model, send, finish.

Every way a run can end is written down where the owner sees it: the messages' state, a log
row with its kind, the thread. A run that fails inside Switchboard (a secret it cannot read,
a database error, a bug) logs an `internal` row and gives the turn back; after MAX_RUNS runs
the messages are marked failed and the customer gets the fallback reply. Never a silent loop.
"""

import re
import threading
from contextlib import suppress
from dataclasses import dataclass

from flask import Flask

from .. import documents, requestlog
from ..clients.retry import Deadline
from ..clients.whatsapp import split_message
from ..crypto import UNREADABLE, SecretUnreadable
from ..extensions import db
from ..knowledge import gaps
from ..models import PLAYGROUND
from ..money import limits
from ..people import commands, handoff, owners
from ..requestlog import Origin
from ..snapshot import Snapshot
from ..states import TurnState
from ..troubleshooting import ErrorKind
from . import delivery, leases, media, pipeline, try_it, turns
from .leases import MAX_RUNS, Lease, LeaseLost
from .signals import CANNOT_ANSWER
from .turns import Batch

SECRETISH = re.compile(r"(sk-or-|Bearer\s+)[\w\-.]+", re.IGNORECASE)
ANSWERED = (TurnState.ANSWERED, None, None)
# Shares of a turn's deadline ('Answer within', counted from its claim): the wait for a burst
# to end takes at most the first quarter, and the send keeps the last quarter (a Graph call
# needs at most GRAPH_TIMEOUT of it); the files and the model chain have what is between.
MERGE_SHARE = 0.25
SEND_SHARE = 0.25
SETTLE = 15.0  # seconds after the deadline the lease is still renewed, for the run's last writes
UNANSWERED_IN_A_ROW = 2  # turns in a row the model could not answer, then a person takes over


@dataclass
class RunContext:
    """What the worker lends each run."""

    app: Flask
    stopping: threading.Event


@dataclass
class Start:
    """A claimed turn, with what its claim already read: the settings, its deadline, and the
    messages when the turn needs not wait for more."""

    lease: Lease
    snap: Snapshot
    deadline: Deadline
    batch: Batch | None = None


def prepare(claimed: list[Lease], snap: Snapshot) -> list[Start]:
    """In the claim's own transaction: give every turn claimed the settings read for the
    claim and its deadline, and take the messages of new turns that need not wait (no burst
    to await, no "typing…" to show first). Spares each turn two transactions."""
    at_once = not snap["merge_window_seconds"] and not snap["mark_read"]
    starts = []
    for lease in claimed:
        deadline = Deadline(int(snap["answer_within_seconds"]))
        lease.horizon = deadline.at + SETTLE
        batch = turns.take_claimed(lease) if at_once and lease.runs == 1 else None
        starts.append(Start(lease, snap, deadline, batch))
    return starts


def run(start: Start, ctx: RunContext) -> None:
    """Run the turn to its end. Needs an app context (the worker's threads each keep one)."""
    lease = start.lease
    try:
        if lease.runs > MAX_RUNS:  # the runs before this one all died mid-turn
            _give_up(start, ctx, f"Switchboard stopped {MAX_RUNS} times while answering.")
        else:
            _answer(start, ctx)
    except LeaseLost:
        ctx.app.logger.warning("turn %s was taken over by another run", lease.turn_id)
    except documents.ReadingStopped:
        # The worker stops: a document half read is read again by the next run, not
        # answered as unreadable. The turn is given back at once, for any worker to take.
        ctx.app.logger.info("turn %s given back: the worker stops", lease.turn_id)
        _give_back(ctx, lease)
    except Exception as exc:
        ctx.app.logger.exception("turn %s failed inside Switchboard", lease.turn_id)
        if lease.runs <= MAX_RUNS:  # else the lease runs out and the next claim ends it
            _failed_inside(start, ctx, exc)
    finally:
        db.session.close()  # nothing of this turn stays in the thread's session


def _answer(start: Start, ctx: RunContext) -> None:
    lease, batch, snap, deadline = start.lease, start.batch, start.snap, start.deadline
    origin = Origin("whatsapp", lease.contact_id)
    marked: list[str] = []

    def show_typing(wa_message_id: str | None) -> None:
        if wa_message_id and wa_message_id not in marked:
            delivery.mark_read(snap.whatsapp(), wa_message_id, origin, lease)
            marked.append(wa_message_id)

    typing = show_typing if snap["mark_read"] else None
    if batch is None:
        # A customer who keeps writing is answered all the same: what came in the first
        # quarter of the deadline now, what comes later in the next turn.
        quiet_by = deadline.earlier(deadline.seconds * (1 - MERGE_SHARE)).at
        window = int(snap["merge_window_seconds"])
        turns.wait_for_quiet(lease, window, ctx.stopping, typing, quiet_by)
        batch = turns.take(lease)
    if not batch.messages:
        turns.finish(lease, TurnState.ANSWERED)
        return
    origin = Origin(batch.channel, batch.contact_id, batch.last.id)
    if batch.parts:
        _settle_cut_short(lease, batch, origin)
        return
    if owners.is_team(batch.to, snap):  # the team's answers and commands: never the model's
        commands.handle(start, batch)
        return
    # What the files and the models may take: the send keeps the end of the deadline.
    before_send = deadline.earlier(min(snap.graph_timeout, deadline.seconds * SEND_SHARE))
    if batch.paused:  # a person answers; they see the files, and what was said in them
        media.read(batch, snap, before_send, lease, ctx.stopping)
        turns.finish(lease, TurnState.PAUSED)
        return
    if batch.channel != PLAYGROUND and _limited(start, batch, origin):
        return
    if typing:
        typing(batch.last.wa_message_id)
    files = media.read(batch, snap, before_send, lease, ctx.stopping)
    with media.photos_loaded(files.reads, before_send, origin) as reads:
        reply = pipeline.reply_for(batch, reads, snap, before_send, origin, lease)
    failure = reply.failure
    outcome = (TurnState.FAILED, str(failure.kind), failure.message) if failure else ANSWERED
    why = reply.handoff or (handoff.FALLBACK if failure else None)
    _send(start, batch, origin, reply.text, outcome, reply.answer, files.notice, why)


def _send(
    start: Start, batch: Batch, origin, text: str, outcome, answer=None, notice=None, why=None
) -> None:
    """Store the reply's parts (after `notice`, a message of its own), send them before the
    deadline, and end the turn with `outcome`: the (state, error kind, detail) of its
    messages, unless sending fails. With `why` (or the model's second unanswered question in
    a row) the customer is handed to a person in the same transaction: a run that lost its
    turn hands over nothing."""
    lease, snap = start.lease, start.snap
    logged = answer.log_row(origin) if answer is not None else None
    # Prepared first: the transaction holds SQLite's write lock.
    texts = [*split_message(notice or ""), *split_message(text)]
    instead = [*split_message(notice or ""), *split_message(str(snap["handoff_reply"]))]
    with leases.fenced(lease):
        if logged is not None:
            requestlog.insert(logged)
        if answer is not None and answer.signals:  # with the reply: recorded once a turn
            asked = "\n".join(m.text or m.media_text or "" for m in batch.messages)
            gaps.record(answer.signals, asked, batch.channel, batch.contact_id, batch.last.id)
        if _handed_over(start, batch, answer, why) == handoff.UNANSWERED_TWICE:
            texts = instead
        if not texts:  # the owner chose to send nothing
            turns.close(lease, *outcome)
            return
        if batch.channel == PLAYGROUND:  # the Try it page shows it: nothing goes to WhatsApp
            try_it.keep_reply(batch.contact_id, texts, lease.turn_id, batch.last.id)
            turns.close(lease, *outcome)
            return
        parts = delivery.store_parts(batch.contact_id, texts, "bot", lease.turn_id, batch.last.id)
    sent = delivery.send_parts(
        parts,
        snap.whatsapp(),
        batch.to,
        origin,
        snap.retry,
        start.deadline,
        quoted=batch.last.wa_message_id,
        lease=lease,
        after_last=lambda: turns.close(lease, *outcome),
    )
    if not sent.ok:  # a model failure explains the turn better than the send's that followed
        _, kind, detail = outcome
        turns.finish(
            lease, TurnState.FAILED, kind or str(sent.error.kind), detail or sent.error.message
        )


def _limited(start: Start, batch: Batch, origin: Origin) -> bool:
    """Before any file is read or model asked: a customer past a limit is told once (the
    `limit_reply`, with a `customer_limited` log row), then their turns end unanswered."""
    if limits.within(batch.contact_id, start.snap):
        return False
    with leases.fenced(start.lease):
        limited = limits.look(batch.contact_id, start.snap)
        if limited is None:
            return False
        outcome = (TurnState.FAILED, str(ErrorKind.CUSTOMER_LIMITED), limited.detail())
        if not limited.now_limited:
            turns.close(start.lease, *outcome)
            return True
        requestlog.add(origin, upstream="switchboard", status="error", error_kind=outcome[1],
                       error_message=limited.detail())  # fmt: skip
    _send(start, batch, origin, str(start.snap["limit_reply"]), outcome)
    return True


def _handed_over(start: Start, batch: Batch, answer, why: str | None) -> str | None:
    """In the reply's transaction: count the model's unanswered questions in a row, and hand
    the customer to a person when `why` says so or it is the second. A test customer of the
    Try it page is only noted as one a real customer would be: no pause, no alert. Returns
    why the customer was handed over, or None."""
    if why is None and answer is not None:
        unanswered = any(signal.name == CANNOT_ANSWER.name for signal in answer.signals)
        if handoff.count_unanswered(batch.contact_id, unanswered) >= UNANSWERED_IN_A_ROW:
            why = handoff.UNANSWERED_TWICE
    if batch.channel == PLAYGROUND:
        try_it.note_handoff(batch.contact_id, why)
    elif why is not None:
        handoff.hand_over(batch.contact_id, why, start.snap)
    return why


def _settle_cut_short(lease: Lease, batch: Batch, origin: Origin) -> None:
    """An earlier run stored a reply and stopped while sending it: nothing is sent again."""
    with leases.fenced(lease):
        sent, total = delivery.interrupted(batch.parts)
        if sent == total:
            turns.close(lease, *ANSWERED)
            return
        detail = (
            f"Cut short: Switchboard stopped while sending this reply. {sent} of {total} "
            "parts were sent; the rest was not sent again, to avoid a double answer."
        )
        requestlog.add_internal(origin, lease.runs, detail)
        turns.close(lease, TurnState.FAILED, str(ErrorKind.INTERNAL), detail)


def _give_up(start: Start, ctx: RunContext, why: str) -> None:
    """The turn failed MAX_RUNS times: its messages are marked failed, and the customer gets
    the fallback reply if it can be sent."""
    lease = start.lease
    batch = turns.take(lease)
    last = batch.messages[-1].id if batch.messages else None
    origin = Origin(batch.channel, batch.contact_id, last)
    if batch.parts:
        _settle_cut_short(lease, batch, origin)
        return
    detail = f"{why} The messages are marked failed after {MAX_RUNS} runs."
    with leases.fenced(lease):
        requestlog.add_internal(origin, lease.runs, detail)
    outcome = (TurnState.FAILED, str(ErrorKind.INTERNAL), detail)
    # A team member's commands that failed get no fallback reply and are no handoff.
    answering = batch.messages and not batch.paused and not owners.is_team(batch.to, start.snap)
    fallback = str(start.snap["fallback_reply"]) if answering else ""
    if not fallback.strip():
        if answering:  # nothing was sent, and still nobody answered them: a person will
            with leases.fenced(lease):
                _handed_over(start, batch, None, handoff.FALLBACK)
        turns.finish(lease, *outcome)
        return
    if start.deadline.left() < start.snap.graph_timeout:  # a failure used the deadline up
        start.deadline = Deadline(start.snap.graph_timeout)
        lease.horizon = start.deadline.at + SETTLE
    _send(start, batch, origin, fallback, outcome, why=handoff.FALLBACK)


def _give_back(ctx: RunContext, lease: Lease) -> None:
    try:
        db.session.rollback()
        with suppress(LeaseLost):  # another run has it already
            turns.release(lease, 0.0)
    except Exception:
        ctx.app.logger.exception(
            "turn %s could not be given back; its lease will run out", lease.turn_id
        )


def _failed_inside(start: Start, ctx: RunContext, exc: Exception) -> None:
    """Log an `internal` row the owner sees, then give the turn back or, after the last run,
    end it. A failure here too (the database is down) leaves the lease to run out: the next
    claim counts another run, so the turn still ends."""
    lease = start.lease
    what = UNREADABLE if isinstance(exc, SecretUnreadable) else _describe(exc)
    detail = f"Run {lease.runs} of {MAX_RUNS} failed: {what}"
    try:
        db.session.rollback()
        if lease.runs >= MAX_RUNS:
            _give_up(start, ctx, detail)
            return
        origin = Origin(try_it.channel_of(lease.contact_id), lease.contact_id)
        with leases.fenced(lease):
            requestlog.add_internal(origin, lease.runs, detail)
        pause = ctx.app.config["TURN_RETRY_PAUSE"] * lease.runs
        turns.release(lease, pause, str(ErrorKind.INTERNAL), detail)
    except LeaseLost:
        pass
    except Exception:
        ctx.app.logger.exception(
            "turn %s could not be ended; its lease will run out", lease.turn_id
        )


def _describe(exc: Exception) -> str:
    """The failure in a line for the log row: its type and words, with anything like a key
    hidden (the full traceback is in the server log)."""
    words = " ".join(str(exc).split())[:300]
    words = SECRETISH.sub(lambda m: m[1] + "…", words)
    return f"{type(exc).__name__}: {words}" if words else type(exc).__name__

"""Deletes conversations, their media files, log rows and trials older than the owner's
`retention_days` (0 keeps all), and the questions of newer trials that replayed a message it
deleted. The ids of the messages it deletes are remembered 8 days, so a replayed delivery is
dropped (webapp/data/forgotten.py).

It never deletes what another transaction is writing, nor anything that transaction's
commit would make it keep. Each batch is one transaction: it locks the rows it chose, skipping
any a writer holds (PostgreSQL; SQLite writes one transaction at a time), then deletes those
that still match, read again now that no writer can change them. A customer goes only with
no message left: a customer's new message holds their row until it commits, so it is either
seen here or never waited for. A message the queue still holds (waiting for its answer, a
reply not yet handed to WhatsApp) stays however old it is.
"""

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError

from .. import media_store, settings, trials
from ..extensions import db
from ..knowledge import gaps
from ..models import Contact, Message, RequestLog, Trial, TrialCell, Turn, utcnow
from ..states import MessageState, PartState, TurnState
from . import forgotten

log = logging.getLogger(__name__)
BATCH = 5000  # rows a transaction, so the worker and webhooks never wait long for the lock
# Messages the queue still holds: waiting for their answer, or a reply not yet with WhatsApp.
IN_FLIGHT = (MessageState.RECEIVED, MessageState.PROCESSING, PartState.QUEUED, PartState.SENDING)
COUNTED = ("log_rows", "messages", "turns", "contacts", "trials", "trial_questions")


def purge(now: datetime | None = None) -> dict[str, int]:
    """Delete what is older than the retention period; returns how many rows of each went."""
    media_store.sweep_left_over()
    forgotten.expire(now)
    days = int(settings.get("retention_days"))
    if days == 0:
        return dict.fromkeys(COUNTED, 0)
    cutoff = (now or utcnow()) - timedelta(days=days)
    gaps.drop_asks_before(cutoff)  # customers' words, like their messages
    log_rows = _in_batches(RequestLog, RequestLog.created_at < cutoff)
    # A newer reply that quoted an old message keeps its text, not the link (SET NULL).
    old = Message.created_at < cutoff, Message.state.not_in(IN_FLIGHT)
    files = media_store.names_in(*old)
    messages = _in_batches(Message, *old, before=forgotten.remember)
    # After the rows: a file still on disk is never a dangling row. One written in the last
    # hour may be a turn's in flight (the same photo sent again): the hourly sweep decides.
    media_store.remove_unused(files, written_before=time.time() - media_store.LEFT_OVER_SECONDS)
    taken = exists().where(Message.turn_id == Turn.id)
    turns = _in_batches(Turn, Turn.state != TurnState.OPEN, Turn.created_at < cutoff, ~taken)
    idle = ~exists().where(Message.contact_id == Contact.id)
    contacts = _in_batches(Contact, idle, ~Contact.paused, Contact.created_at < cutoff)
    trials_gone, questions = _age_trials(cutoff)
    counts = (log_rows, messages, turns, contacts, trials_gone, questions)
    if any(counts):
        forgotten.fold_the_log()
    return dict(zip(COUNTED, counts, strict=True))


def _age_trials(cutoff: datetime) -> tuple[int, int]:
    """Delete the trials started before `cutoff`, and from the later ones the questions that
    replayed a message from before it; how many trials and questions went. An answer a worker
    is writing meanwhile is waited for, then deleted with its question: nothing a writer does
    could make that question stay."""
    old = Trial.created_at < cutoff
    # Their answers first, each a row lock of its own (a worker may be writing one), then
    # the trials left without answers, so no trial is deleted from under a worker.
    _in_batches(TrialCell, TrialCell.trial_id.in_(select(Trial.id).where(old)))
    trials_gone = _in_batches(Trial, old, ~exists().where(TrialCell.trial_id == Trial.id))

    def replayed_before(question: dict) -> bool:
        return "at" in question and datetime.fromisoformat(question["at"]) < cutoff

    questions = trials.drop_questions(replayed_before, Trial.source == "replay")
    db.session.commit()
    return trials_gone, questions


def _in_batches(model, *conditions, before: Callable | None = None) -> int:
    """Delete the rows matching `conditions`, BATCH rows a transaction; how many went.
    `before(*where)` is called in each transaction, with what it deletes, before it does.

    A row the database refuses to delete (a foreign key no condition here knows of) is left,
    said in the server log, and tried again by the next run; the rest of its batch still goes.
    """
    total, refused = 0, {}
    while True:
        wanted = (*conditions, model.id.not_in(list(refused))) if refused else conditions
        try:
            chosen, gone = _delete_batch(model, wanted, before=before)
        except IntegrityError:
            db.session.rollback()
            chosen, gone = _delete_one_by_one(model, wanted, refused, before)
        total += gone
        if chosen < BATCH or not gone:
            break
    if refused:
        ids = ", ".join(map(str, list(refused)[:10])) + (", …" if len(refused) > 10 else "")
        log.warning(
            "retention left %s the database refused to delete: %d, ids %s (%s); the next run "
            "tries again",
            model.__tablename__, len(refused), ids, next(iter(refused.values())),
        )  # fmt: skip
    return total


def _delete_batch(model, conditions, limit: int = BATCH, before=None) -> tuple[int, int]:
    """One transaction: lock up to `limit` matching rows no one is writing, then delete those
    that still match; returns how many were chosen and how many went."""
    chosen = select(model.id).where(*conditions).limit(limit).with_for_update(skip_locked=True)
    ids = db.session.scalars(chosen).all()
    gone = 0
    if ids:
        if before is not None:
            before(model.id.in_(ids), *conditions)
        gone = db.session.execute(delete(model).where(model.id.in_(ids), *conditions)).rowcount
    db.session.commit()
    return len(ids), gone


def _delete_one_by_one(model, conditions, refused: dict[int, str], before) -> tuple[int, int]:
    """A batch the database refused, again a row a transaction, to find the rows it refuses;
    they are added to `refused`."""
    ids = db.session.scalars(select(model.id).where(*conditions).limit(BATCH)).all()
    db.session.commit()
    gone = 0
    for row_id in ids:
        try:
            gone += _delete_batch(model, (*conditions, model.id == row_id), 1, before)[1]
        except IntegrityError as exc:
            db.session.rollback()
            refused[row_id] = str(exc.orig).splitlines()[0]
    return len(ids), gone

"""Deletes conversations, their media files and log rows older than the owner's
`retention_days` (0 keeps all).

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
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select
from sqlalchemy.exc import IntegrityError

from .. import media_store, settings
from ..extensions import db
from ..models import Contact, Message, RequestLog, Turn, utcnow
from ..states import MessageState, PartState, TurnState

log = logging.getLogger(__name__)
BATCH = 5000  # rows a transaction, so the worker and webhooks never wait long for the lock
# Messages the queue still holds: waiting for their answer, or a reply not yet with WhatsApp.
IN_FLIGHT = (MessageState.RECEIVED, MessageState.PROCESSING, PartState.QUEUED, PartState.SENDING)


def purge(now: datetime | None = None) -> dict[str, int]:
    """Delete what is older than the retention period; returns how many rows of each went."""
    media_store.sweep_left_over()
    days = int(settings.get("retention_days"))
    if days == 0:
        return {"log_rows": 0, "messages": 0, "turns": 0, "contacts": 0}
    cutoff = (now or utcnow()) - timedelta(days=days)
    log_rows = _in_batches(RequestLog, RequestLog.created_at < cutoff)
    # A newer reply that quoted an old message keeps its text, not the link (SET NULL).
    old = Message.created_at < cutoff, Message.state.not_in(IN_FLIGHT)
    files = media_store.names_in(*old)
    messages = _in_batches(Message, *old)
    # After the rows: a file still on disk is never a dangling row. One written in the last
    # hour may be a turn's in flight (the same photo sent again): the hourly sweep decides.
    media_store.remove_unused(files, written_before=time.time() - media_store.LEFT_OVER_SECONDS)
    taken = exists().where(Message.turn_id == Turn.id)
    turns = _in_batches(Turn, Turn.state != TurnState.OPEN, Turn.created_at < cutoff, ~taken)
    idle = ~exists().where(Message.contact_id == Contact.id)
    contacts = _in_batches(Contact, idle, ~Contact.paused, Contact.created_at < cutoff)
    return {"log_rows": log_rows, "messages": messages, "turns": turns, "contacts": contacts}


def _in_batches(model, *conditions) -> int:
    """Delete the rows matching `conditions`, BATCH rows a transaction; how many went.

    A row the database refuses to delete (a foreign key no condition here knows of) is left,
    said in the server log, and tried again by the next run; the rest of its batch still goes.
    """
    total, refused = 0, {}
    while True:
        wanted = (*conditions, model.id.not_in(list(refused))) if refused else conditions
        try:
            chosen, gone = _delete_batch(model, wanted)
        except IntegrityError:
            db.session.rollback()
            chosen, gone = _delete_one_by_one(model, wanted, refused)
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


def _delete_batch(model, conditions, limit: int = BATCH) -> tuple[int, int]:
    """One transaction: lock up to `limit` matching rows no one is writing, then delete those
    that still match; returns how many were chosen and how many went."""
    chosen = select(model.id).where(*conditions).limit(limit).with_for_update(skip_locked=True)
    ids = db.session.scalars(chosen).all()
    gone = 0
    if ids:
        gone = db.session.execute(delete(model).where(model.id.in_(ids), *conditions)).rowcount
    db.session.commit()
    return len(ids), gone


def _delete_one_by_one(model, conditions, refused: dict[int, str]) -> tuple[int, int]:
    """A batch the database refused, again a row a transaction, to find the rows it refuses;
    they are added to `refused`."""
    ids = db.session.scalars(select(model.id).where(*conditions).limit(BATCH)).all()
    db.session.commit()
    gone = 0
    for row_id in ids:
        try:
            gone += _delete_batch(model, (*conditions, model.id == row_id), limit=1)[1]
        except IntegrityError as exc:
            db.session.rollback()
            refused[row_id] = str(exc.orig).splitlines()[0]
    return len(ids), gone

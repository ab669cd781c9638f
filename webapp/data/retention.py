"""Deletes conversations, their media files and log rows older than the owner's
`retention_days` (0 keeps all)."""

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select, update

from .. import media_store, settings
from ..extensions import db
from ..models import Contact, Message, RequestLog, Turn, utcnow
from ..states import TurnState

BATCH = 5000  # rows a transaction, so the worker and webhooks never wait long for the lock


def purge(now: datetime | None = None) -> dict[str, int]:
    """Delete what is older than the retention period; returns how many rows of each went."""
    media_store.sweep_left_over()
    days = int(settings.get("retention_days"))
    if days == 0:
        return {"log_rows": 0, "messages": 0, "turns": 0, "contacts": 0}
    cutoff = (now or utcnow()) - timedelta(days=days)
    log_rows = _in_batches(RequestLog, RequestLog.created_at < cutoff)
    old = Message.created_at < cutoff
    # A newer reply may still point at an old message; it keeps its text, not the link.
    _in_batches(Message, Message.reply_to_id.in_(select(Message.id).where(old)), reply_to_id=None)
    files = media_store.names_in(old)
    messages = _in_batches(Message, old)
    media_store.remove_unused(files)  # after the rows: a file still on disk is never a dangling row
    taken = exists().where(Message.turn_id == Turn.id)
    turns = _in_batches(Turn, Turn.state != TurnState.OPEN, Turn.created_at < cutoff, ~taken)
    idle = ~exists().where(Message.contact_id == Contact.id)
    contacts = db.session.execute(
        delete(Contact).where(idle, ~Contact.paused, Contact.created_at < cutoff)
    ).rowcount
    db.session.commit()
    return {"log_rows": log_rows, "messages": messages, "turns": turns, "contacts": contacts}


def _in_batches(model, *conditions, **values) -> int:
    """Delete the matching rows, or set `values` on them, BATCH rows a transaction."""
    total = 0
    while True:
        ids = select(model.id).where(*conditions).limit(BATCH)
        if values:
            statement = update(model).where(model.id.in_(ids)).values(**values)
        else:
            statement = delete(model).where(model.id.in_(ids))
        changed = db.session.execute(statement).rowcount
        db.session.commit()
        total += changed
        if changed < BATCH:
            return total

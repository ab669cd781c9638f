"""Deletes conversations and log rows older than the owner's `retention_days` (0 keeps all)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, exists, select, update

from . import settings
from .extensions import db
from .models import Contact, Message, RequestLog

BATCH = 5000  # rows a transaction, so the worker and webhooks never wait long for the lock


def purge(now: datetime | None = None) -> dict[str, int]:
    """Delete what is older than the retention period; returns how many rows of each went."""
    days = int(settings.get("retention_days"))
    if days == 0:
        return {"log_rows": 0, "messages": 0, "contacts": 0}
    cutoff = ((now or datetime.now(UTC)) - timedelta(days=days)).replace(tzinfo=None)
    log_rows = _delete_in_batches(RequestLog, RequestLog.created_at < cutoff)
    old = Message.created_at < cutoff
    # A newer reply may still point at an old message; it keeps its text, not the link.
    db.session.execute(
        update(Message)
        .where(Message.reply_to_id.in_(select(Message.id).where(old)))
        .values(reply_to_id=None)
    )
    db.session.commit()
    messages = _delete_in_batches(Message, old)
    idle = ~exists().where(Message.contact_id == Contact.id)
    contacts = db.session.execute(
        delete(Contact).where(idle, ~Contact.paused, Contact.created_at < cutoff)
    ).rowcount
    db.session.commit()
    return {"log_rows": log_rows, "messages": messages, "contacts": contacts}


def _delete_in_batches(model, condition) -> int:
    total = 0
    while True:
        ids = select(model.id).where(condition).limit(BATCH)
        removed = db.session.execute(delete(model).where(model.id.in_(ids))).rowcount
        db.session.commit()
        total += removed
        if removed < BATCH:
            return total

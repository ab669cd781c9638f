"""What forgetting a message leaves, and what it must not: its id, kept 8 days so that a
delivery of it again is acknowledged and dropped, never stored and answered again; on SQLite,
no earlier copy of it in the database's files.

Meta redelivers a message it did not see acknowledged for up to 7 days, and a captured signed
delivery stays valid for whoever replays it. Only the SHA-256 of each id is kept, with the
day it was forgotten: Meta's ids carry the customer's number, so the id itself is not kept.
"""

import hashlib
from datetime import timedelta

from sqlalchemy import bindparam, delete, exists, select

from ..extensions import db, dialect_insert
from ..models import ForgottenMessage, Message, utcnow

KEPT_FOR = timedelta(days=8)  # beyond Meta's 7 days of redelivery
F = ForgottenMessage.__table__.c
# True for a message id (bound as its hash, `wa_hash`) that was forgotten.
SEEN = exists().where(F.wa_message_hash == bindparam("wa_hash"))


def hashed(wa_message_id: str) -> str:
    return hashlib.sha256(wa_message_id.encode()).hexdigest()


def seen(wa_message_id: str | None) -> bool:
    """Whether this message id was forgotten within the last 8 days."""
    if not wa_message_id:
        return False
    return bool(db.session.scalar(select(SEEN), {"wa_hash": hashed(wa_message_id)}))


def seen_among(wa_message_ids: list[str]) -> set[str]:
    """Those of these message ids that were forgotten within the last 8 days: one query for
    a whole delivery (a shared history brings thousands)."""
    by_hash = {hashed(wa_id): wa_id for wa_id in wa_message_ids}
    found = db.session.scalars(select(F.wa_message_hash).where(F.wa_message_hash.in_(by_hash)))
    return {by_hash[wa_hash] for wa_hash in found}


def remember(*conditions) -> int:
    """Remember the ids of the messages matching `conditions`, before they are deleted, in the
    caller's transaction; only those Meta could still deliver (stored within 8 days)."""
    query = select(Message.wa_message_id).where(
        *conditions,
        Message.wa_message_id.is_not(None),
        Message.created_at >= utcnow() - KEPT_FOR,
    )
    return remember_ids(db.session.scalars(query))


def remember_ids(wa_message_ids) -> int:
    """Remember these message ids (of messages never stored: a message for another phone
    number ID), in the caller's transaction; how many."""
    rows = [{"wa_message_hash": hashed(i), "forgotten_at": utcnow()} for i in set(wa_message_ids)]
    if rows:
        statement = dialect_insert(ForgottenMessage.__table__).on_conflict_do_nothing()
        db.session.execute(statement, rows)
    return len(rows)


def expire(now=None) -> int:
    """Let go of the ids forgotten more than 8 days ago; how many went."""
    old = ForgottenMessage.forgotten_at < (now or utcnow()) - KEPT_FOR
    gone = db.session.execute(delete(ForgottenMessage).where(old)).rowcount
    db.session.commit()
    return gone


def fold_the_log() -> None:
    """SQLite: fold the write-ahead log into the database and empty it. Deleted rows are
    zeroed where they lay (secure_delete), but the log still holds the pages as they were
    before, until it is written over. Waits for SQLite's busy timeout at most; a log still in
    use then is emptied by a later call (retention's, every hour)."""
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

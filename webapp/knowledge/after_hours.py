"""Outside opening hours (`after_hours`): answer as usual, answer and add a note, or send the
away message at most once in 12 hours a customer and nothing else."""

from sqlalchemy import bindparam, or_, update

from ..extensions import database_now, db
from ..models import Contact
from . import told

AWAY_EVERY_SECONDS = 12 * 3600
C = Contact.__table__.c
# Whoever sets the moment sends the message: of two workers answering the same customer at
# once, the UPDATE of one finds the row changed and counts 0. The database's clock decides,
# so workers whose clocks disagree still agree.
CLAIM_AWAY = (
    update(Contact.__table__)
    .where(
        C.id == bindparam("contact"),
        or_(C.away_sent_at.is_(None), C.away_sent_at < database_now(-AWAY_EVERY_SECONDS)),
    )
    .values(away_sent_at=database_now())
)


def mode(snap) -> str:
    """'answer', 'note' or 'away': what is done now; 'answer' inside hours, or with none set."""
    chosen = str(snap["after_hours"] or "answer")
    return chosen if chosen in ("note", "away") and told.is_closed(snap) else "answer"


def claim_away(contact_id: int) -> bool:
    """Whether this turn sends the away message (call inside the turn's fenced transaction)."""
    return db.session.execute(CLAIM_AWAY, {"contact": contact_id}).rowcount == 1


def with_note(text: str, snap) -> str:
    note = str(snap["after_hours_note"] or "").strip()
    return f"{text.rstrip()}\n\n{note}" if note and text.strip() else text

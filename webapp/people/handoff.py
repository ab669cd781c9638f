"""A customer handed to a person: paused, "needs you" with why and since when, the team told.

`hand_over` is the one way in, whatever asked for it (the model's signal, a keyword, two
unanswered questions in a row, the fallback reply, the owner's Hand to me). It is one
conditional UPDATE: a customer already waiting keeps their first reason and time, and the
team is alerted once, however many turns or workers hand them over at once.
"""

from sqlalchemy import update

from ..extensions import db
from ..models import Contact, utcnow
from . import alerts

# Why, in the owner's words (the dashboard, the alert): the model's own reason follows.
ASKED = "Asked for a person"
KEYWORD = "Asked for a person ({word})"
UNANSWERED_TWICE = "The assistant could not answer twice in a row"
FALLBACK = "The assistant failed and sent the fallback reply"
BY_OWNER = "Handed to you by {who}"


def hand_over(contact_id: int, why: str, snap) -> bool:
    """Pause the bot for the customer and mark them as needing you, in the caller's
    transaction; queue the team's alerts when they were not waiting already. Returns True
    when this call handed them over (False: they were waiting already)."""
    now = utcnow()
    new = db.session.execute(
        update(Contact)
        .where(Contact.id == contact_id, Contact.needs_person_since.is_(None))
        .values(paused=True, resume_at=None, needs_person_since=now,
                needs_person_why=why[:300], unanswered_in_row=0)
    ).rowcount  # fmt: skip
    if not new:
        db.session.execute(
            update(Contact).where(Contact.id == contact_id).values(paused=True, resume_at=None)
        )
        return False
    alerts.queue(contact_id, why, snap)
    return True

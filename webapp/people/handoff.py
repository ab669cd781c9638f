"""A customer handed to a person: paused, "needs you" with why and since when, the team told.

`hand_over` is the one way in, whatever asked for it (the model's signal, a keyword, two
unanswered questions in a row, the fallback reply, the owner's Hand to me). It is one
conditional UPDATE: a customer already waiting keeps their first reason and time, and the
team is alerted once, however many turns or workers hand them over at once.
"""

import re

from sqlalchemy import update

from ..extensions import db
from ..models import Contact, utcnow
from . import alerts

# Why, in the owner's words (the dashboard, the alert): the model's own reason follows.
ASKED = "Asked for a person"
ASKED_BECAUSE = "Asked for a person: {reason}"
KEYWORD = "Asked for a person ({word})"
UNANSWERED_TWICE = "The assistant could not answer twice in a row"
FALLBACK = "The assistant failed and sent the fallback reply"
BY_OWNER = "Handed to you by {who}"
BUDGET_SPENT = "The budget is spent"


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


def keyword_in(text: str, snap) -> str | None:
    """The longest of `handoff_keywords` the customer's words hold as a whole word or phrase
    ("real person" rather than "person"), in any case and any script ("personal" holds no
    "person"); None when there is none."""
    found = [w for w in _keywords(str(snap["handoff_keywords"] or "")) if _as_whole(w).search(text)]
    return max(found, key=len, default=None)


def _keywords(stored: str) -> list[str]:
    return [" ".join(word.split()) for word in stored.split(",") if word.strip()]


def _as_whole(word: str) -> re.Pattern:
    # \w is Unicode-aware on str patterns: letters of any script count as word characters.
    spaced = r"\s+".join(re.escape(part) for part in word.split())
    return re.compile(rf"(?<!\w){spaced}(?!\w)", re.IGNORECASE)


def count_unanswered(contact_id: int, could_not_answer: bool) -> int:
    """A turn the model answered: one more in a row it could not answer, or none any more;
    how many in a row now. One UPDATE in the caller's transaction: two turns of the same
    customer never run at once, and each counts what the last one left."""
    column = Contact.unanswered_in_row
    return db.session.execute(
        update(Contact)
        .where(Contact.id == contact_id)
        .values(unanswered_in_row=column + 1 if could_not_answer else 0)
        .returning(column)
    ).scalar_one()

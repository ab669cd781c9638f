"""Holds: the bot paused for a customer while a person answers, ending by itself or on Done.

A hold that ends by itself has `resume_at`; the contacts upsert (a new message arriving) and
the worker's `resume_due` job both end it once that time has passed, so a message arriving a
second after it ends is answered. Every change is one conditional UPDATE: safe with several
workers and web servers at once.
"""

from datetime import timedelta

from sqlalchemy import update

from ..extensions import db
from ..models import Contact, utcnow


def hold_for_team(contact_id: int, minutes: int) -> None:
    """Pause the bot for a customer the team just wrote to: until `minutes` from now (0: until
    Done). A handoff's pause (no `resume_at`, needs you) stays as it is: only Done ends it."""
    until = utcnow() + timedelta(minutes=minutes) if minutes else None
    db.session.execute(
        update(Contact)
        .where(Contact.id == contact_id, Contact.needs_person_since.is_(None))
        .values(paused=True, resume_at=until)
    )
    db.session.execute(  # needing a person, the team's reply still counts as the last one
        update(Contact)
        .where(Contact.id == contact_id, Contact.needs_person_since.is_not(None),
               Contact.resume_at.is_not(None))
        .values(resume_at=until)
    )  # fmt: skip


def resume(contact_id: int) -> None:
    """Done: the bot answers the customer again, and they no longer need you."""
    db.session.execute(update(Contact).where(Contact.id == contact_id).values(**RESUMED))


RESUMED = {
    "paused": False,
    "resume_at": None,
    "needs_person_since": None,
    "needs_person_why": None,
    "unanswered_in_row": 0,
}


def resume_due() -> int:
    """The worker's job: end the holds whose time has passed. Returns how many ended."""
    ended = db.session.execute(
        update(Contact)
        .where(Contact.paused, Contact.resume_at.is_not(None), Contact.resume_at <= utcnow())
        .values(**RESUMED)
    ).rowcount
    db.session.commit()
    return ended

"""Who a customer is: one number normaliser, the upsert, pause and resume, forget, their names."""

import json
import re
from datetime import timedelta
from functools import cache

from sqlalchemy import and_, bindparam, case, delete, func, or_, select

from . import media_store, trials
from .clients.whatsapp import BSUID
from .data import forgotten
from .extensions import db, dialect_insert
from .knowledge import gaps
from .models import Contact, Message, PendingStatus, RequestLog, Trial, utcnow
from .people import takeover

# WhatsApp takes free-form messages from a business only this long after the customer's last.
SERVICE_WINDOW = timedelta(hours=24)
# What people type between digits: spaces, dashes, dots, slashes, brackets.
SEPARATORS = re.compile(r"[\s\-./()\u00a0]")


def normalise_number(typed: str) -> str:
    """A number as WhatsApp writes it (its wa_id): '+1 555-710-0007' → '15557100007',
    '0031 6 1234 5678' → '31612345678'. A WhatsApp user id ('US.1349…') is kept as it is.

    The one normaliser: the webhook, the CLI, the admin and the log filters all use it.
    """
    text = typed.strip()
    if BSUID.fullmatch(text):
        return text
    compact = SEPARATORS.sub("", text)
    if compact.startswith("+"):
        return compact[1:]
    if compact.startswith("00") and compact[2:].isdigit():  # the international call prefix
        return compact[2:]
    return compact


def find(number: str, lock: bool = False) -> Contact | None:
    """The customer with this number or user id, however it was typed; with `lock`, their
    row is held until the transaction ends (PostgreSQL: a message of theirs being stored
    right now is waited for, one arriving later waits)."""
    wanted = normalise_number(number)
    query = select(Contact).where(or_(Contact.customer_id == wanted, Contact.phone == wanted))
    return db.session.scalar(query.with_for_update() if lock else query)


@cache
def _upsert(dialect: str):
    """INSERT … ON CONFLICT DO UPDATE of a customer, built once per database kind."""
    statement = dialect_insert(Contact.__table__).values(
        customer_id=bindparam("new_customer_id"),
        phone=bindparam("new_phone"),
        user_id=bindparam("new_user_id"),
        profile_name=bindparam("new_profile_name"),
        username=bindparam("new_username"),
        paused=False,
        created_at=bindparam("at"),
        last_inbound_at=bindparam("new_last_inbound_at"),
    )
    new, old = statement.excluded, Contact.__table__.c
    later = or_(old.last_inbound_at.is_(None), new.last_inbound_at > old.last_inbound_at)
    # A team member's hold that has run out ends here too: this message is answered.
    held_over = and_(old.resume_at.is_not(None), old.resume_at <= new.created_at)

    def unless_held_over(column, resumed):
        return case((held_over, resumed), else_=column)

    return statement.on_conflict_do_update(
        index_elements=[old.customer_id],
        set_={
            "paused": unless_held_over(old.paused, False),
            "resume_at": unless_held_over(old.resume_at, None),
            "needs_person_since": unless_held_over(old.needs_person_since, None),
            "needs_person_why": unless_held_over(old.needs_person_why, None),
            "phone": func.coalesce(new.phone, old.phone),
            "user_id": func.coalesce(new.user_id, old.user_id),
            "profile_name": func.coalesce(new.profile_name, old.profile_name),
            "username": func.coalesce(new.username, old.username),
            "last_inbound_at": case(
                (new.last_inbound_at.is_(None), old.last_inbound_at),
                (later, new.last_inbound_at),
                else_=old.last_inbound_at,
            ),
        },
    ).returning(old.id, old.paused)


def upsert(
    customer_id: str,
    *,
    phone: str | None = None,
    user_id: str | None = None,
    profile_name: str | None = None,
    username: str | None = None,
    last_inbound_at=None,
) -> tuple[int, bool]:
    """Create the customer or bring what WhatsApp says about them up to date, in one
    statement, so two first messages arriving at once cannot race; returns (id, paused)."""
    values = {
        "new_customer_id": customer_id,
        "new_phone": phone,
        "new_user_id": user_id,
        "new_profile_name": profile_name,
        "new_username": username,
        "new_last_inbound_at": last_inbound_at,
        "at": utcnow(),
    }
    row = db.session.execute(_upsert(db.engine.dialect.name), values).one()
    return row.id, row.paused


def set_paused(number: str, paused: bool) -> Contact:
    """Pause the bot for a customer until they are resumed (a number not seen yet is
    remembered paused), or resume it: Done, they no longer need you."""
    contact = find(number)
    if contact is None:
        wanted = normalise_number(number)
        phone = wanted if wanted.isascii() and wanted.isdigit() else None
        contact_id, _ = upsert(wanted, phone=phone)
        contact = db.session.get(Contact, contact_id)
    resumed = takeover.RESUMED if not paused else {"paused": True, "resume_at": None}
    for name, value in resumed.items():  # what a resume clears is said once, in takeover
        setattr(contact, name, value)
    db.session.commit()
    return contact


def forget(number: str) -> bool:
    """Delete a customer and every copy of them: their messages with their files, turns and
    log rows, their questions in trials with the answers, the log rows of their messages to
    another phone number ID. The ids of their messages are remembered 8 days (hashed), so a
    replayed delivery is dropped. False when nothing was known of that number."""
    wanted = normalise_number(number)
    # Locked first, so what is deleted is everything stored until now: the database refuses
    # to delete a customer who still has a message, and one could arrive in between.
    contact = find(number, lock=True)
    ids = {wanted} | ({contact.customer_id, contact.phone, contact.user_id} if contact else set())
    unlinked = RequestLog.contact_id.is_(None), RequestLog.customer_id.in_(ids - {None})
    forgotten.remember_ids(_message_ids(db.session.scalars(
        select(RequestLog.response_body).where(*unlinked)
    )))  # fmt: skip
    found = db.session.execute(delete(RequestLog).where(*unlinked)).rowcount
    if contact is None:
        db.session.commit()
        forgotten.fold_the_log()
        return bool(found)
    mine = Message.contact_id == contact.id
    files = media_store.names_in(mine)
    forgotten.remember(mine)
    theirs = select(Message.wa_message_id).where(mine, Message.wa_message_id.is_not(None))
    db.session.execute(delete(PendingStatus).where(PendingStatus.wa_message_id.in_(theirs)))
    db.session.execute(delete(RequestLog).where(RequestLog.contact_id == contact.id))
    db.session.execute(delete(Message).where(mine))
    # After the messages: a trial started meanwhile from them has been waited for.
    asked_as = or_(Trial.source == "replay", Trial.contact_id == contact.id)
    trials.drop_questions(lambda question: question.get("contact_id") == contact.id, asked_as)
    db.session.delete(contact)  # its turns and gap asks go with it (ON DELETE CASCADE)
    db.session.flush()
    gaps.drop_unasked()  # a question only they asked goes too, unless it was answered
    db.session.commit()
    media_store.remove_unused(files)  # a file another customer also sent stays for them
    forgotten.fold_the_log()
    return True


def _message_ids(bodies) -> list[str]:
    """The message ids in log rows that kept a customer's message (its raw JSON)."""
    ids = []
    for body in bodies:
        try:
            message = json.loads(body or "")
        except ValueError:
            continue  # cut short when it was logged
        if isinstance(message, dict) and isinstance(message.get("id"), str):
            ids.append(message["id"])
    return ids


def number_of(contact) -> str:
    """+31612345678, or the user id of a customer known only by a WhatsApp username.

    Takes a Contact or any row with its `phone` and `customer_id` (the log's joined rows).
    """
    return f"+{contact.phone}" if contact.phone else contact.customer_id


def name_of(contact) -> str:
    """The name the owner saved in the WhatsApp Business app, else the customer's own
    WhatsApp name, their username, their number."""
    return contact.saved_name or contact.profile_name or contact.username or number_of(contact)


def label_of(contact) -> str:
    """ "Name (+number)", or the number alone for a customer without a name."""
    name, number = name_of(contact), number_of(contact)
    return number if name == number else f"{name} ({number})"


def service_window_ends(contact):
    """When WhatsApp stops taking free-form messages to `contact`; None: it never opened."""
    if contact.last_inbound_at is None:
        return None
    return contact.last_inbound_at + SERVICE_WINDOW


def in_service_window(contact) -> bool:
    """Whether WhatsApp takes a plain message to `contact` now: they wrote within 24 hours."""
    ends = service_window_ends(contact)
    return ends is not None and utcnow() < ends

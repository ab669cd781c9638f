"""The team answering from their phones: a message from a team number is never answered by the
model. A reply quoting an alert goes to that customer (`done` resumes the bot for them); the
short commands `pause +NUMBER`, `resume +NUMBER` and `list` answer in one line; anything else
gets the one-line help. Runs in the team member's turn, under its lease like any reply."""

import json
import re

from sqlalchemy import select, update

from .. import contacts
from ..clients.whatsapp import split_message
from ..extensions import db
from ..models import Contact, Message, OwnerAlert
from ..replies import delivery, leases, turns
from ..requestlog import Origin
from ..states import TurnState
from . import needs, takeover

HELP = (
    "Commands: reply to an alert to answer that customer ('done' to give them back to the "
    "assistant), 'pause +NUMBER', 'resume +NUMBER', 'list'."
)
DELETED = "That customer's conversation was deleted; nothing was sent."
NO_CUSTOMER = "That alert is about the assistant itself, not a customer; nothing was sent."
NUMBER_COMMAND = re.compile(r"(pause|resume)\s+(\S.*)", re.IGNORECASE)
LISTED = 10  # customers a `list` names


def handle(start, batch) -> None:
    """Act on each of the team member's messages in order, answer them in one message when
    there is something to say, and end their turn (its messages answered)."""
    lease, snap = start.lease, start.snap
    answers = [answer for m in batch.messages if (answer := _act(start, m))]
    reply = "\n".join(answers)
    if not reply:
        turns.finish(lease, TurnState.ANSWERED)
        return
    with leases.fenced(lease):
        parts = delivery.store_parts(
            batch.contact_id, split_message(reply), "bot", lease.turn_id, batch.last.id
        )
    sent = delivery.send_parts(
        parts, snap.whatsapp(), batch.to, Origin("whatsapp", batch.contact_id, batch.last.id),
        snap.retry, start.deadline, quoted=batch.last.wa_message_id, lease=lease,
        after_last=lambda: turns.close(lease, TurnState.ANSWERED),
    )  # fmt: skip
    if not sent.ok:
        turns.finish(lease, TurnState.FAILED, str(sent.error.kind), sent.error.message)


def _act(start, message) -> str:
    """Do what one message asks; the words to tell the team member ('' for nothing)."""
    text = (message.text or "").strip()
    quoted = quoted_id(message.raw)
    if quoted:
        alert = db.session.scalar(select(OwnerAlert).where(OwnerAlert.wa_message_id == quoted))
        db.session.commit()
        if alert is not None and alert.contact_id is None:  # a budget's alert
            return NO_CUSTOMER
        if alert is not None:
            return _answer_customer(start, alert.contact_id, text, message)
        if not _ours(quoted):  # an alert whose customer was forgotten (their alerts with them)
            return DELETED
    return _command(start.lease, text)


def quoted_id(raw: str | None) -> str | None:
    try:
        context = json.loads(raw or "{}").get("context") or {}
    except (ValueError, AttributeError):
        return None
    return context.get("id") if isinstance(context, dict) else None


def _ours(wa_message_id: str) -> bool:
    """A message of the thread itself (a command's answer), not an alert."""
    found = select(Message.id).where(Message.wa_message_id == wa_message_id)
    return db.session.scalar(found) is not None


def _answer_customer(start, contact_id: int, text: str, message) -> str:
    lease, snap = start.lease, start.snap
    customer = db.session.get(Contact, contact_id)
    if customer is None:
        db.session.commit()
        return DELETED
    label = contacts.label_of(customer)
    if text.lower() == "done":
        with leases.fenced(lease):
            takeover.resume(contact_id)
        return f"Done: the assistant answers {label} again."
    if not text:
        db.session.commit()
        return "Only text can be passed on to a customer; nothing was sent."
    if not contacts.in_service_window(customer):
        db.session.commit()
        return (
            f"Not sent: {label} last wrote over 24 hours ago, so WhatsApp takes only a "
            "template. Send one from the conversation in the admin."
        )
    to, team_member = customer.phone or customer.customer_id, f"+{_team_number(lease)}"
    with leases.fenced(lease):
        # Stored with the team member's turn: a run after a crash finds it and, like a reply
        # cut short, never sends it twice.
        parts = delivery.store_parts(contact_id, split_message(text), "human", lease.turn_id)
        db.session.execute(
            update(Message).where(Message.id.in_([p.id for p in parts])).values(sent_by=team_member)
        )
        takeover.hold_for_team(contact_id, int(snap["takeover_minutes"]))
    sent = delivery.send_parts(
        parts, snap.whatsapp(), to, Origin("whatsapp", contact_id), snap.retry, start.deadline,
        lease=lease,
    )  # fmt: skip
    if sent.ok:
        return ""
    return f"Not sent to {label}: {sent.error.message}"


def _team_number(lease) -> str:
    team = db.session.get(Contact, lease.contact_id)
    return (team.phone or team.customer_id) if team else ""


def _command(lease, text: str) -> str:
    words = " ".join(text.split())
    if words.lower() == "list":
        return _needs_you()
    if words.lower() == "done":
        return "Reply to an alert with 'done' to give that customer back to the assistant."
    if found := NUMBER_COMMAND.fullmatch(words):
        return _pause_or_resume(lease, found[1].lower(), found[2])
    return HELP


def _pause_or_resume(lease, action: str, typed: str) -> str:
    customer = contacts.find(typed)  # however the number was typed
    if customer is None:
        db.session.commit()
        return f"No customer with the number {typed}."
    label = contacts.label_of(customer)
    with leases.fenced(lease):
        if action == "pause":  # the owner's own pause: only Resume or Done ends it
            paused = update(Contact).where(Contact.id == customer.id)
            db.session.execute(paused.values(paused=True, resume_at=None))
        else:
            takeover.resume(customer.id)
    if action == "pause":
        return f"Paused: the assistant no longer answers {label}."
    return f"Resumed: the assistant answers {label} again."


def _needs_you() -> str:
    """The needs-you list as the dashboard has it, in one line."""
    names = [f"{contacts.label_of(w.contact)}: {w.why}" for w in needs.waiting(LISTED + 1)]
    db.session.commit()
    if not names:
        return "Nobody needs you now."
    more = " …and more in the admin." if len(names) > LISTED else ""
    return "Needs you: " + "; ".join(names[:LISTED]) + "." + more

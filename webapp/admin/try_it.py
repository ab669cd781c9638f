"""The Try it page: the owner chats with the assistant as a test customer, before WhatsApp is
connected. A message is stored and the page returns at once; the worker answers it in a turn
like a customer's (webapp/replies/try_it.py), and the page shows the answer when it is there:
static/app.js asks for the conversation each second, and without the script a reload shows it.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from .. import catalog, heartbeats, settings
from ..extensions import db
from ..models import Contact, Message, RequestLog, utcnow
from ..money import budget
from ..replies import try_it as test_customer
from ..states import MessageState
from ..troubleshooting import Trouble
from . import bp
from .conversations import hint_for
from .forms import ActionForm, TryItForm

SHOWN = 200  # messages of the test conversation on the page, the latest
WAITING = (MessageState.RECEIVED, MessageState.PROCESSING)
# How long past 'Answer within' the page waits before it says the answer is late: a turn
# ends within that time and one send, and its worker writes the end a moment later.
LATE_AFTER = timedelta(seconds=30)
FROM_SCRIPT = "X-Requested-With"  # app.js asks for the conversation alone, not the page


@dataclass
class Exchange:
    """One turn of the test conversation: the messages it answered and how."""

    asked: list[Message] = field(default_factory=list)
    replies: list[Message] = field(default_factory=list)
    answered_by: RequestLog | None = None  # the call to a model whose answer is the reply
    failed_attempts: int = 0  # calls before it that failed (retried, or a fallback answered)
    trouble: Trouble | None = None  # why no model answered
    detail: str | None = None

    @property
    def waiting(self) -> bool:
        return any(m.state in WAITING for m in self.asked)


@bp.route("/try", methods=["GET", "POST"], endpoint="try_it")
def try_it():
    form = TryItForm()
    refused = budget.refusal("Try it") if form.is_submitted() else None
    if refused:  # the page says why, the message stays typed in the box
        if request.headers.get(FROM_SCRIPT):
            abort(400)  # the script sends the form again without itself, to show this
        flash(refused, "error")
    elif form.validate_on_submit():
        test_customer.ask(current_user.username, form.message.data.strip())
        if request.headers.get(FROM_SCRIPT):
            return _conversation()
        return redirect(url_for("admin.try_it", _anchor="try-form"), code=303)
    if request.method == "POST" and request.headers.get(FROM_SCRIPT):
        abort(400)  # the script sends the form again without itself, to show the error
    default = catalog.default_model()
    return render_template(
        "admin/try.html",
        form=form,
        action=ActionForm(),
        key_saved=settings.is_set("openrouter_api_key"),
        default=default.model_id if default else None,
        **_shown(),
    )


@bp.get("/try/conversation")
def try_conversation():
    return _conversation()


@bp.post("/try/reset")
def try_reset():
    if not ActionForm().validate_on_submit():
        abort(400)
    if test_customer.start_over(current_user.username):
        flash("Started over: the conversation and what the assistant remembered of it are gone.",
              "success")  # fmt: skip
    return redirect(url_for("admin.try_it"))


def _conversation() -> str:
    return render_template("admin/_try_conversation.html", **_shown())


def _shown() -> dict:
    contact = test_customer.contact_of(current_user.username)
    exchanges = conversation(contact) if contact else []
    waiting = [m for x in exchanges for m in x.asked if m.state in WAITING]
    shown = {"exchanges": exchanges, "waiting": bool(waiting), "no_worker": False, "late": False}
    # The last turn would have handed a real customer to a person (webapp/replies/try_it.py).
    shown["handed_over"] = contact.needs_person_why if contact and not waiting else None
    if waiting:
        shown["no_worker"] = not heartbeats.alive()
        within = timedelta(seconds=int(settings.get("answer_within_seconds")))
        shown["late"] = utcnow() - waiting[0].created_at > within + LATE_AFTER
    shown["status"] = _status(exchanges)
    # Where the page without JavaScript loads itself again: an address other than the one it
    # has, since going to the same address with an #anchor only scrolls.
    waited = request.args.get("waited", 0, type=int) + 1
    shown["refresh_url"] = url_for("admin.try_it", waited=waited, _anchor="try-form")
    return shown


def _status(exchanges: list[Exchange]) -> str:
    """What a screen reader is told when the conversation changes."""
    if not exchanges:
        return ""
    last = exchanges[-1]
    if last.waiting:
        return "The assistant is typing…"
    if last.trouble:
        return f"No answer from the model: {last.trouble.title}."
    return "The assistant answered."


def conversation(contact: Contact) -> list[Exchange]:
    """The test customer's latest messages as exchanges, oldest first: the messages each turn
    took with its reply, then any still waiting for a turn."""
    newest = db.session.scalars(
        select(Message)
        .where(Message.contact_id == contact.id)
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(SHOWN)
    ).all()
    by_turn: dict[int | None, Exchange] = {}
    for message in reversed(newest):
        exchange = by_turn.setdefault(message.turn_id, Exchange())
        (exchange.asked if message.direction == "in" else exchange.replies).append(message)
    exchanges = [x for x in by_turn.values() if x.asked]
    _add_calls(exchanges)
    for exchange in exchanges:
        failed = next((m for m in exchange.asked if m.state == MessageState.FAILED), None)
        if failed is not None:
            exchange.trouble, exchange.detail = hint_for(failed.error_kind), failed.error_detail
    return exchanges


def _add_calls(exchanges: list[Exchange]) -> None:
    """Each exchange's calls to a model, logged against the last message its turn took."""
    last = {x.asked[-1].id: x for x in exchanges}
    calls = db.session.scalars(
        select(RequestLog)
        .where(
            RequestLog.message_id.in_(list(last)),
            RequestLog.upstream == "openrouter",
            RequestLog.operation.is_(None),  # not a voice note's transcription
        )
        .order_by(RequestLog.id)
    )
    for call in calls:
        exchange = last[call.message_id]
        if call.status == "ok":
            exchange.answered_by = call
        else:
            exchange.failed_attempts += 1

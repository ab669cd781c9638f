"""The conversations pages: every customer's thread, pausing the bot, replying as the business."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from .. import contacts, settings
from ..crypto import SecretUnreadable
from ..display import hidden_chars, times
from ..extensions import db
from ..models import PLAYGROUND, Contact, Message
from ..money import limits
from ..people import handoff, needs, takeover
from ..replies import delivery
from ..snapshot import Snapshot
from ..troubleshooting import ErrorKind, Trouble, trouble
from . import bp, threads
from .forms import ActionForm, ContactSearchForm, ReplyForm
from .template_picker import Picker, picker_for

PAGE_SIZE = 50
# What a customer's file was, in the owner's words; the thread shows the file itself.
MEDIA_LABELS = {
    "image": "Photo",
    "sticker": "Sticker",
    "audio": "Voice note",
    "video": "Video",
    "document": "Document",
}
# What another message without plain text was.
TYPE_LABELS = {
    "contacts": "contact card",
    "location": "location",
    "reaction": "reaction",
    "interactive": "button reply",
    "button": "button reply",
    "system": "system notice",
    "request_welcome": "chat opened",
    "unsupported": "unsupported message",
}


def describe(message: Message) -> str:
    """The message's text, led by its type in brackets when it is not a plain text; a file is
    named with what it holds: "Photo: <caption>", "Voice note: <transcript>"."""
    if message.type == "text":
        return message.text or ""
    if label := MEDIA_LABELS.get(message.type):
        words = message.text
        if message.type == "audio":
            words = message.media_text  # a voice note has no caption: its transcript tells
        elif message.type == "document":
            words = message.text or message.media_name
        return f"{label}: {words}" if words else label
    label = f"[{TYPE_LABELS.get(message.type, message.type)}]"
    return f"{label} {message.text}" if message.text else label


def hint_for(kind: str | None) -> Trouble | None:
    """The troubleshooting row for a stored error kind, if there is one to show."""
    try:
        return trouble(kind) if kind else None
    except ValueError:  # a kind this version of the table no longer knows
        return None


def file_size(size: int | None) -> str:
    """A file's size as the owner reads it: 340 kB, 2.4 MB."""
    if size is None:
        return ""
    if size < 1000 * 1024:
        return f"{max(1, round(size / 1024))} kB"
    return f"{size / 2**20:.1f} MB"


def _name(contact) -> str:
    """A customer's name for a flash message, hidden characters shown (a message has no <bdi>)."""
    return hidden_chars.marked(contacts.name_of(contact))


HELPERS = {
    "describe": describe,
    "media_label": MEDIA_LABELS.get,
    "file_size": file_size,
    "hint_for": hint_for,
    "is_limited": limits.is_limited,
}


@bp.get("/conversations")
def conversations():
    search = ContactSearchForm(request.args)
    query = (search.q.data or "").strip() if search.validate() else ""
    after = request.args.get("after", type=int)
    rows, following = threads.contact_page(query, after, PAGE_SIZE)
    waiting = needs.waiting()
    return render_template(
        "admin/conversations.html",
        rows=rows,
        needs_you=waiting if not query and after is None else [],
        waiting_ids={row.contact.id for row in waiting},
        search=search,
        query=query,
        after=after,
        following=following,
        **HELPERS,
    )


@bp.get("/conversations/<int:contact_id>")
def conversation(contact_id: int):
    return render_thread(_customer_or_404(contact_id), ReplyForm())


def render_thread(contact: Contact, form: ReplyForm, picker: Picker | None = None) -> str:
    messages, older = threads.thread(contact.id)
    closed = threads.window_closed_reason(contact)
    if closed and picker is None:  # only a template can reach the customer now
        picker = picker_for(request.args.get("template", type=int))
    return render_template(
        "admin/conversation.html",
        contact=contact,
        messages=messages,
        older=older,
        form=form,
        action=ActionForm(),
        window_ends=contacts.service_window_ends(contact),
        window_closed=closed,
        picker=picker,
        window_trouble=trouble(ErrorKind.WHATSAPP_WINDOW),
        waiting=needs.waiting_one(contact.id),
        reply_pauses=settings.get("pause_on_staff_reply"),
        takeover_minutes=int(settings.get("takeover_minutes")),
        **HELPERS,
    )


@bp.post("/conversations/<int:contact_id>/pause")
def pause_contact(contact_id: int):
    contact = _contact_for_action(contact_id)
    contacts.set_paused(contact.customer_id, True)
    flash(
        f"Bot paused for {_name(contact)}: their messages are kept, not answered.",
        "success",
    )
    return redirect(url_for("admin.conversation", contact_id=contact.id))


@bp.post("/conversations/<int:contact_id>/resume")
def resume_contact(contact_id: int):
    contact = _contact_for_action(contact_id)
    contacts.set_paused(contact.customer_id, False)
    flash(
        f"Bot resumed for {_name(contact)}: it answers their next message "
        "(messages that came in while it was paused stay unanswered).",
        "success",
    )
    return redirect(url_for("admin.conversation", contact_id=contact.id))


@bp.post("/conversations/<int:contact_id>/reply")
def reply_to_contact(contact_id: int):
    contact = _customer_or_404(contact_id)
    form = ReplyForm()
    if not form.validate_on_submit():
        return render_thread(contact, form)  # keeps what was typed, with the field's error

    def send(client, retry):
        return delivery.send_human(
            contact, form.body.data, client, retry, sent_by=current_user.username
        )

    return _sending(contact, send, hold=True)


@bp.post("/conversations/<int:contact_id>/done")
def done_with_contact(contact_id: int):
    contact = _contact_for_action(contact_id)
    takeover.resume(contact.id)
    db.session.commit()
    flash(
        f"Done: the bot answers {_name(contact)} again from their next message, and they no "
        "longer need you.",
        "success",
    )
    return redirect(url_for("admin.conversation", contact_id=contact.id))


@bp.post("/conversations/<int:contact_id>/lift")
def lift_limit(contact_id: int):
    """The owner's Lift: a limited customer is answered again, counted afresh from now."""
    contact = _contact_for_action(contact_id)
    lifted = limits.lift(contact)
    db.session.commit()
    said = "is answered again from their next message" if lifted else "was not limited"
    flash(f"{_name(contact)} {said}.", "success" if lifted else "info")
    return redirect(url_for("admin.conversation", contact_id=contact.id))


@bp.post("/conversations/<int:contact_id>/hand-to-me")
def hand_to_me(contact_id: int):
    """The owner takes the customer over: paused, needs you, the team alerted, and the
    customer told with `handoff_reply` while WhatsApp's 24 hours allow it."""
    contact = _contact_for_action(contact_id)
    snap = Snapshot.load(current_app.config)
    who = current_user.username
    handoff.hand_over(contact.id, handoff.BY_OWNER.format(who=who), snap)
    db.session.commit()
    back = redirect(url_for("admin.conversation", contact_id=contact.id))
    told = str(snap["handoff_reply"]).strip()
    if not told:
        flash(f"{_name(contact)} is yours: the bot is paused for them.", "success")
        return back
    if reason := threads.window_closed_reason(contact):
        flash(f"{_name(contact)} is yours: the bot is paused for them. They were not told, "
              f"since WhatsApp would refuse the message now. {reason}", "info")  # fmt: skip
        return back

    def send(client, retry):
        return delivery.send_human(contact, told, client, retry, sent_by=who)

    return _sending(contact, send, then=f"{_name(contact)} is yours: the bot is paused for them.")


@bp.post("/conversations/<int:contact_id>/messages/<int:message_id>/send-again")
def send_again(contact_id: int, message_id: int):
    contact = _contact_for_action(contact_id)
    message = db.get_or_404(Message, message_id)
    if message.contact_id != contact.id:
        abort(404)

    def send(client, retry):
        return delivery.send_again(message.id, client, retry)

    return _sending(contact, send)


def _sending(contact: Contact, send, hold: bool = False, then: str | None = None) -> str:
    """Send as the business, within WhatsApp's 24 hours, and say how it went, then `then`.
    With `hold`, a message that went out pauses the bot for the customer
    (`pause_on_staff_reply`) for `takeover_minutes`."""
    back = redirect(url_for("admin.conversation", contact_id=contact.id, _anchor="reply"))
    if reason := threads.window_closed_reason(contact):
        flash(f"Not sent. {reason}", "error")  # Meta would refuse it (131047): nothing is sent
        return back
    try:
        snap = Snapshot.load(current_app.config)
        sent = send(snap.whatsapp(), snap.retry)
    except SecretUnreadable as exc:
        flash(f"Not sent. {exc}", "error")
        return back
    except delivery.CannotSendAgain as exc:
        flash(str(exc), "info")
        return back
    if sent.ok and hold and snap["pause_on_staff_reply"]:
        takeover.hold_for_team(contact.id, int(snap["takeover_minutes"]))
        db.session.commit()
        then = _held_until(contact.id)
    if sent.ok:
        flash(f"Sent to {_name(contact)}. {then or ''}".strip(), "success")
    else:
        hint = hint_for(sent.error.kind)
        reason = f"{hint.title}. {hint.fix}" if hint else sent.error.message
        flash(f"Not sent: {reason} {then or ''}".strip(), "error")
    return back


def _held_until(contact_id: int) -> str:
    """What the hold just started means, in the owner's words."""
    contact = db.session.get(Contact, contact_id)
    db.session.refresh(contact)
    if contact.needs_person_since is not None and contact.resume_at is None:
        return "The bot stays paused for them until you press Done."
    if contact.resume_at is None:
        return "The bot is paused for them until you press Resume."
    at = times.when(contact.resume_at, "%H:%M")
    return f"The bot answers them again at {at} unless you reply."


@bp.post("/conversations/<int:contact_id>/delete")
def delete_contact(contact_id: int):
    contact = _contact_for_action(contact_id)
    name = _name(contact)
    contacts.forget(contact.customer_id)
    done = f"Deleted {name} with every message, file, log row and trial question about them."
    flash(done, "success")
    return redirect(url_for("admin.conversations"))


def _contact_for_action(contact_id: int) -> Contact:
    contact = _customer_or_404(contact_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    return contact


def _customer_or_404(contact_id: int) -> Contact:
    """A WhatsApp customer; the Try it page's test customers have no conversation here."""
    contact = db.get_or_404(Contact, contact_id)
    if contact.channel == PLAYGROUND:
        abort(404)
    return contact

"""The Templates page (sync, list) and sending a template from a conversation."""

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from .. import settings
from ..crypto import SecretUnreadable
from ..extensions import db
from ..models import WhatsAppTemplate
from ..people import templates
from ..snapshot import Snapshot
from . import bp
from .conversations import _customer_or_404, _name, render_thread
from .forms import ActionForm, ReplyForm
from .template_picker import picker_for


@bp.get("/templates")
def templates_page():
    rows = db.session.scalars(
        select(WhatsAppTemplate).order_by(WhatsAppTemplate.name, WhatsAppTemplate.language)
    ).all()
    return render_template(
        "admin/templates.html",
        rows=rows,
        action=ActionForm(),
        waba_set=bool(str(settings.read()["whatsapp_business_account_id"]).strip()),
        variables=templates.variables,
        cannot_send=templates.cannot_send,
        render=templates.render,
        approved=sum(1 for row in rows if templates.cannot_send(row) is None),
    )


@bp.post("/templates/sync")
def sync_templates():
    if not ActionForm().validate_on_submit():
        flash("The page had expired; press Sync again.", "error")
        return redirect(url_for("admin.templates_page"))
    try:
        synced = templates.sync_from_settings(current_app.config)
    except templates.SyncRefused as exc:
        flash(f"Not synced. {exc}", "error")
    else:
        said = f"Synced: Meta lists {synced.listed} templates, {synced.approved} approved."
        if synced.removed:
            said += f" {synced.removed} that Meta no longer lists were removed."
        flash(said, "success")
    return redirect(url_for("admin.templates_page"))


@bp.post("/conversations/<int:contact_id>/template")
def send_template(contact_id: int):
    """Send an approved template (the only message WhatsApp takes outside the 24 hours)."""
    contact = _customer_or_404(contact_id)
    chosen = request.form.get("template", type=int)
    picker = picker_for(chosen)
    back = redirect(url_for("admin.conversation", contact_id=contact.id, _anchor="reply"))
    if not ActionForm().validate_on_submit() or picker.chosen is None:
        flash("Not sent: choose an approved template first (the page may have expired).", "error")
        return back
    values = {blank.key: request.form.get(blank.key, "") for blank in picker.blanks}
    picker = picker_for(chosen, values, templates.check(picker.chosen, values))
    if picker.errors:  # shown on each field, with what was typed
        flash("Not sent: some variables need a change (see below).", "error")
        return render_thread(contact, ReplyForm(formdata=None), picker)
    try:
        snap = Snapshot.load(current_app.config)
        hold = int(snap["takeover_minutes"]) if snap["pause_on_staff_reply"] else None
        sent = templates.send(contact, picker.chosen, values, current_user.username,
                              snap.whatsapp(), snap.retry, hold)  # fmt: skip
    except SecretUnreadable as exc:
        flash(f"Not sent. {exc}", "error")
        return back
    except templates.ValuesRefused as exc:
        flash(f"Not sent: {exc}", "error")
        return back
    if sent.ok:
        flash(f"Template {picker.chosen.name} sent to {_name(contact)}.", "success")
    else:
        flash(f"Not sent: Meta refused the template. {sent.error.message}", "error")
    return back

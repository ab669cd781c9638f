"""The Settings page's help for alerts (the alert template's check, Send a test e-mail) and
the dashboard's banner of alerts that did not reach the team."""

from flask import abort, current_app, flash, redirect, url_for

from .. import settings
from ..people import alert_messages, alerts, email
from ..snapshot import Snapshot
from . import bp
from .forms import ActionForm

TEST_SUBJECT = "Test e-mail from Switchboard"
TEST_BODY = (
    "This is a test of the e-mail alerts. When a customer needs a person, an e-mail like this "
    "one says who, why and since when."
)


@bp.context_processor
def alert_helpers() -> dict:
    """Called by the pages that show them, only then: the settings page and the dashboard."""
    return {"alert_template_check": template_check, "alerts_failing": alerts.failing}


def template_check() -> tuple[str, str] | None:
    """How the named alert template stands: (ok|warning, the words); None when none is named."""
    name = str(settings.get("owner_alert_template") or "").strip()
    if not name:
        return None
    template = alert_messages.template_named(name)
    if template is None:
        return "warning", f"'{name}' was not found: press Sync on the Templates page."
    if template.status != alert_messages.APPROVED:
        return "warning", f"'{name}' has status {template.status}: Meta has not approved it."
    return "ok", f"'{name}' is approved ({template.language})."


@bp.post("/settings/test-email")
def test_email():
    """Send a test e-mail with the saved settings; the mail server's answer as a flash."""
    if not ActionForm().validate_on_submit():
        abort(400)
    snap = Snapshot.load(current_app.config)
    back = redirect(url_for("admin.settings") + "#email-alerts")
    if not alerts.email_configured(snap):
        flash("Save a mail server, 'Send alerts from' and 'Send alerts to' first.", "error")
        return back
    to = email.addresses(snap["alert_email_to"])
    try:
        answer = email.send(snap, to, TEST_SUBJECT, TEST_BODY)
    except email.EmailFailed as exc:
        flash(f"The test e-mail was not sent. {exc}", "error")
        return back
    flash(f"Test e-mail sent to {', '.join(to)}. The mail server answered: {answer}", "success")
    return back

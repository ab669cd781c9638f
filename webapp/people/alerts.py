"""Alerts to the team that a customer needs a person: a WhatsApp message to each team number,
and an e-mail when the e-mail settings are complete. Queued in the handoff's transaction (one
row each in owner_alerts), sent by the worker's `alerts` job.

An alert moves queued → sending → sent, or failed. It is claimed by one conditional UPDATE,
so with several workers each alert is sent once; one left `sending` by a crash becomes
`unknown` after ABANDONED_AFTER and is never sent again (it may have arrived).
"""

import time
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, update

from .. import contacts, crypto, requestlog
from ..clients.retry import Deadline, with_retries
from ..clients.whatsapp_errors import WhatsAppError
from ..extensions import db
from ..models import Contact, OwnerAlert, utcnow
from ..requestlog import Origin
from ..snapshot import Snapshot
from ..troubleshooting import ErrorKind
from . import alert_messages, email, owners

ABANDONED_AFTER = timedelta(minutes=5)  # far longer than one send with its retries
SEND_WITHIN = 60  # seconds one alert's send may take, retries included
BATCH = 20  # alerts a run of the job looks at
INTERRUPTED = (
    "Switchboard stopped while sending this alert, so it is not known whether it arrived. It "
    "was not sent again."
)
BANNER_DAYS = 7  # a failed alert shows on the dashboard this long, unless a later one went out


def queue(contact_id: int | None, why: str, snap) -> list[int]:
    """One queued alert per team number, and one e-mail, in the caller's transaction."""
    rows = [OwnerAlert(contact_id=contact_id, channel="whatsapp", to=number, reason=why)
            for number in sorted(owners.team_numbers(snap))]  # fmt: skip
    if email_configured(snap):
        rows.append(OwnerAlert(contact_id=contact_id, channel="email",
                               to=str(snap["alert_email_to"]), reason=why))  # fmt: skip
    db.session.add_all(rows)
    db.session.flush()
    return [row.id for row in rows]


def queue_note(message: str, snap) -> list[int]:
    """An alert about the assistant itself, no customer in it (a budget nearly or fully
    spent): `message` is its whole text. Queued as `queue` does, in the caller's transaction."""
    return queue(None, message, snap)


def email_configured(snap) -> bool:
    return all(str(snap[name] or "").strip()
               for name in ("smtp_host", "alert_email_from", "alert_email_to"))  # fmt: skip


def send_due() -> int:
    """The worker's job: settle alerts a crash abandoned, then send the queued ones, each
    claimed first. Returns how many were sent or failed."""
    _settle_abandoned()
    queued = db.session.scalars(
        select(OwnerAlert.id).where(OwnerAlert.state == "queued").order_by(OwnerAlert.id)
        .limit(BATCH)
    ).all()  # fmt: skip
    db.session.commit()
    if not queued:
        return 0
    snap = Snapshot.load(current_app.config)
    done = 0
    for alert_id in queued:
        if claim(alert_id):
            send(alert_id, snap)
            done += 1
    return done


def _settle_abandoned() -> None:
    """Alerts a crash left sending: unknown (they may have arrived), logged, never resent."""
    abandoned = db.session.execute(
        update(OwnerAlert)
        .where(OwnerAlert.state == "sending", OwnerAlert.updated_at < utcnow() - ABANDONED_AFTER)
        .values(state="unknown", error_detail=INTERRUPTED, updated_at=utcnow())
        .returning(OwnerAlert.id, OwnerAlert.contact_id, OwnerAlert.channel)
    ).all()
    for alert_id, contact_id, channel in abandoned:
        email_alert = channel == "email"
        kind = str(ErrorKind.EMAIL_FAILED if email_alert else ErrorKind.WHATSAPP_UNKNOWN)
        db.session.execute(
            update(OwnerAlert).where(OwnerAlert.id == alert_id).values(error_kind=kind)
        )
        requestlog.add(Origin("whatsapp", contact_id), upstream=channel, operation="alert",
                       status="error", error_kind=kind, error_message=INTERRUPTED)  # fmt: skip


def claim(alert_id: int) -> bool:
    """Take the alert for this worker: only one claim of a queued alert succeeds."""
    claimed = db.session.execute(
        update(OwnerAlert)
        .where(OwnerAlert.id == alert_id, OwnerAlert.state == "queued")
        .values(state="sending", updated_at=utcnow())
    ).rowcount
    db.session.commit()
    return claimed == 1


def send(alert_id: int, snap: Snapshot) -> None:
    """Send one claimed alert and record how it went: the alert's row and a log row."""
    alert = db.session.get(OwnerAlert, alert_id)
    about_customer = alert is not None and alert.contact_id is not None
    customer = db.session.get(Contact, alert.contact_id) if about_customer else None
    if alert is None or (about_customer and customer is None):  # the customer was forgotten
        db.session.rollback()
        return
    if customer is None:  # about the assistant itself: the reason is the whole message
        words = alert_messages.compose_note(alert, str(snap["public_url"]))
        subject = words.why.split(". ")[0][:120]  # its first sentence
    else:
        words = alert_messages.compose(alert, customer, str(snap["public_url"]))
        subject = f"Needs you: {contacts.name_of(customer)}"
    started = time.monotonic()
    try:
        if alert.channel == "email":
            email.send(snap, email.addresses(alert.to), subject, words.text(False))
            outcome = {"state": "sent"}
        else:
            outcome = _send_whatsapp(alert, words, snap)
    except WhatsAppError as exc:  # its attempts are logged already
        outcome = _failed(exc.kind, exc.message, exc.http_status) | {"logged": True}
        if exc.kind == ErrorKind.WHATSAPP_UNKNOWN:  # it may have arrived: never sent again
            outcome["state"] = "unknown"
    except email.EmailFailed as exc:
        outcome = _failed(ErrorKind.EMAIL_FAILED, str(exc))
    except Exception as exc:  # a secret that cannot be read, a bug: said where the owner looks
        current_app.logger.exception("alert %s could not be sent", alert_id)
        db.session.rollback()
        what = crypto.UNREADABLE if isinstance(exc, crypto.SecretUnreadable) else type(exc).__name__
        outcome = _failed(ErrorKind.INTERNAL, f"The alert could not be sent: {what}")
    _record(alert, alert.contact_id, outcome, int((time.monotonic() - started) * 1000))


def _send_whatsapp(alert: OwnerAlert, words, snap: Snapshot) -> dict:
    team_member = contacts.find(alert.to)
    client = snap.whatsapp()
    if team_member is not None and contacts.in_service_window(team_member):
        db.session.commit()  # no transaction is held during the call
        text = words.text()[:4096]
        result = _retried(lambda timeout: client.send_text(alert.to, text, timeout=timeout),
                          alert, snap)  # fmt: skip
        return {"state": "sent", "wa_message_id": result.message_id}
    name = str(snap["owner_alert_template"] or "").strip()
    template = alert_messages.template_named(name) if name else None
    if template is None or template.status != alert_messages.APPROVED:
        return _failed(ErrorKind.ALERT_NOT_SENT, _why_no_template(alert.to, name, template))
    count = alert_messages.body_variable_count(template)
    components = alert_messages.body_parameters(template, words.variables(count))
    name, language = template.name, template.language
    db.session.commit()
    result = _retried(
        lambda timeout: client.send_template(alert.to, name, language, components, timeout),
        alert, snap,
    )  # fmt: skip
    return {"state": "sent", "wa_message_id": result.message_id, "template": name}


def _retried(send, alert: OwnerAlert, snap: Snapshot):
    """`send(timeout)`, tried again after a failure that reached nothing (429, a refused
    connection), as a reply's send is; each failed attempt is a log row of its own."""
    origin = Origin("whatsapp", alert.contact_id)

    def call(attempt: int, left: float):
        return send(min(snap.graph_timeout, left))

    def log_failure(attempt: int, exc: WhatsAppError, latency_ms: int) -> None:
        requestlog.add_error(origin, attempt, exc, upstream="whatsapp", latency_ms=latency_ms,
                             operation="alert")  # fmt: skip
        db.session.commit()

    return with_retries(call, log_failure, snap.retry, Deadline(SEND_WITHIN), _out_of_time)


def _out_of_time() -> WhatsAppError:
    return WhatsAppError(ErrorKind.WHATSAPP_UNAVAILABLE, "WhatsApp could not be reached in time.")


def _why_no_template(to: str, name: str, template) -> str:
    closed = f"+{to} has not written to the business number in the last 24 hours"
    if not name:
        return f"{closed}, and no alert template is set."
    if template is None:
        return f"{closed}, and the alert template '{name}' was not found (Templates page, Sync)."
    return f"{closed}, and the alert template '{name}' is {template.status}, not approved."


def _failed(kind, message: str, http_status: int | None = None) -> dict:
    return {"state": "failed", "error_kind": str(kind), "error_detail": message,
            "http_status": http_status}  # fmt: skip


def _record(alert: OwnerAlert, contact_id: int | None, outcome: dict, latency_ms: int) -> None:
    http_status, logged = outcome.pop("http_status", None), outcome.pop("logged", False)
    db.session.execute(
        update(OwnerAlert)
        .where(OwnerAlert.id == alert.id, OwnerAlert.state == "sending")
        .values(updated_at=utcnow(), **outcome)
    )
    ok = outcome["state"] == "sent"
    if logged:
        db.session.commit()
        return
    requestlog.add(
        Origin("whatsapp", contact_id),
        upstream="email" if alert.channel == "email" else "whatsapp",
        operation="alert",
        status="ok" if ok else "error",
        http_status=http_status or (200 if ok and alert.channel == "whatsapp" else None),
        error_kind=outcome.get("error_kind"),
        error_message=outcome.get("error_detail"),
        latency_ms=latency_ms,
    )
    db.session.commit()


def failing() -> list[OwnerAlert]:
    """For the dashboard: per team number or e-mail, its latest alert of the last week when
    that one failed (a later alert that went out clears it)."""
    since = utcnow() - timedelta(days=BANNER_DAYS)
    latest = (
        select(func.max(OwnerAlert.id))
        .where(OwnerAlert.created_at >= since, OwnerAlert.state.in_(("sent", "failed")))
        .group_by(OwnerAlert.channel, OwnerAlert.to)
    )
    return list(db.session.scalars(
        select(OwnerAlert).where(OwnerAlert.id.in_(latest), OwnerAlert.state == "failed")
        .order_by(OwnerAlert.id.desc())
    ))  # fmt: skip

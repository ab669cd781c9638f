"""Alerts to the team that a customer needs a person: a WhatsApp message to each team number,
and an e-mail when the e-mail settings are complete. Queued in the handoff's transaction (one
row each in owner_alerts), sent by the worker."""

from ..extensions import db
from ..models import OwnerAlert
from . import owners


def queue(contact_id: int, why: str, snap) -> list[int]:
    """One queued alert per team number, and one e-mail, in the caller's transaction."""
    rows = [OwnerAlert(contact_id=contact_id, channel="whatsapp", to=number, reason=why)
            for number in sorted(owners.team_numbers(snap))]  # fmt: skip
    if email_configured(snap):
        rows.append(OwnerAlert(contact_id=contact_id, channel="email",
                               to=str(snap["alert_email_to"]), reason=why))  # fmt: skip
    db.session.add_all(rows)
    db.session.flush()
    return [row.id for row in rows]


def email_configured(snap) -> bool:
    return all(str(snap[name] or "").strip()
               for name in ("smtp_host", "alert_email_from", "alert_email_to"))  # fmt: skip

"""Message templates: synced from the business account, their variables, filled, checked, sent."""

import json
import re
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from .. import requestlog
from ..clients.retry import Deadline, Retry
from ..clients.whatsapp import WhatsAppClient
from ..clients.whatsapp_errors import WhatsAppError
from ..crypto import SecretUnreadable
from ..extensions import db
from ..models import Contact, Message, WhatsAppTemplate, utcnow
from ..replies import delivery
from ..replies.delivery import Part, Sent
from ..requestlog import Origin
from ..snapshot import Snapshot
from ..states import PartState
from ..troubleshooting import trouble
from . import takeover

APPROVED = "APPROVED"
NAMED = "NAMED"
# {{1}} in a positional template, {{first_name}} in a named one (lower case, digits, _).
VARIABLE = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}", re.IGNORECASE)
# Meta's limits for a text parameter (Cloud API reference, the "parameter object"): 60
# characters in a header; in the body 1024 when other components are included, 32768 when the
# body is the only component.
HEADER_LIMIT, BODY_LIMIT, BODY_ONLY_LIMIT = 60, 1024, 32768
# Meta refuses a parameter with a line break, a tab or more than 4 spaces in a row: error
# 132018, "Param text cannot have new-line/tab characters or more than 4 consecutive spaces".
BAD_SPACING = re.compile(r"[\n\r\t]| {5,}")


@dataclass(frozen=True)
class Variable:
    """One blank of a template: in the header or the body, numbered ("1") or named."""

    part: str  # header or body
    name: str

    @property
    def key(self) -> str:  # the form field's name, unique across header and body
        return f"{self.part}_{self.name}"

    @property
    def label(self) -> str:
        where = "Header" if self.part == "header" else "Body"
        return f"{where} {{{{{self.name}}}}}"


class ValuesRefused(Exception):
    """Variables that WhatsApp would refuse: field key → what is wrong, in plain words."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def components(template: WhatsAppTemplate) -> list[dict]:
    try:
        parsed = json.loads(template.components or "[]")
    except ValueError:
        return []
    return [c for c in parsed if isinstance(c, dict)] if isinstance(parsed, list) else []


def _part(template: WhatsAppTemplate, kind: str) -> dict | None:
    return next((c for c in components(template) if str(c.get("type")).upper() == kind), None)


def _text_of(component: dict | None) -> str:
    text = component.get("text") if component else None
    return text if isinstance(text, str) else ""


def _header(template: WhatsAppTemplate) -> dict | None:
    header = _part(template, "HEADER")
    return header if header and str(header.get("format", "TEXT")).upper() == "TEXT" else None


def variables(template: WhatsAppTemplate) -> list[Variable]:
    """The template's blanks in the order the customer reads them: a TEXT header's, then the
    body's; each name once. A positional template's are numbered {{1}}, {{2}}…"""
    found: list[Variable] = []
    for part, component in (("header", _header(template)), ("body", _part(template, "BODY"))):
        names = list(dict.fromkeys(VARIABLE.findall(_text_of(component))))
        if template.parameter_format != NAMED:
            names.sort(key=lambda name: int(name) if name.isdigit() else 0)
        found += [Variable(part, name) for name in names]
    return found


def cannot_send(template: WhatsAppTemplate) -> str | None:
    """Why this template cannot be sent from Switchboard, in the owner's words; None: it can."""
    if template.status != APPROVED:
        return f"Meta has not approved it (status {template.status})."
    header = _part(template, "HEADER")
    if header and _header(template) is None:
        kind = str(header.get("format", "")).lower()
        return f"Its header is a {kind}, which Switchboard does not send: use a text header."
    buttons = (_part(template, "BUTTONS") or {}).get("buttons") or []
    if any(isinstance(b, dict) and VARIABLE.search(str(b.get("url", ""))) for b in buttons):
        return "A button's address has a variable, which Switchboard does not fill."
    return None


def sendable() -> list[WhatsAppTemplate]:
    """Approved templates that can be sent from here, by name then language."""
    listed = db.session.scalars(
        select(WhatsAppTemplate)
        .where(WhatsAppTemplate.status == APPROVED)
        .order_by(WhatsAppTemplate.name, WhatsAppTemplate.language)
    )
    return [t for t in listed if cannot_send(t) is None]


def check(template: WhatsAppTemplate, values: dict[str, str]) -> dict[str, str]:
    """What WhatsApp would refuse in these values, field by field (nothing when none)."""
    body_only = len(components(template)) == 1
    errors = {}
    for variable in variables(template):
        value = values.get(variable.key) or ""
        limit = HEADER_LIMIT if variable.part == "header" else BODY_LIMIT
        if variable.part == "body" and body_only:
            limit = BODY_ONLY_LIMIT
        if not value.strip():
            errors[variable.key] = f"Fill in {variable.label}: WhatsApp refuses an empty one."
        elif BAD_SPACING.search(value):
            errors[variable.key] = (
                "WhatsApp refuses a line break, a tab or more than 4 spaces in a row inside a "
                "variable: write it on one line."
            )
        elif len(value) > limit:
            errors[variable.key] = (
                f"At most {limit} characters here (WhatsApp's limit); this has {len(value)}."
            )
    return errors


def _filled(text: str, part: str, values: dict[str, str]) -> str:
    return VARIABLE.sub(lambda m: values.get(f"{part}_{m[1]}") or m[0], text)


def render(template: WhatsAppTemplate, values: dict[str, str]) -> str:
    """The message as the customer sees it: header, body and footer with the values in; a
    blank left empty stays as {{name}}."""
    texts = [
        _filled(_text_of(_header(template)), "header", values),
        _filled(_text_of(_part(template, "BODY")), "body", values),
        _text_of(_part(template, "FOOTER")),
    ]
    return "\n\n".join(text for text in texts if text.strip())


def components_for(template: WhatsAppTemplate, values: dict[str, str]) -> list[dict]:
    """The `components` of the send, in Meta's shape; a named template names each value."""
    parts: dict[str, list[dict]] = {}
    for variable in variables(template):
        parameter = {"type": "text", "text": values.get(variable.key, "")}
        if template.parameter_format == NAMED:
            parameter["parameter_name"] = variable.name
        parts.setdefault(variable.part, []).append(parameter)
    return [{"type": part, "parameters": given} for part, given in parts.items()]


def described(template: WhatsAppTemplate) -> dict:
    """What a send's log row says of the template."""
    return {"template": template.name, "language": template.language,
            "category": template.category}  # fmt: skip


def send(
    contact: Contact,
    template: WhatsAppTemplate,
    values: dict[str, str],
    author: str,
    client: WhatsAppClient,
    retry: Retry,
    hold_minutes: int | None = None,
) -> Sent:
    """Check the values, store the message in the thread (as the team's, sent by `author`),
    then send it; raises ValuesRefused before anything is stored or sent. With
    `hold_minutes` (pause_on_staff_reply), the bot is paused for the customer as for any
    reply of the team."""
    if reason := cannot_send(template):
        raise ValuesRefused({"template": f"This template cannot be sent. {reason}"})
    if errors := check(template, values):
        raise ValuesRefused(errors)
    text = render(template, values)
    message = Message(contact_id=contact.id, direction="out", author="human", sent_by=author,
                      type="template", text=text, state=PartState.SENDING, channel="whatsapp",
                      created_at=utcnow(), updated_at=utcnow())  # fmt: skip
    db.session.add(message)
    if hold_minutes is not None:
        takeover.hold_for_team(contact.id, hold_minutes)
    db.session.commit()
    to = contact.phone or contact.customer_id
    name, language, given = template.name, template.language, components_for(template, values)
    logged = {"operation": "template", "body": described(template)}

    def send_one(part: Part, timeout: float):
        return client.send_template(to, name, language, given, timeout=timeout)

    origin = Origin("whatsapp", contact.id)
    part = Part(message.id, text)
    return delivery.send_parts([part], client, to, origin, retry, Deadline(120),
                               send_one=send_one, logged=logged)  # fmt: skip


@dataclass
class Synced:
    """What a sync found: templates listed, of them approved, and those Meta no longer lists."""

    listed: int
    approved: int
    removed: int


def sync(client: WhatsAppClient, business_account_id: str) -> Synced:
    """Replace the stored templates with what Meta lists now (raises WhatsAppError)."""
    listed = client.message_templates(business_account_id)
    try:
        return _store(listed)
    except IntegrityError:  # another sync stored the same template meanwhile: once more
        db.session.rollback()
        return _store(listed)


def _store(listed: list[dict]) -> Synced:
    stored = {(t.name, t.language): t for t in db.session.scalars(select(WhatsAppTemplate))}
    seen = set()
    for item in listed:
        name, language = str(item.get("name") or ""), str(item.get("language") or "")
        if not name or not language or (name, language) in seen:
            continue
        seen.add((name, language))
        row = stored.get((name, language)) or WhatsAppTemplate(name=name, language=language)
        row.meta_id = str(item.get("id") or "")[:64] or None
        row.status = str(item.get("status") or "UNKNOWN")[:32]
        row.category = str(item.get("category") or "")[:32] or None
        row.parameter_format = str(item.get("parameter_format") or "POSITIONAL")[:16]
        row.components = json.dumps(item.get("components") or [], ensure_ascii=False)
        row.rejected_reason = _reason(item.get("rejected_reason"))
        row.synced_at = utcnow()
        db.session.add(row)
    gone = [t.id for key, t in stored.items() if key not in seen]
    if gone:
        db.session.execute(delete(WhatsAppTemplate).where(WhatsAppTemplate.id.in_(gone)))
    db.session.commit()
    approved = sum(1 for item in listed if item.get("status") == APPROVED)
    return Synced(len(seen), approved, len(gone))


def _reason(value) -> str | None:
    # Meta answers "NONE" for a template that was not rejected.
    text = str(value or "").strip()
    return None if text in ("", "NONE") else text


class SyncRefused(Exception):
    """A sync that could not run or that Graph refused; the message says why in plain words."""


def sync_from_settings(config) -> Synced:
    """Sync with the saved settings; a failure is logged (operation "templates") and raised
    as SyncRefused."""
    try:
        snap = Snapshot.load(config)
    except SecretUnreadable as exc:
        raise SyncRefused(str(exc)) from None
    if problem := missing_setup(snap):
        raise SyncRefused(problem)
    try:
        return sync(snap.whatsapp(), str(snap["whatsapp_business_account_id"]))
    except WhatsAppError as exc:
        db.session.rollback()
        requestlog.add_error(Origin("whatsapp"), 1, exc, upstream="whatsapp",
                             operation="templates")  # fmt: skip
        db.session.commit()
        hint = trouble(exc.kind)
        raise SyncRefused(f"Meta did not list the templates: {exc.message} {hint.fix}") from None


def missing_setup(values) -> str | None:
    """What must be set before a sync, in the owner's words; None when nothing."""
    if not str(values["whatsapp_business_account_id"]).strip():
        return (
            "The WhatsApp Business Account ID is not set: copy it from WhatsApp > API Setup in "
            "Meta's developer dashboard (beside the phone number ID) and save it in Settings."
        )
    if not str(values["whatsapp_access_token"]).strip():
        return "The WhatsApp access token is not set: save it in Settings first."
    return None

"""What an alert says: who needs a person, their last words, why, since when, where to answer;
as a plain message, an e-mail, or the variables of the `owner_alert_template`. An alert about
the assistant itself (a budget) is its message, when, and the Settings page."""

import json
import re
from dataclasses import dataclass

from sqlalchemy import select

from .. import contacts
from ..display import times
from ..extensions import db
from ..models import Contact, Message, OwnerAlert, WhatsAppTemplate

LAST_MESSAGES = 3  # the customer's own latest messages an alert quotes
QUOTE_LIMIT = 200  # characters of each
ANSWER_LINE = "Reply to this message to answer them; 'done' when finished."
APPROVED = "APPROVED"
VARIABLE_LIMIT = 500  # characters of a template variable (Meta's limit is higher)
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")  # {{1}} or {{name}}


@dataclass(frozen=True)
class Alert:
    """One alert's words, read once before the send."""

    label: str
    why: str
    since: str
    last_words: list[str]
    link: str

    def text(self, answer_line: bool = True) -> str:
        lines = [f"{self.label} needs you.", f"Why: {self.why}", f"Since: {self.since}"]
        if self.last_words:
            lines += ["", "Their last messages:", *(f"> {words}" for words in self.last_words)]
        if self.link:
            lines += ["", f"Conversation: {self.link}"]
        if answer_line:
            lines += ["", ANSWER_LINE]
        return "\n".join(lines)

    def variables(self, count: int) -> list[str]:
        """The template's body variables in order: who, why, then the link or the last words."""
        third = self.link or (self.last_words[-1] if self.last_words else "-")
        # Meta refuses a variable with a line break, a tab or a run of spaces in it.
        values = [_one_line(v) for v in (self.label, self.why, third)]
        return values[:count] + ["-"] * max(0, count - 3)


def compose(alert: OwnerAlert, contact: Contact, public_url: str) -> Alert:
    since = contact.needs_person_since or alert.created_at
    words = db.session.scalars(
        select(Message.text)
        .where(Message.contact_id == contact.id, Message.direction == "in",
               Message.text.is_not(None))
        .order_by(Message.created_at.desc(), Message.id.desc())
        .limit(LAST_MESSAGES)
    ).all()  # fmt: skip
    quoted = [_short(text) for text in reversed(words) if text.strip()]
    link = f"{public_url.rstrip('/')}/admin/conversations/{contact.id}" if public_url else ""
    return Alert(contacts.label_of(contact), alert.reason, times.when(since), quoted, link)


@dataclass(frozen=True)
class Note:
    """An alert about the assistant itself (a budget): its message, when, and where to look."""

    why: str
    since: str
    link: str

    def text(self, answer_line: bool = True) -> str:
        lines = [self.why, f"Since: {self.since}"]
        return "\n".join([*lines, "", f"Settings: {self.link}"] if self.link else lines)

    def variables(self, count: int) -> list[str]:
        """The template's body variables: who (Switchboard), why (the message), the link."""
        values = [_one_line(v) for v in ("Switchboard", self.why, self.link or "-")]
        return values[:count] + ["-"] * max(0, count - 3)


def compose_note(alert: OwnerAlert, public_url: str) -> Note:
    link = f"{public_url.rstrip('/')}/admin/settings" if public_url else ""
    return Note(alert.reason, times.when(alert.created_at), link)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:VARIABLE_LIMIT] or "-"


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= QUOTE_LIMIT else text[: QUOTE_LIMIT - 1] + "…"


def template_named(name: str) -> WhatsAppTemplate | None:
    """The template of that name (approved first), or None."""
    rows = db.session.scalars(select(WhatsAppTemplate).where(WhatsAppTemplate.name == name)).all()
    return next((t for t in rows if t.status == APPROVED), rows[0] if rows else None)


def body_variable_count(template: WhatsAppTemplate) -> int:
    """How many variables the template's body has ({{1}}, {{2}}… or named ones)."""
    try:
        components = json.loads(template.components or "[]")
    except ValueError:
        return 0
    for component in components if isinstance(components, list) else []:
        if isinstance(component, dict) and str(component.get("type", "")).upper() == "BODY":
            example = component.get("example") or {}
            named = example.get("body_text_named_params") if isinstance(example, dict) else None
            if named:
                return len(named)
            text = str(component.get("text") or "")
            return len(set(_PLACEHOLDER.findall(text)))
    return 0


def body_parameters(template: WhatsAppTemplate, values: list[str]) -> list[dict]:
    """Meta's `components` filling the body's variables with `values`, in order."""
    if not values:
        return []
    if (template.parameter_format or "").upper() == "NAMED":
        names = _named_params(template)
        named = zip(names, values, strict=False)  # a value without a name is left out
        params = [{"type": "text", "parameter_name": n, "text": v} for n, v in named]
    else:
        params = [{"type": "text", "text": value} for value in values]
    return [{"type": "body", "parameters": params}]


def _named_params(template: WhatsAppTemplate) -> list[str]:
    for component in json.loads(template.components or "[]"):
        if str(component.get("type", "")).upper() == "BODY":
            named = (component.get("example") or {}).get("body_text_named_params") or []
            return [str(item.get("param_name")) for item in named if isinstance(item, dict)]
    return []

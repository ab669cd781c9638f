"""Rows written straight into the database: contacts, messages, log rows, a dashboard's data."""

import html
import re
from datetime import UTC, datetime, timedelta

from webapp.extensions import db
from webapp.models import Contact, Message, RequestLog

NOW = datetime.now(UTC)


BASE = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def add_row(app, minutes: float = 0, **fields) -> int:
    """One log row `minutes` after BASE; an ok WhatsApp answer unless `fields` say otherwise."""
    values = {
        "created_at": BASE + timedelta(minutes=minutes),
        "channel": "whatsapp",
        "model_requested": "openai/gpt-4o-mini",
        "model_used": "openai/gpt-4o-mini",
        "status": "ok",
        "http_status": 200,
        "latency_ms": 812,
        "prompt_tokens": 120,
        "completion_tokens": 34,
        "cost": 0.0000387,
        **fields,
    }
    if values["status"] == "error":
        values.setdefault("error_kind", "rate_limited")
        values.setdefault("error_message", "Rate limit exceeded")
        values.update(model_used=fields.get("model_used"), cost=fields.get("cost"))
    with app.app_context():
        row = RequestLog(**values)
        db.session.add(row)
        db.session.commit()
        return row.id


def ago(**delta) -> datetime:
    """A moment in the past."""
    return datetime.now(UTC) - timedelta(**delta)


def add_contact(app, phone, name=None, wrote=timedelta(hours=1), paused=False) -> int:
    """A contact whose last message came `wrote` ago, or at `wrote`; None: never wrote."""
    with app.app_context():
        last = ago(seconds=wrote.total_seconds()) if isinstance(wrote, timedelta) else wrote
        contact = Contact(
            customer_id=phone, phone=phone, profile_name=name, paused=paused, last_inbound_at=last
        )
        db.session.add(contact)
        db.session.commit()
        return contact.id


def add_message(app, contact_id, author, text, state, at, **fields) -> int:
    with app.app_context():
        direction = "in" if author == "customer" else "out"
        message = Message(
            contact_id=contact_id,
            direction=direction,
            author=author,
            text=text,
            state=state,
            created_at=at,
            **fields,
        )
        db.session.add(message)
        db.session.commit()
        return message.id


def text_of(response) -> str:
    """What a reader sees of a response (or a piece of a page): no tags, entities decoded,
    runs of white space as one space."""
    page = response if isinstance(response, str) else response.get_data(as_text=True)
    visible = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", html.unescape(visible))


def thread_url(contact_id: int) -> str:
    return f"/admin/conversations/{contact_id}"

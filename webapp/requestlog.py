"""Writes the request log: a row per call to a model or to WhatsApp, with how it went.

The `add_*` functions only add the row to the current transaction: a successful call is
recorded in the same commit as what it changed (a reply stored, a part marked sent).
"""

import json
from dataclasses import dataclass

from sqlalchemy import bindparam, insert

from .clients.openrouter import ChatResult
from .clients.whatsapp import SendResult
from .extensions import db
from .models import RequestLog, utcnow
from .troubleshooting import ErrorKind

BODY_LIMIT = 20_000  # enough to inspect a request or an error; the log must not balloon


@dataclass(frozen=True)
class Origin:
    """Where a call came from, carried into every log row it causes."""

    channel: str  # whatsapp, flow, playground
    contact_id: int | None = None
    message_id: int | None = None  # the customer message being answered (a turn's latest)


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:BODY_LIMIT]


COLUMNS = [column.name for column in RequestLog.__table__.columns if column.name != "id"]
# Built once with every column, so each row reuses one compiled statement.
ROW = insert(RequestLog.__table__).values({name: bindparam(f"v_{name}") for name in COLUMNS})
DEFAULTS = {"upstream": "openrouter", "attempt": 1}


def row(origin: Origin, **fields) -> dict:
    """A log row's values, ready for `insert` (built before a transaction, to keep it short)."""
    fields |= {"channel": origin.channel, "contact_id": origin.contact_id,
               "message_id": origin.message_id}  # fmt: skip
    fields.setdefault("created_at", utcnow())
    return {f"v_{name}": fields.get(name, DEFAULTS.get(name)) for name in COLUMNS}


def insert(values: dict) -> None:
    db.session.execute(ROW, values)


def add(origin: Origin, **fields) -> None:
    insert(row(origin, **fields))


def model_ok(origin: Origin, attempt: int, body: dict, result: ChatResult) -> dict:
    return row(
        origin,
        upstream="openrouter",
        attempt=attempt,
        model_requested=body.get("model"),
        model_used=result.model,
        provider=result.provider,
        status="ok",
        http_status=200,
        latency_ms=result.latency_ms,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        cost=result.cost,
        generation_id=result.generation_id,
        request_body=_clip(json.dumps(body, ensure_ascii=False)),
        response_body=_clip(json.dumps(result.raw, ensure_ascii=False)),
    )


def send_ok(origin: Origin, attempt: int, result: SendResult) -> dict:
    """A message WhatsApp accepted: counted like any other call."""
    return row(
        origin,
        upstream="whatsapp",
        attempt=attempt,
        status="ok",
        http_status=200,
        latency_ms=result.latency_ms,
        response_body=_clip(json.dumps(result.raw, ensure_ascii=False)),
    )


def add_error(
    origin: Origin,
    attempt: int,
    error,
    *,
    upstream: str,
    body: dict | None = None,
    latency_ms: int | None = None,
) -> None:
    """A failed attempt: `error` is an OpenRouterError or a WhatsAppError (same fields)."""
    add(
        origin,
        upstream=upstream,
        attempt=attempt,
        model_requested=(body or {}).get("model") if upstream == "openrouter" else None,
        provider=getattr(error, "provider", None),
        status="error",
        http_status=error.http_status,
        error_kind=str(error.kind),
        error_message=error.message,
        latency_ms=latency_ms,
        request_body=_clip(json.dumps(body, ensure_ascii=False)) if body else None,
        response_body=_clip(error.raw_body) or None,
    )


def add_internal(origin: Origin, attempt: int, message: str) -> None:
    """A failure inside Switchboard itself (the traceback is in the server log)."""
    add(
        origin,
        upstream="switchboard",
        attempt=attempt,
        status="error",
        error_kind=str(ErrorKind.INTERNAL),
        error_message=message,
    )


def media_ok(origin: Origin, attempt: int, body: dict, latency_ms: int) -> dict:
    """A customer's file fetched from WhatsApp (its ID and type in `body`)."""
    return row(
        origin,
        upstream="whatsapp",
        operation="media",
        attempt=attempt,
        status="ok",
        http_status=200,
        latency_ms=latency_ms,
        request_body=json.dumps(body, ensure_ascii=False),
    )

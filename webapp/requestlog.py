"""Writes the request log: a row per upstream attempt, with its outcome and error kind."""

import json
from dataclasses import dataclass

from .clients.openrouter import ChatResult
from .extensions import db
from .models import RequestLog

BODY_LIMIT = 20_000  # enough to inspect a request or an error; the log must not balloon


@dataclass
class Origin:
    """Where a call came from, carried into every log row it causes."""

    channel: str  # whatsapp, flow, playground
    contact_id: int | None = None
    message_id: int | None = None


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:BODY_LIMIT]


def model_ok(origin: Origin, attempt: int, body: dict, result: ChatResult) -> RequestLog:
    return _add(
        origin,
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


def upstream_error(
    origin: Origin, attempt: int, error, *, upstream: str, body: dict | None, latency_ms: int
) -> RequestLog:
    """A failed attempt: `error` is an OpenRouterError or a WhatsAppError (same fields)."""
    return _add(
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


def _add(origin: Origin, **fields) -> RequestLog:
    row = RequestLog(
        channel=origin.channel,
        contact_id=origin.contact_id,
        message_id=origin.message_id,
        **fields,
    )
    db.session.add(row)
    db.session.commit()
    return row

"""Writes the request log: a row per call to a model or to WhatsApp, with how it went.

The `add_*` functions only add the row to the current transaction: a successful call is
recorded in the same commit as what it changed (a reply stored, a part marked sent).
"""

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, insert

from .clients.openrouter import ChatResult, Embeddings, Transcript
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
    flow_token_id: int | None = None  # the flow key a flow's call came with


def _clip(text: str | None) -> str | None:
    return None if text is None else text[:BODY_LIMIT]


DATA_URL = re.compile(r"data:([\w.+/-]*);base64,")  # the head only: the rest is only counted


def without_file_bytes(value):
    """A copy of a request body with each file's bytes replaced by a short note of what they
    were: a voice note's base64 becomes "<ogg audio, 48 kB>", a photo's data: URL
    "data:image/jpeg;base64,… (123 kB)". A log row shows what was sent, never the file."""
    if isinstance(value, list):
        return [without_file_bytes(item) for item in value]
    if not isinstance(value, dict):
        if isinstance(value, str) and (data_url := DATA_URL.match(value)):
            return f"data:{data_url[1]};base64,… ({_size(len(value) - data_url.end())})"
        return value
    shortened = {key: without_file_bytes(item) for key, item in value.items()}
    audio = value.get("input_audio")
    if isinstance(audio, dict) and isinstance(audio.get("data"), str):
        note = f"<{audio.get('format') or 'unknown'} audio, {_size(len(audio['data']))}>"
        shortened["input_audio"] = audio | {"data": note}
    return shortened


def _size(base64_length: int) -> str:
    """The size of the file that base64 of this length encodes, in kB (4 characters: 3 bytes)."""
    return f"{math.ceil(base64_length * 3 / 4 / 1000)} kB"


def _logged_body(body: dict) -> str | None:
    return _clip(json.dumps(without_file_bytes(body), ensure_ascii=False))


COLUMNS = [column.name for column in RequestLog.__table__.columns if column.name != "id"]
# Built once with every column, so each row reuses one compiled statement.
ROW = insert(RequestLog.__table__).values({name: bindparam(f"v_{name}") for name in COLUMNS})
DEFAULTS = {"upstream": "openrouter", "attempt": 1}


def row(origin: Origin, **fields) -> dict:
    """A log row's values, ready for `insert` (built before a transaction, to keep it short)."""
    fields |= {"channel": origin.channel, "contact_id": origin.contact_id,
               "message_id": origin.message_id, "flow_token_id": origin.flow_token_id}  # fmt: skip
    fields.setdefault("created_at", utcnow())
    return {f"v_{name}": fields.get(name, DEFAULTS.get(name)) for name in COLUMNS}


def insert(values: dict) -> None:
    db.session.execute(ROW, values)


def add(origin: Origin, **fields) -> None:
    insert(row(origin, **fields))


def model_ok(
    origin: Origin, attempt: int, body: dict, result: ChatResult, knowledge: Sequence[str] = ()
) -> dict:
    """An answer, with the labels of the knowledge the model was given (none: NULL)."""
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
        request_body=_logged_body(body),
        response_body=_clip(json.dumps(result.raw, ensure_ascii=False)),
        knowledge=json.dumps(list(knowledge), ensure_ascii=False) if knowledge else None,
    )


def transcription_ok(origin: Origin, attempt: int, body: dict, transcript: Transcript) -> dict:
    """A voice note turned into text: logged like a chat, without the audio itself."""
    return row(
        origin,
        upstream="openrouter",
        operation="transcription",
        attempt=attempt,
        model_requested=transcript.model,
        model_used=transcript.model,
        status="ok",
        http_status=200,
        latency_ms=transcript.latency_ms,
        cost=transcript.cost,
        request_body=_logged_body(body),
        response_body=_clip(json.dumps(transcript.raw, ensure_ascii=False)),
    )


def embedding_ok(origin: Origin, body: dict, result: Embeddings) -> dict:
    """Texts turned into vectors (a question, or a batch of knowledge): logged with their
    tokens and cost; the body says how many texts, not what they were, nor the vectors."""
    return row(
        origin,
        upstream="openrouter",
        operation="embedding",
        model_requested=result.model,
        model_used=result.model,
        status="ok",
        http_status=200,
        latency_ms=result.latency_ms,
        prompt_tokens=result.prompt_tokens,
        cost=result.cost,
        request_body=_logged_body(body),
        response_body=_clip(json.dumps(result.raw, ensure_ascii=False)),
    )


def send_ok(
    origin: Origin,
    attempt: int,
    result: SendResult,
    operation: str | None = None,
    body: dict | None = None,
) -> dict:
    """A message WhatsApp accepted: counted like any other call; `operation` and `body` name a
    send that is not a plain text (a template's name, language and category)."""
    return row(
        origin,
        upstream="whatsapp",
        operation=operation,
        request_body=_logged_body(body) if body else None,
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
    operation: str | None = None,
) -> None:
    """A failed attempt: `error` is an OpenRouterError or a WhatsAppError (same fields);
    `operation` names a call that is not a chat or a send ("transcription")."""
    add(
        origin,
        upstream=upstream,
        operation=operation,
        attempt=attempt,
        model_requested=(body or {}).get("model") if upstream == "openrouter" else None,
        provider=getattr(error, "provider", None),
        status="error",
        http_status=error.http_status,
        error_kind=str(error.kind),
        error_message=error.message,
        latency_ms=latency_ms,
        request_body=_logged_body(body) if body else None,
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

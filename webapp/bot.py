"""The one reply pipeline: prompt, memory and text to the model, with retries, fallbacks and logs.

The WhatsApp worker, the flow endpoint and the playground all answer through `ask_model`, so
logging, error kinds, memory and model choice behave the same everywhere.
"""

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from flask import current_app
from sqlalchemy import select

from . import catalog, inbox, prompts, requestlog, settings, upstream
from .clients.openrouter import MAX_ROUTE_MODELS, ChatResult, chat_body
from .clients.openrouter_errors import OpenRouterError
from .clients.whatsapp import WhatsAppClient, split_message
from .clients.whatsapp_errors import WhatsAppError
from .extensions import db
from .models import Contact, Message
from .requestlog import Origin
from .troubleshooting import ErrorKind, UpstreamError, trouble

T = TypeVar("T")
MEMORY_WINDOW = timedelta(hours=24)
# Failures no other model can fix: trying the next models would fail the same way.
ACCOUNT_WIDE = {ErrorKind.INVALID_KEY, ErrorKind.NO_CREDITS, ErrorKind.NETWORK}


def backoff_delay(attempt: int, retry_after: float | None) -> float:
    """Exponential backoff with jitter, honouring the server's Retry-After, within a cap."""
    base = current_app.config.get("RETRY_BASE_DELAY", 1.0)
    cap = current_app.config.get("RETRY_MAX_DELAY", 30.0)
    delay = base * 2 ** (attempt - 1) + random.uniform(0, base)  # noqa: S311 (jitter, not crypto)
    return min(max(delay, retry_after or 0), cap)


def with_retries(call: Callable[[int], T], log_failure: Callable[[int, Exception, int], None]) -> T:
    """Run `call(attempt)`; retry transient failures; every failed attempt is logged."""
    attempts = current_app.config.get("RETRY_ATTEMPTS", 3)
    for attempt in range(1, attempts + 1):
        started = time.monotonic()
        try:
            return call(attempt)
        except UpstreamError as exc:
            log_failure(attempt, exc, int((time.monotonic() - started) * 1000))
            if attempt == attempts or not trouble(exc.kind).transient:
                raise
            time.sleep(backoff_delay(attempt, exc.retry_after))
    raise AssertionError("unreachable")


def conversation(contact_id: int, text: str, before_id: int | None = None) -> list[dict]:
    """System prompt, the contact's recent exchanges (last 24 h), then the new text."""
    turns = int(settings.get("memory_turns"))
    history: list[dict] = []
    if turns:
        since = datetime.now(UTC) - MEMORY_WINDOW
        query = (
            select(Message)
            .where(
                Message.contact_id == contact_id,
                Message.text.is_not(None),
                Message.created_at >= since,
                Message.state.not_in(("failed", "sending")) | (Message.direction == "in"),
            )
            .order_by(Message.created_at.desc(), Message.id.desc())
            .limit(turns * 2)
        )
        if before_id is not None:
            query = query.where(Message.id < before_id)
        for message in reversed(db.session.scalars(query).all()):
            role = "user" if message.direction == "in" else "assistant"
            if history and history[-1]["role"] == role:  # parts of a split reply, or a burst
                history[-1]["content"] += "\n\n" + message.text
            else:
                history.append({"role": role, "content": message.text})
    system = {"role": "system", "content": prompts.current_text()}
    return [system, *history, {"role": "user", "content": text}]


def ask_model(messages: list[dict], origin: Origin, model: str | None = None) -> ChatResult:
    """The model's answer. Routes of up to three models go to OpenRouter, which falls back
    inside a route; when a whole route fails, the next enabled models get their turn."""
    chain = [model] if model else catalog.fallback_chain()
    if not chain:
        raise OpenRouterError(ErrorKind.MODEL_NOT_FOUND, "No default model is chosen.")
    client = upstream.openrouter_client()
    max_tokens = int(settings.get("max_tokens"))
    routes = [chain[i : i + MAX_ROUTE_MODELS] for i in range(0, len(chain), MAX_ROUTE_MODELS)]
    for index, route in enumerate(routes):
        body = chat_body(messages, route[0], route[1:], max_tokens)

        def call(attempt: int, body=body) -> ChatResult:
            result = client.send_chat(body)
            requestlog.model_ok(origin, attempt, body, result)
            return result

        def log_failure(attempt: int, exc: Exception, latency_ms: int, body=body) -> None:
            requestlog.upstream_error(
                origin, attempt, exc, upstream="openrouter", body=body, latency_ms=latency_ms
            )

        try:
            return with_retries(call, log_failure)
        except OpenRouterError as exc:
            if exc.kind in ACCOUNT_WIDE or index == len(routes) - 1:
                raise
    raise AssertionError("unreachable")


def handle_inbound(message_id: int) -> None:
    """Answer one customer message, at most once, whatever happened to earlier runs."""
    message = inbox.claim(message_id)
    if message is None:
        return  # answered, being answered, or gone
    contact = message.contact
    if contact.paused:
        inbox.finish(message, "paused")
        return
    if inbox.reply_parts(message):
        # An earlier run got as far as sending and then died: never send a second reply.
        inbox.finish_interrupted(message)
        return
    if settings.get("mark_read"):
        _mark_read(message)
    origin = Origin("whatsapp", contact.id, message.id)
    failure: Exception | None = None
    if message.text:
        try:
            result = ask_model(conversation(contact.id, message.text, message.id), origin)
            reply = result.content
        except OpenRouterError as exc:
            failure, reply = exc, str(settings.get("fallback_reply"))
    else:
        reply = str(settings.get("non_text_reply"))
    sent = send_reply(message, reply, origin) if reply.strip() else True
    if failure is not None:
        inbox.finish(message, "failed", failure)
    elif not sent:
        inbox.finish(message, "failed", inbox.last_send_error(message))
    else:
        inbox.finish(message, "answered")


def send_reply(message: Message, text: str, origin: Origin, author: str = "bot") -> bool:
    """Send `text` to the customer in parts of at most 4096 characters; False if one failed."""
    client = upstream.whatsapp_client()
    to = message.contact.phone or message.contact.customer_id
    for index, part in enumerate(split_message(text)):
        out = inbox.start_outbound(message.contact_id, part, index, author, reply_to=message)
        quoted = message.wa_message_id if index == 0 else None
        if not _deliver(client, to, out, origin, quoted):
            return False
    return True


def _mark_read(message: Message) -> None:
    try:
        upstream.whatsapp_client().mark_read(message.wa_message_id, typing=True)
    except WhatsAppError as exc:
        # Blue ticks are a courtesy: a failure here must not stop the answer.
        current_app.logger.warning("marking message %s read failed: %s", message.id, exc)


class ServiceWindowClosed(Exception):
    """A free-form message to a customer who has not written within WhatsApp's 24 hours."""


def window_closed_reason(contact: Contact) -> str | None:
    """Why the team cannot write to `contact` now, in the owner's words; None when it can."""
    if inbox.in_service_window(contact):
        return None
    last = contact.last_inbound_at
    when = (
        f"This customer last wrote on {last:%Y-%m-%d at %H:%M} UTC."
        if last
        else "This customer has not written yet."
    )
    rule = trouble(ErrorKind.WHATSAPP_WINDOW).cause
    return f"{rule} {when} Message templates are not supported yet."


def send_human_reply(contact_id: int, text: str) -> list[Message]:
    """Send the team's own message in parts of at most 4096 characters, stopping at a failed part.

    Returns the stored parts (author "human"); a part that could not be sent is the last one,
    marked failed with its error kind. It answers no particular message, so it is stored without
    `reply_to` and quotes nothing. It does not pause the bot: owners pause explicitly.
    """
    contact = db.session.get(Contact, contact_id)
    if contact is None:
        raise LookupError(f"no contact {contact_id}")
    if reason := window_closed_reason(contact):
        raise ServiceWindowClosed(reason)  # Meta would refuse it (131047): nothing is sent
    client = upstream.whatsapp_client()
    parts = []
    for index, part in enumerate(split_message(text)):
        out = inbox.start_outbound(contact.id, part, index, "human")
        parts.append(out)
        origin = Origin("whatsapp", contact.id, out.id)
        if not _deliver(client, contact.phone or contact.customer_id, out, origin):
            break
    return parts


def _deliver(
    client: WhatsAppClient, to: str, out: Message, origin: Origin, quoted: str | None = None
) -> bool:
    """Send one stored outbound message, retrying transient failures; False when it failed."""

    def call(_attempt: int):
        return client.send_text(to, out.text, reply_to=quoted)

    def log_failure(attempt: int, exc: Exception, latency_ms: int) -> None:
        requestlog.upstream_error(
            origin, attempt, exc, upstream="whatsapp", body=None, latency_ms=latency_ms
        )

    try:
        inbox.mark_sent(out, with_retries(call, log_failure).message_id)
    except WhatsAppError as exc:
        inbox.mark_send_failed(out, exc)
        return False
    return True

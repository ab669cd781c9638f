"""The one reply pipeline: a turn's messages → the model's answer, within a deadline.

Plain functions over a `Snapshot` of the settings, read once when the work starts: they read
nothing from Flask's request or globals, so the worker, the flow endpoint and the playground
answer alike, and a setting changed mid-turn applies from the next turn on.
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from .. import catalog_data, content, requestlog
from ..clients.openrouter import (
    MAX_ROUTE_MODELS,
    ChatResult,
    chat_body,
)
from ..clients.openrouter_errors import OpenRouterError
from ..clients.retry import MIN_ATTEMPT_SECONDS, Deadline, with_retries
from ..knowledge import after_hours, given
from ..models import PLAYGROUND
from ..money import budget, budget_alerts
from ..people import handoff
from ..requestlog import Origin
from ..snapshot import Snapshot
from ..troubleshooting import ErrorKind, UpstreamError
from . import leases, memory, signals
from .leases import Lease
from .signals import Given
from .turns import Batch

# Failures no other model can fix: trying the next models would fail the same way.
ACCOUNT_WIDE = {ErrorKind.INVALID_KEY, ErrorKind.NO_CREDITS, ErrorKind.NETWORK}


@dataclass(frozen=True)
class Answer:
    """The model's answer with the request that got it, to log beside what it leads to."""

    result: ChatResult  # its content without any signal's marker line
    body: dict
    attempt: int
    knowledge: tuple[str, ...] = ()  # the labels of the knowledge the model was given
    signals: tuple[Given, ...] = ()  # "could not answer"…: read, never sent

    def log_row(self, origin: Origin) -> dict:
        return requestlog.model_ok(
            origin, self.attempt, self.body, self.result, knowledge=self.knowledge
        )


def ask_model(
    messages: list[dict],
    origin: Origin,
    snap: Snapshot,
    deadline: Deadline,
    lease: Lease | None = None,
    model: str | Sequence[str] | None = None,
    extra: dict | None = None,
    offer_signals: tuple[signals.Signal, ...] = signals.SIGNALS,
    past_budget: bool = False,
) -> Answer:
    """The model's answer. Routes of up to three models go to OpenRouter, which falls back
    inside a route; when a whole route fails, the next fallback models get their turn, as long
    as the deadline leaves time. `model` (one ID, or a route of them) replaces the default
    chain; `extra` adds to the request body (temperature, max_tokens…). The `offer_signals` are
    offered (as tools, or a marker asked for), and every signal is read from the answer.
    Failed attempts are logged here; the answer is logged by the caller, together with what it
    does with it. A spent budget refuses the call before it starts (logged, budget_exceeded),
    unless `past_budget` (the cheapest model answering customers past it)."""
    chain = [model] if isinstance(model, str) else list(model or snap.chain)
    if not chain:
        raise OpenRouterError(ErrorKind.MODEL_NOT_FOUND, "No default model is chosen.")
    if not past_budget:
        try:
            budget.check(snap)
        except OpenRouterError as exc:
            with leases.writing(lease):
                body = {"model": chain[0]}
                requestlog.add_error(origin, 1, exc, upstream="openrouter", body=body)
            raise
    client, timeout = snap.openrouter(), float(snap["request_timeout"])
    routes = [chain[i : i + MAX_ROUTE_MODELS] for i in range(0, len(chain), MAX_ROUTE_MODELS)]
    routing = snap.routing(origin)
    for index, route in enumerate(routes):
        takes_tools = all(snap.supports_tools(model_id) for model_id in route)
        asked, offered = signals.offer(messages, takes_tools, offer_signals)
        body = chat_body(
            asked, route[0], route[1:], int(snap["max_tokens"]), routing | offered | (extra or {})
        )

        def call(attempt: int, left: float, body=body) -> Answer:
            result = client.send_chat(body, timeout=min(timeout, left))
            return Answer(snap.priced(result, body["model"]), body, attempt)

        def log_failure(attempt: int, exc: UpstreamError, latency_ms: int, body=body) -> None:
            with leases.writing(lease):
                requestlog.add_error(
                    origin, attempt, exc, upstream="openrouter", body=body, latency_ms=latency_ms
                )

        try:
            answer = with_retries(call, log_failure, snap.retry, deadline, _out_of_time, lease)
        except OpenRouterError as exc:
            last = index == len(routes) - 1
            if exc.kind in ACCOUNT_WIDE or last or deadline.left() < MIN_ATTEMPT_SECONDS:
                raise
        else:
            return _signals_read(answer, origin, snap, deadline, lease)
    raise AssertionError("unreachable")


def _signals_read(answer: Answer, origin, snap: Snapshot, deadline, lease) -> Answer:
    """The answer with its signals read out of it. A model that only called a tool is asked
    once more, within the deadline, for the words to the customer (both calls are logged);
    an answer left without words gets the `fallback_reply` text."""
    text, given = signals.read(answer.result.content, answer.result.tool_calls)
    if not text and answer.result.tool_calls and deadline.left() >= MIN_ATTEMPT_SECONDS:
        body = answer.body | {
            "messages": signals.follow_up(answer.body["messages"], answer.result.tool_calls),
            "tool_choice": "none",  # the signal is given: now words, not another call
        }
        started = time.monotonic()
        try:
            timeout = min(float(snap["request_timeout"]), deadline.left())
            result = snap.openrouter().send_chat(body, timeout=timeout)
        except OpenRouterError as exc:
            with leases.writing(lease):
                latency_ms = int((time.monotonic() - started) * 1000)
                requestlog.add_error(
                    origin, answer.attempt, exc, upstream="openrouter", body=body,
                    latency_ms=latency_ms,
                )  # fmt: skip
        else:
            with leases.writing(lease):  # the call that gave the signal, logged now
                requestlog.insert(answer.log_row(origin))
            answer = Answer(snap.priced(result, body["model"]), body, answer.attempt)
            text, more = signals.read(result.content, result.tool_calls)
            given += [signal for signal in more if signal.name not in {g.name for g in given}]
    if not text:
        text = str(snap["fallback_reply"]).strip()
    # The calls were Switchboard's own, answered here: to the caller it is a reply like any.
    finish = "stop" if answer.result.finish_reason == "tool_calls" else answer.result.finish_reason
    result = replace(answer.result, content=text, finish_reason=finish, tool_calls=[])
    return replace(answer, result=result, signals=tuple(given))


def _out_of_time() -> OpenRouterError:
    return OpenRouterError(
        ErrorKind.TIMEOUT,
        "No time was left to ask the model: the turn's 'Answer within' limit was reached.",
    )


@dataclass(frozen=True)
class Reply:
    """What a turn sends: the model's answer, the fallback reply, the non-text reply, or the
    handoff reply (with `handoff`: why the customer is handed to a person)."""

    text: str
    answer: Answer | None = None
    failure: OpenRouterError | None = None  # why the model could not answer
    handoff: str | None = None  # in the owner's words (webapp/people/handoff.py)


def reply_for(
    batch: Batch,
    reads: Sequence[content.Read],
    snap: Snapshot,
    deadline: Deadline,
    origin: Origin,
    lease: Lease | None = None,
) -> Reply:
    """The reply to a turn's messages (`reads`: as the model reads them, see media_step);
    outside opening hours, as `after_hours` says (away: whatever the messages are)."""
    outside = after_hours.mode(snap)
    if outside == "away":  # the away message, once in 12 hours; else nothing at all
        with leases.writing(lease):
            sends = after_hours.claim_away(batch.contact_id)
        return Reply(str(snap["away_message"]) if sends else "")
    if not any(content.readable(message) for message in reads):
        if all(message.type == "sticker" for message in reads):
            return Reply(str(snap["sticker_reply"]))  # stickers are never worth a model call
        if any(message.withheld for message in reads):
            return Reply("")  # files past the allowance: the customer is told so once a day
        return Reply(str(snap["non_text_reply"]))  # nothing the bot can read or see
    words = "\n".join(message.text or "" for message in batch.messages)
    if word := handoff.keyword_in(words, snap):  # the obvious words: no model is asked
        return Reply(str(snap["handoff_reply"]), handoff=handoff.KEYWORD.format(word=word))
    looked = budget.look(snap)  # once a turn: past it, `budget_action` says what they get
    cheapest = None
    if looked.spent is not None:
        with leases.writing(lease):
            budget_alerts.tell_owner(looked, snap)
        photos = any(message.image for message in reads)
        refused = _past_budget(snap, origin, lease, looked, photos)
        if isinstance(refused, Reply):
            return refused
        cheapest = refused  # else None: a test customer, refused below as Try it is
    turn_id = lease.turn_id if lease is not None else None
    new = content.user_content(reads)
    past = memory.history(batch.contact_id, turn_id, int(snap["memory_turns"]))
    route = snap.image_route() if any(message.image for message in reads) else None
    route = [cheapest] if cheapest else route
    first = (route or snap.chain or (None,))[0]
    context = given.for_turn(snap, snap.prompt, new, past, contact_id=batch.contact_id,
                             model=first, origin=origin, deadline=deadline)  # fmt: skip
    # Looked at above, so not twice a turn; the cheapest model answers past the budget.
    unchecked = looked.spent is None or cheapest is not None
    try:
        answer = ask_model(context.messages, origin, snap, deadline, lease, model=route,
                           past_budget=unchecked)  # fmt: skip
    except OpenRouterError as exc:
        return Reply(str(snap["fallback_reply"]), failure=exc)
    return _answered(answer, context, snap, outside)


def _answered(answer: Answer, context, snap: Snapshot, outside: str | None) -> Reply:
    answer = replace(answer, knowledge=tuple(context.knowledge.labels))
    asked = next((s for s in answer.signals if s.name == signals.HAND_TO_PERSON.name), None)
    if asked is not None:  # the model's words are for a bot that goes on: the team's instead
        why = handoff.ASKED_BECAUSE.format(reason=asked.argument) if asked.argument else ""
        why = why or handoff.ASKED
        return Reply(str(snap["handoff_reply"]), answer, handoff=why)
    text = answer.result.content
    return Reply(after_hours.with_note(text, snap) if outside == "note" else text, answer)


def _past_budget(snap: Snapshot, origin: Origin, lease, looked, photos) -> "Reply | str | None":
    """A customer's turn when a budget is spent, as `budget_action` says: the cheapest model's
    ID (`cheapest`, when the table has a priced one), or the fallback or handoff reply with
    the customer handed to a person and a budget_exceeded log row. None for a test customer
    of Try it: refused as the page is (the owner is told why there)."""
    if origin.channel == PLAYGROUND:
        return None
    if looked.action == "cheapest" and (model := cheapest_model(snap, photos)):
        return model
    refused = budget.exceeded(looked)
    with leases.writing(lease):
        requestlog.add_error(origin, 1, refused, upstream="openrouter",
                             body={"model": (snap.chain or ("",))[0]})  # fmt: skip
    words = "handoff_reply" if looked.action == "handoff" else "fallback_reply"
    return Reply(str(snap[words]), failure=refused, handoff=handoff.BUDGET_SPENT)


def cheapest_model(snap: Snapshot, photos: bool = False) -> str | None:
    """The table's model that is not disabled with the lowest catalog price per token, prompt
    and completion together (the table's order breaks a tie), one that sees images for a turn
    with `photos`; None when none is priced."""
    priced = []
    for order, model_id in enumerate(snap.offered):
        if photos and not snap.sees_images(model_id):
            continue
        listing = catalog_data.lookup(snap.catalog, model_id)
        if listing is not None and listing.prompt is not None and listing.completion is not None:
            priced.append((listing.prompt + listing.completion, order, model_id))
    return min(priced)[2] if priced else None

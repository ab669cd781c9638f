"""The one reply pipeline: a turn's messages → the model's answer, within a deadline.

Plain functions over a `Snapshot` of the settings, read once when the work starts: they read
nothing from Flask's request or globals, so the worker, the flow endpoint and the playground
answer alike, and a setting changed mid-turn applies from the next turn on.
"""

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from .. import catalog, catalog_data, content, customer_ids, prompts, requestlog, settings
from ..catalog_data import Listing
from ..clients.openrouter import (
    MAX_ROUTE_MODELS,
    ChatResult,
    OpenRouterClient,
    chat_body,
    routing_fields,
)
from ..clients.openrouter_errors import OpenRouterError
from ..clients.whatsapp import WhatsAppClient
from ..extensions import db
from ..requestlog import Origin
from ..troubleshooting import ErrorKind, UpstreamError, trouble
from . import memory
from .leases import Lease
from .turns import Batch

T = TypeVar("T")
# Failures no other model can fix: trying the next models would fail the same way.
ACCOUNT_WIDE = {ErrorKind.INVALID_KEY, ErrorKind.NO_CREDITS, ErrorKind.NETWORK}
MIN_ATTEMPT_SECONDS = 1.0  # an attempt with less time than this left is not started
GRAPH_TIMEOUT = 20.0  # seconds for one Graph call; a send never waits on the model's timeout


@dataclass(frozen=True)
class Retry:
    """How failed calls are tried again (the app's RETRY_* config; tests make it quick)."""

    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 30.0

    @classmethod
    def from_config(cls, config) -> "Retry":
        return cls(
            config.get("RETRY_ATTEMPTS", 3),
            config.get("RETRY_BASE_DELAY", 1.0),
            config.get("RETRY_MAX_DELAY", 30.0),
        )

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Exponential backoff with jitter, honouring the server's Retry-After, within a cap."""
        jitter = random.uniform(0, self.base_delay)  # noqa: S311 (jitter, not crypto)
        delay = self.base_delay * 2 ** (attempt - 1) + jitter
        return min(max(delay, retry_after or 0), self.max_delay)


class Deadline:
    """A moment by which work must be done; attempts that cannot finish by then do not start."""

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        return self.at - time.monotonic()


@dataclass(frozen=True)
class Snapshot:
    """The settings, prompt and model chain in force when the work started."""

    values: settings.Values
    prompt: str
    chain: tuple[str, ...]
    retry: Retry
    app_url: str = ""  # the address a request came to, when there was a request
    graph_timeout: float = GRAPH_TIMEOUT
    catalog: Mapping[str, Listing] = field(default_factory=dict)  # prices, input kinds
    user_key: bytes = b""  # the install's key for customers' `user` ids
    offered: tuple[str, ...] = ()  # every model not disabled: the default first, then in order

    @classmethod
    def load(cls, config: Mapping, app_url: str = "", commit=True) -> "Snapshot":
        """Read everything now; `config` is the app's (retries and timeouts tests shorten).
        With `commit=False` the caller ends the transaction, after more work in it."""
        models = catalog.offered()
        chain = catalog.fallback_chain(models)
        snapshot = cls(
            settings.read(),
            prompts.current_text(),
            tuple(chain),
            Retry.from_config(config),
            app_url,
            config.get("GRAPH_TIMEOUT", GRAPH_TIMEOUT),
            catalog_data.listings(),
            customer_ids.install_key(),
            tuple(dict.fromkeys([*chain[:1], *(m for m, _ in models)])),
        )
        if commit:
            db.session.commit()  # no connection is held while the work waits on the network
        return snapshot

    def __getitem__(self, name: str):
        return self.values[name]

    def openrouter(self) -> OpenRouterClient:
        return OpenRouterClient(
            api_key=str(self["openrouter_api_key"]),
            base_url=str(self["openrouter_base_url"]),
            timeout=float(self["request_timeout"]),
            app_url=str(self["public_url"]) or self.app_url,
        )

    def routing(self, origin: Origin) -> dict:
        """Provider preferences and the customer's `user` id, for every chat request."""
        return routing_fields(
            str(self["provider_sort"]),
            str(self["provider_data_collection"]),
            customer_ids.user_id(self.user_key, origin.contact_id),
        )

    def priced(self, result: ChatResult, requested: str) -> ChatResult:
        """`result` with a cost: the answer's own `usage.cost`, else the catalog's prices for
        the model that answered (or, unknown to the catalog, the one asked)."""
        if result.cost is None:
            tokens = (result.prompt_tokens, result.completion_tokens)
            result.cost = catalog_data.price(self.catalog, result.model, *tokens)
            if result.cost is None:
                result.cost = catalog_data.price(self.catalog, requested, *tokens)
        return result

    def sees_images(self, model_id: str) -> bool:
        """Whether the catalog lists the model as taking images (unknown: text only)."""
        return catalog_data.sees_images(self.catalog, model_id)

    def image_route(self) -> list[str]:
        """The models a photo goes to (`image_model`): the default chain's models that can see
        images, else the first offered model that can; none when off or no model can."""
        chosen = str(self["image_model"])
        if chosen != "auto":
            return [] if chosen == "off" else [chosen]
        route = [m for m in self.chain if self.sees_images(m)]
        return route or [m for m in self.offered if self.sees_images(m)][:1]

    def whatsapp(self) -> WhatsAppClient:
        return WhatsAppClient(
            access_token=str(self["whatsapp_access_token"]),
            phone_number_id=str(self["whatsapp_phone_number_id"]),
            base_url=str(self["whatsapp_api_base_url"]),
            timeout=self.graph_timeout,
        )


def with_retries(
    call: Callable[[int, float], T],
    log_failure: Callable[[int, UpstreamError, int], None],
    retry: Retry,
    deadline: Deadline,
    out_of_time: Callable[[], UpstreamError],
    lease: Lease | None = None,
) -> T:
    """`call(attempt, seconds_left)`, tried again on transient failures while the deadline
    leaves room for another attempt; every failed attempt is logged."""
    for attempt in range(1, retry.attempts + 1):
        if lease is not None:
            lease.check()  # a run that lost its turn spends nothing more on it
        left = deadline.left()
        if left < MIN_ATTEMPT_SECONDS:
            raise out_of_time()
        started = time.monotonic()
        try:
            return call(attempt, left)
        except UpstreamError as exc:
            log_failure(attempt, exc, int((time.monotonic() - started) * 1000))
            if attempt == retry.attempts or not trouble(exc.kind).transient:
                raise
            pause = retry.delay(attempt, exc.retry_after)
            if pause > deadline.left() - MIN_ATTEMPT_SECONDS:
                raise  # no time for another attempt before the deadline
            time.sleep(pause)
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Answer:
    """The model's answer with the request that got it, to log beside what it leads to."""

    result: ChatResult
    body: dict
    attempt: int

    def log_row(self, origin: Origin) -> dict:
        return requestlog.model_ok(origin, self.attempt, self.body, self.result)


def ask_model(
    messages: list[dict],
    origin: Origin,
    snap: Snapshot,
    deadline: Deadline,
    lease: Lease | None = None,
    model: str | Sequence[str] | None = None,
    extra: dict | None = None,
) -> Answer:
    """The model's answer. Routes of up to three models go to OpenRouter, which falls back
    inside a route; when a whole route fails, the next fallback models get their turn, as long
    as the deadline leaves time. `model` (one ID, or a route of them) replaces the default
    chain; `extra` adds to the request body (temperature, max_tokens…). Failed attempts are
    logged here; the answer is logged by the caller, together with what it does with it."""
    chain = [model] if isinstance(model, str) else list(model or snap.chain)
    if not chain:
        raise OpenRouterError(ErrorKind.MODEL_NOT_FOUND, "No default model is chosen.")
    client, timeout = snap.openrouter(), float(snap["request_timeout"])
    routes = [chain[i : i + MAX_ROUTE_MODELS] for i in range(0, len(chain), MAX_ROUTE_MODELS)]
    routing = snap.routing(origin)
    for index, route in enumerate(routes):
        body = chat_body(
            messages, route[0], route[1:], int(snap["max_tokens"]), routing | (extra or {})
        )

        def call(attempt: int, left: float, body=body) -> Answer:
            result = client.send_chat(body, timeout=min(timeout, left))
            return Answer(snap.priced(result, body["model"]), body, attempt)

        def log_failure(attempt: int, exc: UpstreamError, latency_ms: int, body=body) -> None:
            requestlog.add_error(
                origin, attempt, exc, upstream="openrouter", body=body, latency_ms=latency_ms
            )
            db.session.commit()

        try:
            return with_retries(call, log_failure, snap.retry, deadline, _out_of_time, lease)
        except OpenRouterError as exc:
            last = index == len(routes) - 1
            if exc.kind in ACCOUNT_WIDE or last or deadline.left() < MIN_ATTEMPT_SECONDS:
                raise
    raise AssertionError("unreachable")


def _out_of_time() -> OpenRouterError:
    return OpenRouterError(
        ErrorKind.TIMEOUT,
        "No time was left to ask the model: the turn's 'Answer within' limit was reached.",
    )


@dataclass(frozen=True)
class Reply:
    """What a turn sends: the model's answer, the fallback reply, or the non-text reply."""

    text: str
    answer: Answer | None = None
    failure: OpenRouterError | None = None  # why the model could not answer


def reply_for(
    batch: Batch,
    reads: Sequence[content.Read],
    snap: Snapshot,
    deadline: Deadline,
    origin: Origin,
    lease: Lease | None = None,
) -> Reply:
    """The reply to a turn's messages (`reads`: as the model reads them, see media_step)."""
    if not any(content.readable(message) for message in reads):
        if all(message.type == "sticker" for message in reads):
            return Reply(str(snap["sticker_reply"]))  # stickers are never worth a model call
        return Reply(str(snap["non_text_reply"]))  # nothing the bot can read or see
    turn_id = lease.turn_id if lease is not None else None
    new = content.user_content(reads)
    messages = memory.context(
        snap.prompt, batch.contact_id, turn_id, new, int(snap["memory_turns"])
    )
    route = snap.image_route() if any(message.image for message in reads) else None
    try:
        answer = ask_model(messages, origin, snap, deadline, lease, model=route)
    except OpenRouterError as exc:
        return Reply(str(snap["fallback_reply"]), failure=exc)
    return Reply(answer.result.content, answer)

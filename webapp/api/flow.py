"""The flow endpoint's work: an OpenRouter-style request → the reply pipeline → OpenRouter's shape.

A flow builder's "External API Request" step sends what it would send to OpenRouter; it gets
back what OpenRouter would answer, from the owner's model table, prompt and key. The request
is checked first (a clear 400 or 404 before anything is spent); the answer comes from
`pipeline.ask_model`, logged with channel `flow` like every other call to a model.
"""

import dataclasses
import json
import time
from dataclasses import dataclass, field

from .. import catalog, contacts, media_store, requestlog, tokens
from ..clients.openrouter import MAX_ROUTE_MODELS
from ..clients.openrouter_errors import OpenRouterError
from ..clients.retry import Deadline
from ..config import FLASK_COMMAND
from ..extensions import db, transaction
from ..knowledge import gaps, given
from ..models import Message
from ..replies import memory, pipeline, signals
from ..requestlog import Origin
from ..snapshot import Snapshot
from ..states import MessageState, PartState
from ..troubleshooting import ErrorKind, trouble
from . import flow_photos

ROLES = {"system", "developer", "user", "assistant", "tool"}
SYSTEM = ("system", "developer")
# A flow's caller has no WhatsApp conversation to hand to a person: only "could not answer".
FLOW_SIGNALS = (signals.CANNOT_ANSWER,)
TUNING = {"temperature": (0.0, 2.0), "top_p": (0.0, 1.0)}  # passed through, within these bounds
# The status a failure without an error status of its own (an error inside an HTTP 200, no
# answer at all) is answered with: the one OpenRouter gives that kind.
STATUS_OF_KIND = {
    ErrorKind.BAD_REQUEST: 400,
    ErrorKind.INVALID_KEY: 401,
    ErrorKind.NO_CREDITS: 402,
    ErrorKind.BUDGET_EXCEEDED: 402,
    ErrorKind.MODERATION: 403,
    ErrorKind.MODEL_NOT_FOUND: 404,
    ErrorKind.TIMEOUT: 408,
    ErrorKind.RATE_LIMITED: 429,
    ErrorKind.INTERNAL: 500,
}
SEE_README = "See 'Quick start B' in Switchboard's README for a request that works."
BEARER_HINT = (
    "Send the header 'Authorization: Bearer sb-…' with a flow key from the Flow keys page of "
    f"the admin (or `{FLASK_COMMAND} tokens create NAME`). "
    "The OpenRouter key is not a flow key."
)
MODEL_HINT = (
    "Name a model of the Models page that is not disabled, or 'default' for the default "
    "model; or turn on 'Flows may name any model ID in the OpenRouter catalog' in Settings."
)
PHOTO_HINT = (
    "Add a model that can see images, such as google/gemini-2.5-flash, on the Models page "
    "(and leave 'Model for photos' in Settings on auto), or name one with 'model'."
)


@dataclass
class FlowError(Exception):
    """A request the endpoint answers with an error, in OpenRouter's shape plus kind and hint."""

    status: int
    kind: ErrorKind
    message: str
    hint: str
    retry_after: int | None = None

    @classmethod
    def upstream(cls, exc: OpenRouterError) -> "FlowError":
        """The model's failure, with the status OpenRouter gave it (the message is redacted)."""
        status = exc.http_status if exc.http_status and 400 <= exc.http_status <= 599 else None
        status = status or STATUS_OF_KIND.get(exc.kind, 502)
        retry = int(exc.retry_after) + 1 if exc.retry_after else None
        return cls(status, exc.kind, exc.message, trouble(exc.kind).fix, retry)

    @classmethod
    def bad_request(cls, message: str, status: int = 400) -> "FlowError":
        return cls(status, ErrorKind.BAD_REQUEST, message, SEE_README)

    def body(self) -> dict:
        error = {"code": self.status, "message": self.message, "kind": str(self.kind)}
        return {"error": error | {"hint": self.hint}}


@dataclass
class FlowRequest:
    """The parts of an OpenRouter chat request that Switchboard uses."""

    messages: list[dict]
    models: list[str] = field(default_factory=list)  # empty: the default model and fallbacks
    extra: dict = field(default_factory=dict)  # temperature, top_p, max_tokens
    user: str | None = None
    knowledge: bool = True  # false: the owner's knowledge is left out (never sent on)
    own_tools: bool = False  # it brought `tools`: Switchboard's signals are not offered


def parse(raw: bytes) -> FlowRequest:
    """The request body checked as OpenRouter checks it, or FlowError saying what is wrong."""
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FlowError.bad_request(f"The body is not valid JSON: {exc}.") from None
    except RecursionError:  # json's parser recurses per level: too deep is the body's fault
        raise FlowError.bad_request("The body's JSON is nested too deeply to read.") from None
    if not isinstance(body, dict):
        raise FlowError.bad_request("The body must be a JSON object with 'messages'.")
    if body.get("stream"):
        raise FlowError.bad_request(
            "Streaming is not supported: leave 'stream' out or set it to false, and the whole "
            "reply comes in one JSON answer."
        )
    n = body.get("n")
    if n is not None and (n != 1 or isinstance(n, bool)):  # n: 1 is the one answer anyway
        raise FlowError.bad_request(
            "'n' must be 1 or left out: only one choice per request is supported."
        )
    request = FlowRequest(_messages(body.get("messages")), _models(body))
    request.own_tools = bool(body.get("tools"))
    for name, (low, high) in TUNING.items():
        if body.get(name) is not None:
            request.extra[name] = _number(body, name, low, high)
    if body.get("max_tokens") is not None:
        request.extra["max_tokens"] = int(_number(body, "max_tokens", 1, 1_000_000, whole=True))
    user = body.get("user")
    if user is not None and (not isinstance(user, str) or not 0 < len(user.strip()) <= 128):
        raise FlowError.bad_request("'user' must be a customer's number or id, 1–128 characters.")
    request.user = contacts.normalise_number(user) if user else None
    knowledge = body.get("knowledge", True)
    if not isinstance(knowledge, bool):
        raise FlowError.bad_request("'knowledge' must be true or false.")
    request.knowledge = knowledge
    return request


def _messages(messages) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise FlowError.bad_request("'messages' is missing: give a list of {role, content}.")
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise FlowError.bad_request(
                f"messages[{index}] needs a 'role' of {', '.join(sorted(ROLES))}."
            )
        if not isinstance(message.get("content"), str | list):
            raise FlowError.bad_request(f"messages[{index}] needs a 'content' (text).")
        try:
            flow_photos.check(index, message)
        except ValueError as exc:
            raise FlowError.bad_request(str(exc)) from None
    return messages


def _models(body: dict) -> list[str]:
    """The route the request names: `model` first, then `models`; none for the default."""
    model, models = body.get("model"), body.get("models") or []
    if model is not None and not isinstance(model, str):
        raise FlowError.bad_request("'model' must be a model ID such as openai/gpt-4o-mini.")
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise FlowError.bad_request("'models' must be a list of model IDs.")
    if len(models) > MAX_ROUTE_MODELS:
        raise FlowError.bad_request(
            f"'models' array must have {MAX_ROUTE_MODELS} items or fewer (as on OpenRouter)."
        )
    named = [m.strip() for m in [model or "", *models] if m.strip() not in ("", "default")]
    return list(dict.fromkeys(named))[:MAX_ROUTE_MODELS]


def _number(body: dict, name: str, low: float, high: float, whole: bool = False) -> float:
    value = body[name]
    wrong_type = isinstance(value, bool) or not isinstance(value, int | float)
    if wrong_type or (whole and value != int(value)) or not low <= value <= high:
        kind = "a whole number" if whole else "a number"
        raise FlowError.bad_request(f"'{name}' must be {kind} from {low:g} to {high:g}.")
    return value


def check_models(request: FlowRequest, snap: Snapshot) -> None:
    """Refuse, before anything is spent, a model the owner does not offer to flows."""
    for model_id in request.models:
        if snap["flow_any_model"]:
            try:
                catalog.check_model_id(model_id)
                continue
            except catalog.CatalogError as exc:
                raise FlowError(404, ErrorKind.MODEL_NOT_FOUND, str(exc), MODEL_HINT) from None
        if not catalog.usable(model_id):
            message = f"The model '{model_id}' is not offered to flows by this Switchboard."
            raise FlowError(404, ErrorKind.MODEL_NOT_FOUND, message, MODEL_HINT)


def cap_max_tokens(request: FlowRequest, snap: Snapshot) -> None:
    """A flow's `max_tokens` above the owner's 'Maximum reply tokens' is lowered to it: the
    owner's setting bounds what any one answer may cost."""
    ceiling = int(snap["max_tokens"])
    if request.extra.get("max_tokens", 0) > ceiling:
        request.extra["max_tokens"] = ceiling


def route_photos(request: FlowRequest, snap: Snapshot) -> None:
    """A request with a photo that names no model goes to the models that can see it (the
    'Model for photos' setting); a model it names is asked as named."""
    if request.models or not flow_photos.any_in(request.messages):
        return
    request.models = snap.image_route()
    if not request.models:
        message = "The request carries a photo and no model offered to flows can see images."
        raise FlowError(404, ErrorKind.MODEL_NOT_FOUND, message, PHOTO_HINT)


@dataclass(frozen=True)
class Exchange:
    """A flow question kept in a customer's conversation, to be settled with its answer."""

    contact_id: int
    message_id: int


def context(
    request: FlowRequest, snap: Snapshot, deadline: Deadline | None = None, key: int | None = None
) -> tuple[given.Given, Exchange | None]:
    """The messages for the model: the stored prompt unless the flow sent its own, the
    knowledge for the question (unless the flow said `"knowledge": false`), the customer's
    memory when `user` names them, then the flow's messages. With the stored prompt come the
    told block (date, hours…), as on WhatsApp; a flow's own system messages are kept as
    sent, the knowledge after them as a system message of its own, and nothing is told: a
    flow that writes its own prompt says itself what the model should know."""
    leading = 0
    while leading < len(request.messages) and request.messages[leading]["role"] in SYSTEM:
        leading += 1
    has_system = any(m["role"] in SYSTEM for m in request.messages)
    own = request.messages[:leading] if has_system else []
    rest = request.messages[leading:]
    known = contacts.find(request.user) if request.user is not None else None
    past = memory.history(known.id, None, int(snap["memory_turns"])) if known else []
    *earlier, last = [*past, *rest] or [{"content": ""}]
    question = given.question_of(last["content"], earlier)
    if request.knowledge:
        origin = Origin("flow", known.id if known else None, flow_token_id=key)
        knowledge = given.look_up(question, snap, origin, deadline)
    else:
        knowledge = given.Knowledge()
    model = (request.models or snap.chain or (None,))[0]
    name = None if has_system else given.customer_name(known.id if known else None)
    told = [] if has_system else given.told.lines(snap, name)
    content = given.system_content("" if has_system else snap.prompt, knowledge, told, model)
    system = [{"role": "system", "content": content}] if content else []
    messages = [*own, *system, *past, *rest]
    exchange = _keep_question(request) if request.user is not None else None
    return given.Given(messages, knowledge), exchange


def _keep_question(request: FlowRequest) -> Exchange:
    """Store the flow's question in the customer's conversation, as being answered, with its
    first photo (written before the row: a crash in between leaves a file the sweep removes)."""
    asked = _last_asked(request)
    photo, notes = flow_photos.keep(asked, media_store.folder())
    text = "\n".join(filter(None, [*notes, _text_of(asked)])) or None
    with transaction():
        phone = request.user if request.user.isascii() and request.user.isdigit() else None
        contact_id, _ = contacts.upsert(request.user, phone=phone)
        question = Message(contact_id=contact_id, direction="in", author="customer", text=text,
                           state=MessageState.PROCESSING, channel="flow", **photo)  # fmt: skip
        db.session.add(question)
        db.session.flush()
    return Exchange(contact_id, question.id)


def _last_asked(request: FlowRequest) -> dict | None:
    return next((m for m in reversed(request.messages) if m["role"] == "user"), None)


def _text_of(message: dict | None) -> str | None:
    """Its words (of parts, the text ones: the conversation keeps the text), or None."""
    return given.text_of((message or {}).get("content")) or None


def answer(request: FlowRequest, caller: tokens.Caller, snap: Snapshot) -> dict:
    """Ask the model and answer in OpenRouter's shape; every outcome is logged and counted."""
    deadline = Deadline(int(snap["answer_within_seconds"]))
    made, exchange = context(request, snap, deadline, caller.id)
    messages = made.messages
    where = (exchange.contact_id, exchange.message_id) if exchange else (None, None)
    origin = Origin("flow", *where, flow_token_id=caller.id)
    db.session.commit()  # the model check's read ends here: no connection waits on the model
    try:
        reply = pipeline.ask_model(
            messages, origin, snap, deadline, model=request.models or None, extra=request.extra,
            offer_signals=() if request.own_tools else FLOW_SIGNALS,
        )  # fmt: skip
    except OpenRouterError as exc:
        settle(caller, exchange, None, exc)
        raise FlowError.upstream(exc) from None
    except Exception as exc:
        db.session.rollback()
        why = f"{type(exc).__name__} inside Switchboard; the details are in the server log."
        failure = OpenRouterError(ErrorKind.INTERNAL, why)
        logged = requestlog.row(origin, upstream="switchboard", status="error",
                                error_kind=str(ErrorKind.INTERNAL), error_message=why)  # fmt: skip
        settle(caller, exchange, logged, failure)
        raise
    reply = dataclasses.replace(reply, knowledge=tuple(made.knowledge.labels))
    asked = _text_of(_last_asked(request))
    signalled = (reply.signals, asked or "") if reply.signals else None
    settle(caller, exchange, reply.log_row(origin), None, reply.result.content, signalled)
    return shaped(reply)


def settle(caller, exchange, logged: dict | None, failure, text=None, signalled=None) -> None:
    """One short transaction: the log row, the token's count, the conversation's outcome, and
    the question the model could not answer, if it said so."""
    with transaction():
        if logged is not None:
            requestlog.insert(logged)
        tokens.count_use(caller)
        if signalled:  # (its signals, the customer's words)
            where = (exchange.contact_id, exchange.message_id) if exchange else (None, None)
            gaps.record(*signalled, "flow", *where)
        if exchange is None:
            return
        question = db.session.get(Message, exchange.message_id)
        question.state = MessageState.FAILED if failure else MessageState.ANSWERED
        if failure:
            question.error_kind, question.error_detail = str(failure.kind), failure.message
        else:
            said = Message(contact_id=exchange.contact_id, direction="out", author="bot",
                           text=text, state=PartState.SENT, channel="flow",
                           reply_to_id=question.id)  # fmt: skip
            db.session.add(said)


def shaped(reply: pipeline.Answer) -> dict:
    """The answer as OpenRouter gives it, with the model that really answered."""
    result = reply.result
    usage = {"prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens}
    usage["total_tokens"] = sum(n or 0 for n in usage.values())
    return {
        "id": result.generation_id or f"gen-sb-{time.time_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": result.model or reply.body["model"],
        "provider": result.provider,
        "choices": [
            {
                "index": 0,
                "finish_reason": result.finish_reason or "stop",
                "message": {"role": "assistant", "content": result.content},
            }
        ],
        "usage": usage | {"cost": result.cost},
    }

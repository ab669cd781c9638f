"""The OpenRouter client: the only code that talks to OpenRouter (or any OpenAI-compatible API)."""

import base64
import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ..troubleshooting import ErrorKind
from .addresses import UNSAFE
from .http import AnswerTooLarge, HttpClient, RequestNotSent, TransportError
from .openrouter_errors import RAW_BODY_LIMIT, OpenRouterError, classify_error, error_object
from .wire import as_float, as_int, as_str, dig, json_or_none

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
NUMBERS = {int, float}  # what a vector's values may be: exactly these types, so not true/false
MAX_ROUTE_MODELS = 3  # "'models' array must have 3 items or fewer", OpenRouter's own words


@dataclass(frozen=True)
class ToolCall:
    """A tool the model called: its name and its arguments as the JSON text it wrote (which
    may not be valid JSON: the reader decides)."""

    id: str
    name: str
    arguments: str

    def as_sent(self) -> dict:
        """The call as an assistant message carries it back to the model."""
        function = {"name": self.name, "arguments": self.arguments}
        return {"id": self.id, "type": "function", "function": function}


@dataclass
class ChatResult:
    content: str  # "" when the model only called tools
    model: str | None  # the model that actually answered, which may be a fallback
    provider: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None
    generation_id: str | None
    latency_ms: int
    finish_reason: str | None
    raw: dict
    tool_calls: list[ToolCall] = field(default_factory=list)


@dataclass
class Transcript:
    text: str
    model: str  # the model asked: the answer does not name the one that transcribed
    cost: float | None
    seconds: float | None  # the length of the audio, when the answer says
    latency_ms: int
    raw: dict


@dataclass
class Embeddings:
    vectors: list[list[float]]  # one a text, in the order the texts were given
    model: str  # the model asked
    prompt_tokens: int | None
    cost: float | None
    latency_ms: int
    raw: dict  # the answer without its vectors (thousands of numbers, nothing to read)


@dataclass
class KeyInfo:
    label: str | None
    usage: float | None
    limit: float | None  # None: the key has no spending limit
    limit_remaining: float | None
    is_free_tier: bool
    raw: dict

    @property
    def unlimited(self) -> bool:
        return self.limit is None


class _NoReply(Exception):
    """A 2xx answer without the expected shape; the message says what is missing."""


class OpenRouterClient(HttpClient):
    """Chat, transcription, key check and model list, against OpenRouter or any
    OpenAI-compatible API."""

    redaction = "[key hidden]"
    base_url_label = "API base URL"

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30,
        *,
        app_url: str = "",
        app_title: str = "Switchboard",
    ):
        super().__init__(api_key, base_url, timeout)
        self.app_url, self.app_title = app_url, app_title

    def chat(
        self,
        messages: list[dict],
        model: str,
        *,
        fallbacks: Sequence[str] = (),
        max_tokens: int | None = None,
        extra: dict | None = None,
    ) -> ChatResult:
        return self.send_chat(chat_body(messages, model, fallbacks, max_tokens, extra))

    def send_chat(self, body: dict, timeout: float | None = None) -> ChatResult:
        """POST a body made by `chat_body`; callers that log the request keep the same dict.
        `timeout` (seconds) replaces the client's own for this call."""
        return self._call("POST", "/chat/completions", body, _chat_result, timeout)

    def transcribe(
        self, audio: bytes, audio_format: str, model: str, timeout: float | None = None
    ) -> Transcript:
        return self.send_transcription(transcription_body(audio, audio_format, model), timeout)

    def send_transcription(self, body: dict, timeout: float | None = None) -> Transcript:
        """POST a body made by `transcription_body`, as `send_chat` does a chat body."""
        parse = partial(_transcript, body.get("model"))
        return self._call("POST", "/audio/transcriptions", body, parse, timeout)

    def embed(self, texts: Sequence[str], model: str, timeout: float | None = None) -> Embeddings:
        """One vector per text, in one call (OpenAI's shape, which OpenRouter answers in)."""
        parse = partial(_embeddings, model, len(texts))
        return self._call("POST", "/embeddings", embeddings_body(texts, model), parse, timeout)

    def key_info(self) -> KeyInfo:
        return self._call("GET", "/key", None, _key_info)

    def list_models(self) -> list[dict]:
        return self._call("GET", "/models", None, _model_list)

    def _call(self, method: str, path: str, body: dict | None, parse, timeout: float | None = None):
        try:
            status, text, headers, latency_ms = self._send(method, path, body, timeout)
            payload = json_or_none(text)
            if not 200 <= status < 300 or not isinstance(payload, dict):
                raise classify_error(status, text, headers)
            try:
                return parse(payload, latency_ms)
            except _NoReply as missing:
                if error_object(payload):
                    raise classify_error(status, text, headers) from None
                raise OpenRouterError(
                    ErrorKind.BAD_RESPONSE, str(missing), status, raw_body=text[:RAW_BODY_LIMIT]
                ) from None
        except OpenRouterError as err:
            raise self.redacted(err) from None

    def _send(self, method: str, path: str, body: dict | None, timeout: float | None):
        if self.secret_has_bad_characters():
            message = "The API key contains spaces or characters a key cannot have; paste it again."
            raise OpenRouterError(ErrorKind.INVALID_KEY, message)
        # OpenRouter credits requests to the app that names itself; an install without a
        # public address sends no Referer rather than a meaningless "localhost".
        attribution = {"X-OpenRouter-Title": self.app_title, "X-Title": self.app_title}
        # One saved before addresses were checked may hold a line break, which no header can
        # carry: better no attribution than no answer.
        if self.app_url and not UNSAFE.search(self.app_url):
            attribution["HTTP-Referer"] = self.app_url
        try:
            return self.request(method, path, body, attribution, timeout)
        except TransportError as failure:
            raise OpenRouterError(_kind_of(failure), failure.message, failure.http_status) from None


def _kind_of(failure: TransportError) -> ErrorKind:
    if isinstance(failure, RequestNotSent):
        return ErrorKind.BAD_REQUEST
    if isinstance(failure, AnswerTooLarge):
        return ErrorKind.BAD_RESPONSE
    return ErrorKind.TIMEOUT if failure.timed_out else ErrorKind.NETWORK


def chat_body(
    messages: list[dict],
    model: str,
    fallbacks: Sequence[str] = (),
    max_tokens: int | None = None,
    extra: dict | None = None,
) -> dict[str, Any]:
    """The chat request exactly as it is sent."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if fallbacks:  # OpenRouter tries `models` in order when one fails
        # OpenRouter refuses a `models` list of more than MAX_ROUTE_MODELS entries.
        body["models"] = list(dict.fromkeys([model, *fallbacks]))[:MAX_ROUTE_MODELS]
    body.update(extra or {})
    body["stream"] = False  # the reply is read from one JSON body, never from SSE chunks
    return body


def transcription_body(audio: bytes, audio_format: str, model: str) -> dict[str, Any]:
    """The transcription request exactly as it is sent: JSON with the audio in base64 (the
    bare base64, no data: URL), not a multipart upload."""
    data = base64.b64encode(audio).decode("ascii")
    return {"model": model, "input_audio": {"data": data, "format": audio_format}}


def embeddings_body(texts: Sequence[str], model: str) -> dict[str, Any]:
    return {"model": model, "input": list(texts)}


# What WhatsApp and phones call their audio → the format name the transcription API expects.
AUDIO_FORMATS = {"mpeg": "mp3", "mp4": "m4a", "x-wav": "wav"}


def audio_format(mime: str | None) -> str:
    """The transcription format of a file of type `mime`: "audio/ogg; codecs=opus" is "ogg",
    audio/mpeg "mp3"; other types give their subtype, and no type at all "ogg" (what voice
    notes are)."""
    subtype = (mime or "").split(";", 1)[0].strip().lower().partition("/")[2]
    return AUDIO_FORMATS.get(subtype, subtype) or "ogg"


PROVIDER_SORTS = ("none", "price", "throughput", "latency")
DATA_COLLECTION = ("allow", "deny")


def routing_fields(sort: str = "none", data_collection: str = "allow", user: str | None = None):
    """The request fields that steer OpenRouter's routing: which providers come first, whether
    providers that may keep or train on prompts are allowed, and the customer's stable id
    (requests with the same `user` stick to one provider, so its prompt cache is reused)."""
    provider: dict[str, str] = {}
    if sort != "none":
        provider["sort"] = sort
    if data_collection == "deny":
        provider["data_collection"] = "deny"
    fields: dict[str, Any] = {"provider": provider} if provider else {}
    if user:
        fields["user"] = user
    return fields


def closest_model_ids(wanted: str, catalog_ids: Iterable[str], n: int = 3) -> list[str]:
    """The catalog IDs most like `wanted`, best first, for a "did you mean" hint."""
    wanted = wanted.strip().lower()

    def similarity(candidate: str) -> tuple[float, float]:
        whole = difflib.SequenceMatcher(None, wanted, candidate.lower()).ratio()
        # "gpt-4o-mini" without its provider prefix should still find "openai/gpt-4o-mini"
        name = difflib.SequenceMatcher(None, _model_name(wanted), _model_name(candidate)).ratio()
        return max(whole, name), whole

    ranked = sorted(sorted(set(catalog_ids)), key=similarity, reverse=True)  # ties alphabetical
    return [candidate for candidate in ranked if similarity(candidate)[0] >= 0.6][:n]


def _model_name(model_id: str) -> str:
    return model_id.lower().rsplit("/", 1)[-1].split(":", 1)[0]


def _chat_result(payload: dict, latency_ms: int) -> ChatResult:
    choice = dig(payload, "choices", 0)
    if not isinstance(choice, dict):
        raise _NoReply("The answer has no choices, so there is no reply text.")
    finish_reason = as_str(choice.get("finish_reason"))
    if finish_reason == "error" or choice.get("error"):
        raise _NoReply("The model stopped with an error before finishing its reply.")
    content = dig(choice, "message", "content")
    tool_calls = _tool_calls(dig(choice, "message", "tool_calls"))
    if tool_calls and (content is None or isinstance(content, str)):
        content = content or ""  # a call without words is an answer: the caller reads it
    elif not isinstance(content, str) or not content.strip():
        why = "is an empty reply" if isinstance(content, str) else "has no message.content"
        if payload.get("object") == "chat.completion.chunk":
            why += " (it is a streaming chunk, not a whole reply)"
        if finish_reason == "length":
            why += " (the model used all max_tokens before writing anything)"
        raise _NoReply(f"The answer {why}.")
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    return ChatResult(
        content=content,
        model=as_str(payload.get("model")),
        provider=as_str(payload.get("provider")),
        prompt_tokens=as_int(usage.get("prompt_tokens")),
        completion_tokens=as_int(usage.get("completion_tokens")),
        cost=as_float(usage.get("cost")),
        generation_id=as_str(payload.get("id")),
        latency_ms=latency_ms,
        finish_reason=finish_reason,
        raw=payload,
        tool_calls=tool_calls,
    )


def _tool_calls(calls) -> list[ToolCall]:
    """The function calls of an answer's message; entries without a name are skipped."""
    found = []
    for index, call in enumerate(calls if isinstance(calls, list) else []):
        function = call.get("function") if isinstance(call, dict) else None
        name = function.get("name") if isinstance(function, dict) else None
        if not isinstance(name, str) or not name:
            continue
        arguments = function.get("arguments")
        if not isinstance(arguments, str):  # some providers send an object, not its JSON
            arguments = json.dumps(arguments) if isinstance(arguments, dict) else ""
        call_id = call.get("id") if isinstance(call.get("id"), str) else f"call_{index}"
        found.append(ToolCall(call_id, name, arguments))
    return found


def _transcript(model: str, payload: dict, latency_ms: int) -> Transcript:
    text = payload.get("text")
    if not isinstance(text, str):
        raise _NoReply("The transcription answer has no 'text'.")
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    return Transcript(
        text=text,
        model=model,
        cost=as_float(usage.get("cost")),
        seconds=as_float(usage.get("seconds")),
        latency_ms=latency_ms,
        raw=payload,
    )


def _embeddings(model: str, count: int, payload: dict, latency_ms: int) -> Embeddings:
    data = payload.get("data")
    if not isinstance(data, list) or len(data) != count:
        raise _NoReply(f"The embeddings answer does not hold {count} vectors in 'data'.")
    ordered = sorted(data, key=lambda item: as_int(dig(item, "index")) or 0)
    vectors = [dig(item, "embedding") for item in ordered]
    if not all(isinstance(v, list) and v and set(map(type, v)) <= NUMBERS for v in vectors):
        raise _NoReply("An embedding in the answer is not a list of numbers.")
    if len({len(vector) for vector in vectors}) > 1:
        raise _NoReply("The embeddings in the answer have different lengths.")
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    return Embeddings(
        vectors=vectors,
        model=model,
        prompt_tokens=as_int(usage.get("prompt_tokens")),
        cost=as_float(usage.get("cost")),
        latency_ms=latency_ms,
        raw={key: value for key, value in payload.items() if key != "data"},
    )


def _key_info(payload: dict, latency_ms: int) -> KeyInfo:
    data = payload.get("data")
    if not isinstance(data, dict):
        raise _NoReply("The key check answered without a 'data' object.")
    return KeyInfo(
        label=as_str(data.get("label")),
        usage=as_float(data.get("usage")),
        limit=as_float(data.get("limit")),
        limit_remaining=as_float(data.get("limit_remaining")),
        is_free_tier=bool(data.get("is_free_tier")),
        raw=payload,
    )


def _model_list(payload: dict, latency_ms: int) -> list[dict]:
    if not isinstance(payload.get("data"), list):
        raise _NoReply("The model list answered without a 'data' list.")
    return [model for model in payload["data"] if isinstance(model, dict)]

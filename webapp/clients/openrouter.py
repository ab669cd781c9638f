"""The OpenRouter client: the only code that talks to OpenRouter (or any OpenAI-compatible API)."""

import difflib
import json
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import requests
from urllib3.exceptions import ReadTimeoutError

from ..troubleshooting import ErrorKind
from .openrouter_errors import RAW_BODY_LIMIT, OpenRouterError, classify_error, error_object
from .wire import as_float, as_int, as_str, dig, json_or_none, network_reason

DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
MAX_ROUTE_MODELS = 3  # "'models' array must have 3 items or fewer", OpenRouter's own words
BODY_LIMIT = 32 * 2**20  # the whole model catalog is about 1 MB; far more is no API answer


@dataclass
class ChatResult:
    content: str
    model: str | None  # the model that actually answered, which may be a fallback
    provider: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost: float | None
    generation_id: str | None
    latency_ms: int
    finish_reason: str | None
    raw: dict


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


class OpenRouterClient:
    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30,
        *,
        app_url: str = "http://localhost",
        app_title: str = "Switchboard",
        session: requests.Session | None = None,
    ):
        self.api_key = api_key.strip()  # a pasted key often ends in a newline
        self.base_url = base_url.strip().rstrip("/")
        self.timeout = float(timeout)
        self.app_url, self.app_title = app_url, app_title
        self.session = session or requests.Session()

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

    def send_chat(self, body: dict) -> ChatResult:
        """POST a body made by `chat_body`; callers that log the request keep the same dict."""
        return self._call("POST", "/chat/completions", body, _chat_result)

    def key_info(self) -> KeyInfo:
        return self._call("GET", "/key", None, _key_info)

    def list_models(self) -> list[dict]:
        return self._call("GET", "/models", None, _model_list)

    def _call(self, method: str, path: str, body: dict | None, parse):
        try:
            status, text, headers, latency_ms = self._send(method, path, body)
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
            raise self._redacted(err) from None

    def _send(self, method: str, path: str, body: dict | None):
        if not re.fullmatch(r"[\x21-\x7e]*", self.api_key):
            message = "The API key contains spaces or characters a key cannot have; paste it again."
            raise OpenRouterError(ErrorKind.INVALID_KEY, message)
        try:
            data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:
            raise OpenRouterError(
                ErrorKind.BAD_REQUEST, f"The request is not JSON: {exc}"
            ) from None
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Content-Type": "application/json",
            "HTTP-Referer": self.app_url,
            "X-OpenRouter-Title": self.app_title,
            "X-Title": self.app_title,
        }
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                self.base_url + path,
                headers=headers,
                data=data,
                timeout=(self.timeout, self.timeout),
                stream=True,
                allow_redirects=False,  # a redirect would re-send the key as a GET elsewhere
            )
        except requests.Timeout:
            raise self._timeout_error() from None
        except (requests.RequestException, ValueError) as exc:
            raise self._transport_error(exc) from None
        with response:
            content = self._read_body(response, started)
        latency_ms = int((time.monotonic() - started) * 1000)
        return (
            response.status_code,
            content.decode("utf-8", "replace"),
            response.headers,
            latency_ms,
        )

    def _read_body(self, response: requests.Response, started: float) -> bytes:
        # OpenRouter keeps a slow request alive by sending whitespace, so the read timeout
        # never fires: the whole answer has to arrive within `timeout`.
        deadline, chunks, size = started + self.timeout, [], 0
        try:
            for chunk in response.iter_content(chunk_size=16384):
                chunks.append(chunk)
                size += len(chunk)
                if time.monotonic() > deadline:
                    raise self._timeout_error()
                if size > BODY_LIMIT:
                    message = f"The answer is larger than {BODY_LIMIT // 2**20} MB."
                    raise OpenRouterError(ErrorKind.BAD_RESPONSE, message, response.status_code)
        except requests.RequestException as exc:
            # requests reports a read timeout during the body as a ConnectionError
            if time.monotonic() > deadline or any(
                isinstance(a, ReadTimeoutError) for a in exc.args
            ):
                raise self._timeout_error() from None
            message = f"The connection to {self._host()} broke before the answer was complete."
            raise OpenRouterError(ErrorKind.NETWORK, message, response.status_code) from None
        return b"".join(chunks)

    def _host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url

    def _timeout_error(self) -> OpenRouterError:
        message = f"No answer from {self._host()} within {self.timeout:g} seconds."
        return OpenRouterError(ErrorKind.TIMEOUT, message)

    def _transport_error(self, exc: Exception) -> OpenRouterError:
        # Written here, never copied from `exc`: requests quotes header values (the key) in
        # some of its messages, and the others read like tracebacks.
        errors = requests.exceptions
        if isinstance(exc, errors.InvalidURL | errors.MissingSchema | errors.InvalidSchema):
            message = f"The API base URL {self.base_url!r} is not a valid http(s) address."
        elif isinstance(exc, errors.SSLError):
            message = f"The secure (TLS) connection to {self._host()} failed: certificate problem."
        elif isinstance(exc, errors.ConnectionError):
            message = f"Could not connect to {self._host()}: {network_reason(exc)}."
        else:
            message = f"The request could not be sent ({type(exc).__name__})."
            return OpenRouterError(ErrorKind.BAD_REQUEST, message)
        return OpenRouterError(ErrorKind.NETWORK, message)

    def _redacted(self, err: OpenRouterError) -> OpenRouterError:
        # Some OpenAI-compatible servers echo a refused key; it must never reach the log.
        key, hidden = self.api_key, "[key hidden]"
        if len(key) < 8:
            return err
        metadata = json.loads(json.dumps(err.metadata, default=str).replace(key, hidden))
        return replace(
            err,
            message=err.message.replace(key, hidden),
            raw_body=err.raw_body.replace(key, hidden),
            metadata=metadata,
        )


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
    if not isinstance(content, str) or not content.strip():
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

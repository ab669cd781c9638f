"""Loopback fake HTTP servers (real sockets on 127.0.0.1) standing in for OpenRouter and Meta."""

import base64
import json
import random
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from requests.structures import CaseInsensitiveDict

from tests.support.fake_embeddings import embeddings_answer
from webapp.troubleshooting import ErrorKind

OPENROUTER_FIXTURES = Path(__file__).parent.parent / "fixtures" / "openrouter"
CHAT_PATH = "/api/v1/chat/completions"
TRANSCRIPTION_PATH = "/api/v1/audio/transcriptions"
EMBEDDINGS_PATH = "/api/v1/embeddings"
# Models of the catalog fixture whose architecture.input_modalities include "image".
IMAGE_MODELS = frozenset({"openai/gpt-4o-mini", "google/gemini-2.5-flash"})
NO_IMAGE_ENDPOINTS = "No endpoints found that support image input"  # OpenRouter's words, a 404


@dataclass
class CannedResponse:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    delay: float = 0.0  # seconds before anything is sent: longer than a client timeout = hanging
    path: str | None = None  # None answers any path
    trickle: float = 0.0  # pause between body lines, sent chunked like OpenRouter's keep-alive
    hang_up: bool = False  # read the request, then close the connection without a word
    until: threading.Event | None = None  # answer only once the test sets it (after `delay`)


@dataclass
class RecordedRequest:
    method: str
    path: str  # without the query string
    query: str
    headers: CaseInsensitiveDict
    body: bytes
    at: float = field(default_factory=time.monotonic)  # when it arrived
    peer: tuple | None = None  # the client's (address, port): one per connection it opened

    def json(self):
        return json.loads(self.body)


def _canned(
    status, body, headers, delay, path, trickle=0.0, hang_up=False, until=None
) -> CannedResponse:
    headers = dict(headers or {})
    if isinstance(body, dict | list):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    return CannedResponse(status, body, headers, delay, path, trickle, hang_up, until)


class FakeServer:
    """A scriptable HTTP server: queue canned responses, then read back what was requested.

    Each answer closes its connection, unless `keep_alive` is set (as the benchmarks do: the
    real APIs keep connections open)."""

    keep_alive = False
    tls: ssl.SSLContext | None = None  # set before start(): the server speaks https with it

    def __init__(self):
        self.requests: list[RecordedRequest] = []
        self._queue: list[CannedResponse] = []
        self._defaults: dict[str | None, CannedResponse] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

    def queue(
        self,
        status=200,
        body=b"",
        headers=None,
        delay=0.0,
        path=None,
        trickle=0.0,
        hang_up=False,
        until: threading.Event | None = None,
    ):
        """Serve this response once, to the next request for `path` (any path when None);
        with `until`, not before that event is set (a model that answers when the test says)."""
        with self._lock:
            self._queue.append(_canned(status, body, headers, delay, path, trickle, hang_up, until))

    def default(self, status=200, body=b"", headers=None, delay=0.0, path=None):
        """Serve this response whenever nothing is queued for `path` (every path when None)."""
        with self._lock:
            self._defaults[path] = _canned(status, body, headers, delay, path)

    def start(self) -> "FakeServer":
        self._stopping.clear()
        self._server = _Listener(("127.0.0.1", 0), _handler_for(self))
        if self.tls:  # the handshake happens in the connection's own thread, not in accept()
            self._server.socket = self.tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers that are sleeping through a delay
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _respond_to(self, request: RecordedRequest) -> CannedResponse:
        with self._lock:
            self.requests.append(request)
            for index, canned in enumerate(self._queue):
                if canned.path in (None, request.path):
                    return self._queue.pop(index)
            if request.path in self._defaults:
                return self._defaults[request.path]
            if None in self._defaults:
                return self._defaults[None]
        return _canned(
            500,
            f"fake server: nothing queued for {request.path}",
            {"Content-Type": "text/plain"},
            0.0,
            None,
        )

    def _pause(self, seconds: float) -> bool:
        """Wait `seconds` but wake at once when the server stops; False means quit now."""
        return not self._stopping.wait(seconds) if seconds > 0 else not self._stopping.is_set()

    def _hold(self, until: threading.Event | None) -> bool:
        """Wait until `until` is set, or the server stops; False means quit now."""
        while until is not None and not until.wait(0.05):
            if self._stopping.is_set():
                return False
        return True


class _Listener(ThreadingHTTPServer):
    # As many connections may wait to be accepted as the worker has threads: with the default
    # of 5, a burst of calls has connections dropped and retried a second later.
    request_queue_size = 128


def _handler_for(fake: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # needed for chunked bodies
        # Headers and body go out in two writes: with Nagle's algorithm the body would wait
        # for the client's delayed ACK of the headers, 40 ms on a kept-alive connection.
        disable_nagle_algorithm = True

        def do_GET(self):
            self._serve()

        def do_POST(self):
            self._serve()

        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            request = RecordedRequest(
                self.command,
                parts.path,
                parts.query,
                CaseInsensitiveDict(self.headers.items()),
                self.rfile.read(length),
                peer=self.client_address,
            )
            canned = fake._respond_to(request)
            self.close_connection = not fake.keep_alive or canned.hang_up
            try:
                held = fake._pause(canned.delay) and fake._hold(canned.until)
                if not held or canned.hang_up:
                    self.close_connection = True
                    return
                self.send_response(canned.status)
                for name, value in canned.headers.items():
                    self.send_header(name, value)
                if self.close_connection:
                    self.send_header("Connection", "close")
                if canned.trickle:
                    self._send_chunked(canned)
                else:
                    self.send_header("Content-Length", str(len(canned.body)))
                    self.end_headers()
                    self.wfile.write(canned.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (its timeout), which is what some tests want

        def _send_chunked(self, canned: CannedResponse):
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for line in canned.body.splitlines(keepends=True):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
                if not fake._pause(canned.trickle):
                    return
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, format, *args):
            pass  # keep test output quiet

    return Handler


class FakeOpenRouter(FakeServer):
    """FakeServer speaking OpenRouter's /api/v1, answering /key and /models from fixtures.

    As OpenRouter does, it refuses with 400 a transcription body without a model, base64
    audio and a format, and with 404 a chat that carries an image when a model it names (the
    `model`, or any of a `models` route) is not in `image_models`. Embeddings requests with
    nothing queued get deterministic vectors (see fake_embeddings) with tokens and a cost."""

    def __init__(self):
        super().__init__()
        self.echo_delay: float | None = None
        self.echo_spread = 0.0
        self.echo_all = False
        self.reading = False  # answer from the knowledge in the system message (reads_knowledge)
        self.failing: dict[str, CannedResponse] = {}
        self.image_models = set(IMAGE_MODELS)
        self.images_sent_to: list[str] = []  # each model named by a chat carrying an image
        self.keys: set[str] | None = None  # when set, /key answers 401 to any other key
        self.embedding_dimensions = 256  # text-embedding-3-small has 1536 (benchmarks use it)
        self.default(body=fixture_bytes("doc_key_response.json"), path="/api/v1/key")
        self.default(body=fixture_bytes("models_list_excerpt.json"), path="/api/v1/models")

    @property
    def base_url(self) -> str:
        return self.url + "/api/v1"

    def echo(self, delay: float = 0.0, spread: float = 0.0, every_message: bool = False) -> None:
        """Answer every chat request that has nothing queued with 'echo: <last user text>',
        after `delay` seconds, give or take up to `spread` (as a real model's time varies).
        With `every_message`, the answer repeats every user message the request carries
        (the memory it was sent with), oldest first: 'echo: <first> / <second>'."""
        self.echo_delay, self.echo_spread, self.echo_all = delay, spread, every_message

    def reads_knowledge(self) -> None:
        """Answer every chat request that has nothing queued as a careful model would from
        what it was given: the answer of the knowledge part (an FAQ entry's "A:", or the
        part's text) sharing the most words with the customer's last message; when no part
        shares two, the could-not-answer marker line, then a promise to find out."""
        self.reading = True

    def fail_model(self, model: str, fixture_name: str, status: int) -> None:
        """Answer every chat request for `model` with this recorded error, whatever is queued."""
        self.failing[model] = _canned(status, fixture_bytes(fixture_name), None, 0.0, None)

    def transcribes(self, text: str, cost=0.0001, seconds=3, delay: float = 0.0) -> None:
        """Answer every transcription that has nothing queued with `text`, after `delay`."""
        body = {"text": text, "usage": {"cost": cost, "seconds": seconds}}
        self.default(body=body, delay=delay, path=TRANSCRIPTION_PATH)

    def _respond_to(self, request: RecordedRequest) -> CannedResponse:
        refusal = self._refusal(request)
        if refusal is not None:
            with self._lock:
                self.requests.append(request)
            return refusal
        canned = super()._respond_to(request)
        if (
            canned.status == 500
            and request.path == EMBEDDINGS_PATH
            and canned.body.startswith(b"fake server: nothing queued")
        ):
            body = request.json()
            answer = embeddings_answer(body["input"], body["model"], self.embedding_dimensions)
            return _canned(200, answer, None, 0.0, None)
        if self.reading and canned.status == 500 and request.path == CHAT_PATH:
            body = request.json()
            return _canned(200, completion(_read_answer(body["messages"]), body["model"]),
                           None, 0.0, None)  # fmt: skip
        if self.echo_delay is not None and canned.status == 500 and request.path == CHAT_PATH:
            messages = request.json()["messages"]
            said = [m for m in messages if m["role"] == "user"] if self.echo_all else messages[-1:]
            asked = " / ".join(_text_of(m["content"]) for m in said)
            body = completion(f"echo: {asked}", request.json()["model"])
            delay = self.echo_delay + random.uniform(-self.echo_spread, self.echo_spread)
            return _canned(200, body, None, max(delay, 0.0), None)
        return canned

    def _refusal(self, request: RecordedRequest) -> CannedResponse | None:
        """What OpenRouter answers whatever is queued: a bad body, an image for a model that
        cannot see, a model told to fail, or a key it does not know."""
        if request.path == "/api/v1/key" and self.keys is not None:
            key = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if key not in self.keys:
                return _canned(401, fixture_bytes("error_401_user_not_found.json"), None, 0.0, None)
        if request.path == TRANSCRIPTION_PATH:
            problem = _transcription_problem(request.body)
            return _error_answer(400, problem) if problem else None
        if request.path == EMBEDDINGS_PATH:
            problem = _embeddings_problem(request.body)
            return _error_answer(400, problem) if problem else None
        if request.path != CHAT_PATH:
            return None
        body = request.json()
        if _carries_image(body.get("messages")):
            named = list(dict.fromkeys([body.get("model"), *body.get("models", [])]))
            with self._lock:
                self.images_sent_to.extend(named)
            if any(model not in self.image_models for model in named):
                return _error_answer(404, NO_IMAGE_ENDPOINTS)
        return self.failing.get(body.get("model"))

    def reply(self, content: str, model: str = "openai/gpt-4o-mini", **usage) -> None:
        """Queue a valid chat completion; `usage` overrides token counts and cost."""
        self.queue(body=completion(content, model, **usage), path=CHAT_PATH)

    def calls_tool(self, name: str, arguments, content=None, model="openai/gpt-4o-mini") -> None:
        """Queue an answer whose message calls the tool `name` with `arguments` (a dict, sent
        as its JSON text as OpenAI does; a str is sent as it is, broken JSON or not), with
        `content` beside it (None: the call alone)."""
        self.queue(body=tool_call_completion(name, arguments, content, model), path=CHAT_PATH)

    def replay(self, fixture_name: str, status: int = 200, headers=None, path=None, **options):
        """Queue the recorded bytes of tests/fixtures/openrouter/<fixture_name> unchanged."""
        self.queue(status, fixture_bytes(fixture_name), headers, path=path, **options)


def _transcription_problem(raw: bytes) -> str | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return "The request body is not JSON."
    audio = body.get("input_audio") if isinstance(body, dict) else None
    if not isinstance(body, dict) or not body.get("model"):
        return "'model' is required."
    if not isinstance(audio, dict) or not audio.get("format"):
        return "'input_audio.format' is required."
    try:
        base64.b64decode(audio.get("data") or "", validate=True)
    except (ValueError, TypeError):  # binascii.Error is a ValueError
        return "'input_audio.data' must be base64-encoded audio."
    return None if audio.get("data") else "'input_audio.data' is required."


def _embeddings_problem(raw: bytes) -> str | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return "The request body is not JSON."
    if not isinstance(body, dict) or not body.get("model"):
        return "'model' is required."
    texts = body.get("input")
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return "'input' must be a list of texts."
    return None


def _carries_image(messages) -> bool:
    return any(
        isinstance(part, dict) and part.get("type") == "image_url"
        for message in messages or []
        if isinstance(message.get("content"), list)
        for part in message["content"]
    )


def _text_of(content) -> str:
    """A message's text, whether its content is a string or a list of parts."""
    if isinstance(content, str):
        return content
    return " ".join(part.get("text", "") for part in content if part.get("type") == "text")


def _error_answer(status: int, message: str) -> CannedResponse:
    """An error in OpenRouter's shape."""
    return _canned(status, {"error": {"message": message, "code": status}}, None, 0.0, None)


def completion(content: str, model: str = "openai/gpt-4o-mini", **usage) -> dict:
    """A valid chat completion body; `usage` overrides token counts and cost."""
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "cost": 0.00001, **usage}
    usage.setdefault("total_tokens", usage["prompt_tokens"] + usage["completion_tokens"])
    return {
        "id": f"gen-fake-{time.monotonic_ns()}",
        "provider": "OpenAI",
        "model": model,
        "object": "chat.completion",
        "created": int(time.time()),
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": usage,
    }


def tool_call_completion(name: str, arguments, content=None, model="openai/gpt-4o-mini") -> dict:
    """A valid chat completion whose message calls one tool."""
    body = completion("", model)
    arguments = arguments if isinstance(arguments, str) else json.dumps(arguments)
    call = {"id": f"call_{time.monotonic_ns()}", "type": "function",
            "function": {"name": name, "arguments": arguments}}  # fmt: skip
    choice = body["choices"][0]
    choice["finish_reason"] = "tool_calls"
    choice["message"] = {"role": "assistant", "content": content, "tool_calls": [call]}
    return body


def fixture_bytes(name: str) -> bytes:
    return (OPENROUTER_FIXTURES / name).read_bytes()


@contextmanager
def never_accepting_url() -> Iterator[str]:
    """A loopback URL where connecting times out: the listener never accepts and its queue is
    full, so Linux drops further connection attempts without an answer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        queued = [socket.socket() for _ in range(3)]
        try:
            for sock in queued:
                sock.setblocking(False)
                sock.connect_ex(address)  # the first ones fill the queue, the rest wait
            yield f"http://127.0.0.1:{address[1]}"
        finally:
            for sock in queued:
                sock.close()


def refused_port_url() -> str:
    """A loopback URL nobody listens on: the port was bound, then released."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# Recorded body -> (client call, HTTP status it is replayed with, the kind the owner should see).
# Statuses come from SOURCES.md or the body's own code; errors seen inside an HTTP 200 use 200,
# and bodies of other endpoints sent as a chat answer must read as a bad response.
FIXTURE_ERRORS = {
    "chat_200_error_body_no_choices.json": ("chat", 200, ErrorKind.UPSTREAM_UNAVAILABLE),
    "chat_success_stream_final_usage_chunk.json": ("chat", 200, ErrorKind.BAD_RESPONSE),
    "doc_chat_200_error_in_choice_nonstream.json": ("chat", 200, ErrorKind.UPSTREAM_UNAVAILABLE),
    "doc_chat_200_midstream_error_chunk.json": ("chat", 200, ErrorKind.RATE_LIMITED),
    "doc_credits_response.json": ("chat", 200, ErrorKind.BAD_RESPONSE),
    "doc_generation_response.json": ("chat", 200, ErrorKind.BAD_RESPONSE),
    "doc_error_400_model_not_found_availability.json": ("chat", 400, ErrorKind.MODEL_NOT_FOUND),
    "doc_error_401_missing_auth_header.json": ("chat", 401, ErrorKind.INVALID_KEY),
    "doc_error_402_insufficient_credits.json": ("chat", 402, ErrorKind.NO_CREDITS),
    "doc_error_403_guardrail_blocked.json": ("chat", 403, ErrorKind.MODERATION),
    "doc_error_404_model_deprecated_availability.json": ("chat", 404, ErrorKind.MODEL_NOT_FOUND),
    "doc_error_429_capacity_exhausted_availability.json": ("chat", 429, ErrorKind.RATE_LIMITED),
    "doc_error_502_provider_returned_error.json": ("chat", 502, ErrorKind.UPSTREAM_UNAVAILABLE),
    "doc_error_503_service_unavailable.json": ("chat", 503, ErrorKind.UPSTREAM_UNAVAILABLE),
    "doc_error_524_edge_timeout.json": ("chat", 524, ErrorKind.UPSTREAM_UNAVAILABLE),
    "doc_error_529_provider_overloaded.json": ("chat", 529, ErrorKind.UPSTREAM_UNAVAILABLE),
    "error_400_input_min_tokens.json": ("chat", 400, ErrorKind.BAD_REQUEST),
    "error_400_invalid_model_id.json": ("chat", 400, ErrorKind.MODEL_NOT_FOUND),
    "error_400_provider_returned_error.json": ("chat", 400, ErrorKind.BAD_REQUEST),
    "error_401_no_auth_credentials.json": ("key_info", 401, ErrorKind.INVALID_KEY),
    "error_401_user_not_found.json": ("chat", 401, ErrorKind.INVALID_KEY),
    "error_402_insufficient_credits_limit_source.json": ("chat", 402, ErrorKind.NO_CREDITS),
    "error_402_requires_more_credits.json": ("chat", 402, ErrorKind.NO_CREDITS),
    "error_403_moderation_RECONSTRUCTED.json": ("chat", 403, ErrorKind.MODERATION),
    "error_404_no_allowed_providers.json": ("chat", 404, ErrorKind.MODEL_NOT_FOUND),
    "error_404_no_endpoints_for_model.json": ("chat", 404, ErrorKind.MODEL_NOT_FOUND),
    "error_429_free_models_per_min.json": ("chat", 429, ErrorKind.RATE_LIMITED),
    "error_429_upstream_rate_limited.json": ("chat", 429, ErrorKind.RATE_LIMITED),
    "error_502_midstream_error_object.json": ("chat", 502, ErrorKind.UPSTREAM_UNAVAILABLE),
}


UNSAID = "I don't know that yet; I'll ask the team and get back to you."
COMMON = {"the", "and", "you", "your", "our", "for", "are", "what", "with", "have", "does",
          "can", "any", "how", "when", "this", "that", "from", "there"}  # fmt: skip


def _words(text: str) -> set[str]:
    found = "".join(c.lower() if c.isalnum() else " " for c in text).split()
    return {word for word in found if len(word) > 2 and word not in COMMON}


def _read_answer(messages: list[dict]) -> str:
    """What a model that keeps to its knowledge says (see FakeOpenRouter.reads_knowledge)."""
    system = "\n".join(_text_of(m["content"]) for m in messages if m["role"] == "system")
    asked = _words(_text_of(next(m for m in reversed(messages) if m["role"] == "user")["content"]))
    best, shared = "", 1
    for part in system.split("\n### ")[1:]:
        _label, _, text = part.partition("\n")
        text = text.split("\n\n")[0]  # the part ends where the told block or the next begins
        if len(asked & _words(text)) > shared:
            best, shared = text, len(asked & _words(text))
    if not best:
        return f"CANNOT_ANSWER\n{UNSAID}"
    answer = best.partition("\nA: ")[2] or best
    return answer.strip()

"""The HTTP base of both API clients: one way to send, to read a failure, to hide the secret."""

import errno
import json
import os
import re
import ssl
import threading
import time
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any, TypeVar
from urllib.parse import urlsplit

import certifi
import requests
from urllib3 import BaseHTTPResponse, Timeout
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    NewConnectionError,
    ProxyError,
    ReadTimeoutError,
)
from urllib3.exceptions import SSLError as TLSError
from urllib3.exceptions import TimeoutError as AnyTimeout

from ..config import private_addresses_allowed
from .addresses import CheckedAdapter, RefusedAddress, url_refusal

BODY_LIMIT = 32 * 2**20  # the whole model catalog is about 1 MB; far more is no API answer
PASTEABLE = re.compile(r"[\x21-\x7e]*")  # what a key or token is made of: no spaces, ASCII
E = TypeVar("E", bound=Exception)


class TransportError(Exception):
    """No usable HTTP answer came. `reached` is False only when the request certainly never
    got to the server; otherwise the server may have acted on it. `message` is always written
    here, never copied from the exception: HTTP libraries quote header values, the secret
    among them, in some of their messages."""

    def __init__(
        self, message: str, reached: bool, timed_out: bool = False, http_status: int | None = None
    ):
        super().__init__(message)
        self.message, self.reached, self.timed_out = message, reached, timed_out
        self.http_status = http_status  # when the status line came before the failure


class RequestNotSent(TransportError):
    """The request could not even be built (a body that is not JSON, a header that cannot be
    sent): no network is to blame and nothing went out."""

    def __init__(self, message: str):
        super().__init__(message, reached=False)


class AnswerTooLarge(TransportError):
    """The server answered with more bytes than any API answer has."""

    def __init__(self, message: str, http_status: int):
        super().__init__(message, reached=True, http_status=http_status)


POOL_SIZE = 128  # WORKER_THREADS' default: one kept-alive connection per answer in flight
_sessions: dict[tuple[type, bool], requests.Session] = {}
_pool_size = POOL_SIZE
_sessions_lock = threading.Lock()


def size_pools(connections: int) -> None:
    """Keep up to `connections` open connections per host for each kind of client: as many
    as the worker has answers in flight, so none is closed after its answer and opened again."""
    global _pool_size
    with _sessions_lock:
        if connections != _pool_size:
            _pool_size = max(1, connections)
            _sessions.clear()  # new sessions from now on; calls in flight finish on theirs


def session_for(kind: type, private_ok: bool = False) -> requests.Session:
    """One session per kind of client (and answer to whether it may reach private addresses),
    shared by every thread, so a call reuses an open (TLS) connection instead of a new
    handshake."""
    with _sessions_lock:
        if (kind, private_ok) not in _sessions:
            _sessions[kind, private_ok] = _new_session(_pool_size, private_ok)
        return _sessions[kind, private_ok]


def _new_session(pool_size: int, private_ok: bool) -> requests.Session:
    """Calls go straight to the session's adapter (HttpClient.open): the environment's proxies
    are read once per address (proxy_for), a .netrc file never replaces the bearer secret, and
    no cookie goes from one call to the next. Its connections are opened only to addresses
    the check allows (addresses.py)."""
    session = requests.Session()
    session.trust_env = False
    # No retries here: they are the callers'.
    adapter = CheckedAdapter(private_ok, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@lru_cache(maxsize=32)
def proxy_for(origin: str) -> dict[str, str] | None:
    """The proxy the environment asks for (HTTPS_PROXY, NO_PROXY…) for one scheme://host,
    read once."""
    scheme, host = urlsplit(origin).scheme, urlsplit(origin).hostname or ""
    if urllib.request.proxy_bypass(host):
        return None
    proxy = urllib.request.getproxies().get(scheme)
    return {scheme: proxy} if proxy else None


def ca_bundle() -> str:
    """The certificates a server's must lead to: REQUESTS_CA_BUNDLE's, else certifi's; read on
    each call, as requests itself does."""
    return os.environ.get("REQUESTS_CA_BUNDLE") or certifi.where()


class Answer:
    """An answer whose body is read as it arrives (`HttpClient.chunks`). Leaving its `with`
    block puts the connection back in the pool when the body was read whole, and closes it
    otherwise (what is left of a refused file is never read)."""

    def __init__(self, raw: BaseHTTPResponse):
        self.raw = raw
        self.status_code = raw.status
        self.headers = raw.headers
        self.read_whole = False

    def __enter__(self) -> "Answer":
        return self

    def __exit__(self, *_exc) -> None:
        if not self.read_whole:
            self.raw.close()
        self.raw.release_conn()


class HttpClient:
    """The base URL, timeout and secret of one API client, and its one way to send."""

    redaction = "[secret hidden]"  # what the secret is replaced by in errors
    base_url_label = "base URL"  # the setting's label, for a base URL that is no address

    def __init__(self, secret: str, base_url: str, timeout: float):
        self.secret = secret.strip()  # a pasted secret often ends in a newline
        self.base_url = base_url.strip().rstrip("/")
        self.timeout = float(timeout)
        self.private_addresses = private_addresses_allowed()

    def __repr__(self) -> str:  # never the secret
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).netloc or self.base_url

    def secret_has_bad_characters(self) -> bool:
        """Spaces, line breaks or non-ASCII: a pasting accident, which no HTTP header can
        carry (and an error about it would quote the secret)."""
        return not PASTEABLE.fullmatch(self.secret)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, str, Mapping, int]:
        """Send `body` as JSON with the secret as bearer token; (status, text, headers,
        latency_ms) of any HTTP answer, or TransportError when none came in time.

        The whole answer must arrive within `timeout` seconds (the client's own by default):
        OpenRouter keeps a slow request alive by sending whitespace, so a read timeout alone
        would never fire.
        """
        seconds = self.timeout if timeout is None else float(timeout)
        try:
            data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        except (TypeError, ValueError) as exc:
            raise RequestNotSent(f"The request is not JSON: {exc}") from None
        sent_headers = {
            "Authorization": f"Bearer {self.secret}",
            "Content-Type": "application/json",
            **(headers or {}),
        }
        url = self.base_url + path
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            message = f"The {self.base_url_label} {self.base_url!r} is not a valid http(s) address."
            raise TransportError(message, reached=False)
        started = time.monotonic()
        with self.open(method, url, seconds, data, sent_headers) as response:
            chunks, size = [], 0
            for chunk in self.chunks(response, started + seconds, seconds):
                chunks.append(chunk)
                size += len(chunk)
                if size > BODY_LIMIT:
                    message = f"The answer is larger than {BODY_LIMIT // 2**20} MB."
                    raise AnswerTooLarge(message, response.status_code)
        latency_ms = int((time.monotonic() - started) * 1000)
        text = b"".join(chunks).decode("utf-8", "replace")
        return response.status_code, text, response.headers, latency_ms

    def open(
        self,
        method: str,
        url: str,
        seconds: float,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> "Answer":
        """Send the request and wait for the answer's status and headers, not its body (read
        it with `chunks`, and close the answer); TransportError when none came in time."""
        if why := url_refusal(url, self.private_addresses):
            raise TransportError(f"Nothing was sent: the address {why}.", reached=False)
        parts = urlsplit(url)
        try:
            # requests checks the URL and headers and picks the session's pool for the address
            # (TLS settings, proxy); the pool then sends, and its answer is read as it comes.
            # Going through requests' own send and Response would cost about a fifth of a
            # millisecond of CPU a call (cookies, header copies), for nothing these calls use;
            # a redirect is never followed, since it would carry the secret somewhere else.
            prepared = requests.PreparedRequest()
            prepared.prepare_method(method)
            prepared.prepare_url(url, None)
            prepared.prepare_headers(headers)
            proxies = proxy_for(f"{parts.scheme}://{parts.netloc}") or {}
            session = session_for(type(self), self.private_addresses)
            adapter = session.get_adapter(url)
            verify = ca_bundle()
            pool = adapter.get_connection_with_tls_context(prepared, verify, proxies)
            adapter.cert_verify(pool, url, verify, None)
            raw = pool.urlopen(
                method,
                adapter.request_url(prepared, proxies),
                body=data,
                headers=prepared.headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
                retries=False,
                timeout=Timeout(connect=seconds, read=seconds),
            )
        except (requests.RequestException, HTTPError, OSError, ValueError) as exc:
            raise self._failure(exc, seconds) from None
        return Answer(raw)

    def chunks(
        self, response: "Answer", deadline: float, seconds: float, size: int = 16384
    ) -> Iterator[bytes]:
        """The answer's body as it arrives, cut off once `deadline` (time.monotonic()) passes."""
        try:
            for chunk in response.raw.stream(size, decode_content=True):
                if time.monotonic() > deadline:
                    raise self._no_answer(seconds)
                yield chunk
            response.read_whole = True
        except (HTTPError, OSError) as exc:
            if time.monotonic() > deadline or _caused_by(exc, ReadTimeoutError):
                raise self._no_answer(seconds) from None
            message = f"The connection to {self.host} broke before the answer was complete."
            raise TransportError(message, True, http_status=response.status_code) from None

    def redacted(self, err: E) -> E:
        """`err` with the secret hidden in its message, raw body and metadata: some servers
        echo a refused key, and errors end up in the log."""
        if len(self.secret) < 8:  # too short to hide without mangling ordinary words
            return err
        secret, hidden = self.secret, self.redaction
        changes = {}
        for name in ("message", "raw_body", "metadata"):
            value = getattr(err, name, None)
            if isinstance(value, str):
                changes[name] = value.replace(secret, hidden)
            elif isinstance(value, dict):
                dumped = json.dumps(value, default=str).replace(secret, hidden)
                changes[name] = json.loads(dumped)
        return replace(err, **changes)

    def _no_answer(self, seconds: float) -> TransportError:
        message = f"No answer from {self.host} within {seconds:g} seconds."
        return TransportError(message, reached=True, timed_out=True)

    def _failure(self, exc: Exception, seconds: float) -> TransportError:
        """The one reading of a failed send. Only a failure before the request was written
        counts as not reached; anything later may have reached the server."""
        if isinstance(exc, ValueError) and not isinstance(exc, requests.exceptions.InvalidHeader):
            message = f"The {self.base_url_label} {self.base_url!r} is not a valid http(s) address."
            return TransportError(message, reached=False)
        # Checked before ConnectTimeoutError, which urllib3 makes its parent class.
        if unopened := _caused_by(exc, NewConnectionError):
            return TransportError(f"Could not connect to {self.host}: {_why(unopened)}.", False)
        if _caused_by(exc, ProxyError):
            return TransportError(f"Could not connect to {self.host} through the proxy.", False)
        timed_out = bool(_caused_by(exc, AnyTimeout))
        if _caused_by(exc, ConnectTimeoutError) or (timed_out and _in_tls_handshake(exc)):
            message = f"Could not connect to {self.host} within {seconds:g} seconds."
            return TransportError(message, reached=False, timed_out=True)
        if _caused_by(exc, TLSError) and _in_tls_handshake(exc):
            certificate = _caused_by(exc, ssl.SSLCertVerificationError)
            problem = ": certificate problem" if certificate else ""
            message = f"The secure (TLS) connection to {self.host} failed{problem}."
            return TransportError(message, reached=False)
        if timed_out:
            return self._no_answer(seconds)
        if isinstance(exc, (HTTPError, OSError)):
            message = f"The connection to {self.host} was dropped before an answer came."
            return TransportError(message, reached=True)
        return RequestNotSent(f"The request could not be sent ({type(exc).__name__}).")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps: requests' error wraps urllib3's, which wraps the socket's."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and not any(current is s for s in seen):
        seen.append(current)
        yield current
        wrapped = getattr(current, "reason", None)  # urllib3's MaxRetryError
        if not isinstance(wrapped, BaseException):
            wrapped = next((a for a in current.args if isinstance(a, BaseException)), None)
        current = wrapped or current.__cause__ or current.__context__


def _caused_by(exc: BaseException, kind: type[E]) -> E | None:
    return next((c for c in _causes(exc) if isinstance(c, kind)), None)


def _in_tls_handshake(exc: BaseException) -> bool:
    # A TLS error after the handshake (a corrupted record mid-answer) comes after the request
    # was written; only the handshake itself proves that nothing was sent.
    for cause in _causes(exc):
        frame = cause.__traceback__
        while frame is not None:
            if frame.tb_frame.f_code.co_name == "do_handshake":
                return True
            frame = frame.tb_next
    return False


def _why(unopened: NewConnectionError) -> str:
    """Why a connection could not be opened, in plain words, from the error's type and errno."""
    if isinstance(unopened, NameResolutionError):
        return "the name could not be found (DNS)"
    if isinstance(unopened, RefusedAddress):
        return unopened.why
    number = getattr(unopened.__cause__, "errno", None)  # urllib3 raises it from the OSError
    if number == errno.ECONNREFUSED:
        return "connection refused"
    if number in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return "the network is unreachable"
    return "connection failed"

"""How both API clients talk HTTP: connections kept for every answer in flight, no redirect
followed, answers capped, the environment's proxy used, nothing but the bearer secret sent."""

import threading
import uuid

import pytest

from tests.support.fake_graph import API_PREFIX
from tests.support.fakes import FakeServer
from webapp.clients.http import BODY_LIMIT
from webapp.clients.openrouter import OpenRouterClient
from webapp.clients.openrouter_errors import OpenRouterError
from webapp.clients.whatsapp import WhatsAppClient
from webapp.clients.whatsapp_errors import WhatsAppError
from webapp.troubleshooting import ErrorKind
from webapp.worker.process import Worker

API_KEY = "sk-or-v1-http-test-0123456789abcdef0123456789abcdef0123456789"
TOKEN = "EAAG-http-test-token-0123456789"
PHONE_NUMBER_ID = "106540352242922"


@pytest.fixture
def elsewhere():
    """A server a redirect could point at: it must never hear from the clients."""
    with FakeServer() as server:
        yield server


def test_a_redirect_is_not_followed_so_the_key_goes_nowhere_else(fake_openrouter, elsewhere):
    fake_openrouter.queue(307, "", {"Location": elsewhere.url + "/api/v1/key"})
    client = OpenRouterClient(API_KEY, fake_openrouter.base_url, timeout=5)
    with pytest.raises(OpenRouterError) as caught:
        client.key_info()
    assert caught.value.http_status == 307
    assert elsewhere.requests == []


def test_a_redirect_is_not_followed_so_the_token_goes_nowhere_else(fake_graph, elsewhere):
    fake_graph.queue(307, "", {"Location": elsewhere.url + "/v25.0/x/messages"})
    client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, fake_graph.base_url, timeout=5)
    with pytest.raises(WhatsAppError) as caught:
        client.send_text("16505551234", "Hi")
    assert caught.value.kind == ErrorKind.WHATSAPP_REJECTED  # never sent: nothing to resend
    assert elsewhere.requests == []


def test_an_answer_larger_than_any_api_answer_is_refused(fake_openrouter):
    fake_openrouter.queue(200, b" " * (BODY_LIMIT + 1), path="/api/v1/models")
    client = OpenRouterClient(API_KEY, fake_openrouter.base_url, timeout=10)
    with pytest.raises(OpenRouterError) as caught:
        client.list_models()
    assert caught.value.kind == ErrorKind.BAD_RESPONSE
    assert "larger than 32 MB" in caught.value.message


def test_the_environments_proxy_carries_the_calls(fake_graph, monkeypatch):
    host = f"graph-{uuid.uuid4().hex[:8]}.example.invalid"  # never resolved here: the proxy does
    monkeypatch.setenv("HTTP_PROXY", fake_graph.url)
    client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, f"http://{host}{API_PREFIX}", timeout=5)
    assert client.send_text("16505551234", "Hi").message_id.startswith("wamid.")
    [request] = fake_graph.requests
    assert request.headers["Host"] == host
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_an_address_the_environment_exempts_from_the_proxy_goes_direct(fake_graph, monkeypatch):
    host = f"graph-{uuid.uuid4().hex[:8]}.example.invalid"
    monkeypatch.setenv("HTTP_PROXY", fake_graph.url)
    monkeypatch.setenv("NO_PROXY", host)
    client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, f"http://{host}{API_PREFIX}", timeout=5)
    with pytest.raises(WhatsAppError) as caught:
        client.send_text("16505551234", "Hi")
    assert "DNS" in caught.value.message
    assert fake_graph.requests == []


def test_a_netrc_file_never_replaces_the_bearer_secret(fake_openrouter, tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password elsewhere\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    OpenRouterClient(API_KEY, fake_openrouter.base_url, timeout=5).key_info()
    [request] = fake_openrouter.requests
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"


def test_a_cookie_an_answer_sets_is_not_sent_with_the_next_call(fake_openrouter):
    fake_openrouter.queue(200, {"data": []}, {"Set-Cookie": "__cf_bm=abc; Path=/"})
    client = OpenRouterClient(API_KEY, fake_openrouter.base_url, timeout=5)
    client.list_models()
    client.key_info()
    assert [r.headers.get("Cookie") for r in fake_openrouter.requests] == [None, None]


def test_every_answer_in_flight_keeps_its_connection_for_the_next(app, fake_openrouter):
    Worker(app, threads=104)  # with its trial threads, 128: the default WORKER_THREADS
    fake_openrouter.keep_alive = True
    fake_openrouter.default(body={"data": []}, delay=0.5, path="/api/v1/models")
    client = OpenRouterClient(API_KEY, fake_openrouter.base_url, timeout=15)

    def wave(calls: int) -> set:
        start, seen = threading.Barrier(calls), len(fake_openrouter.requests)

        def call():
            start.wait()
            client.list_models()

        threads = [threading.Thread(target=call) for _ in range(calls)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        return {r.peer for r in fake_openrouter.requests[seen:]}

    first = wave(100)
    assert wave(100) <= first  # no connection closed after its answer and opened again

"""The OpenRouter client against a loopback fake: replies, recorded bodies, timeouts, secrets."""

import pickle
import time

import pytest

from tests.support.fakes import FIXTURE_ERRORS, OPENROUTER_FIXTURES
from webapp.clients.openrouter import OpenRouterClient, chat_body, closest_model_ids
from webapp.clients.openrouter_errors import OpenRouterError, classify_error
from webapp.troubleshooting import ErrorKind

API_KEY = "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"

FIXTURE_SUCCESSES = {
    "chat_success_nonstream.json": "chat",
    "chat_success_nonstream_raw_with_leading_whitespace.json": "chat",
    "doc_key_response.json": "key_info",
    "key_auth_key_response.json": "key_info",
    "models_list_excerpt.json": "list_models",
    "models_list_no_tools_RECONSTRUCTED.json": "list_models",
    "chat_tool_call_only_RECONSTRUCTED.json": "chat",
}
MODEL_IDS = [
    "openai/gpt-4o-mini",
    "google/gemini-2.5-flash",
    "meta-llama/llama-3.3-70b-instruct:free",
    "anthropic/claude-opus-4.5",
]


@pytest.fixture
def openrouter(fake_openrouter):
    return OpenRouterClient(API_KEY, fake_openrouter.base_url, timeout=5)


def call(openrouter, method):
    if method == "chat":
        return openrouter.chat(QUESTION, "openai/gpt-4o-mini")
    return getattr(openrouter, method)()


def failure(action) -> OpenRouterError:
    with pytest.raises(OpenRouterError) as caught:
        action()
    return caught.value


def test_every_recorded_body_has_an_expected_outcome():
    on_disk = {p.name for p in OPENROUTER_FIXTURES.iterdir() if p.name != "SOURCES.md"}
    assert on_disk == FIXTURE_ERRORS.keys() | FIXTURE_SUCCESSES.keys()


@pytest.mark.parametrize(
    ("fixture", "method", "status", "kind"),
    [(name, *outcome) for name, outcome in FIXTURE_ERRORS.items()],
    ids=list(FIXTURE_ERRORS),
)
def test_recorded_error_body_gets_its_kind(
    fake_openrouter, openrouter, fixture, method, status, kind
):
    fake_openrouter.replay(fixture, status=status)
    err = failure(lambda: call(openrouter, method))
    assert err.kind == kind
    assert err.http_status == status
    assert err.message.strip()
    assert "Traceback" not in str(err)
    assert err.raw_body == (OPENROUTER_FIXTURES / fixture).read_text("utf-8")


@pytest.mark.parametrize(("fixture", "method"), FIXTURE_SUCCESSES.items())
def test_recorded_success_body_is_read(fake_openrouter, openrouter, fixture, method):
    fake_openrouter.replay(fixture)
    assert call(openrouter, method)


@pytest.mark.parametrize(
    "fixture",
    ["chat_success_nonstream.json", "chat_success_nonstream_raw_with_leading_whitespace.json"],
)
def test_reply_text_model_provider_usage_and_cost_are_read(fake_openrouter, openrouter, fixture):
    fake_openrouter.replay(fixture)
    result = openrouter.chat(QUESTION, "anthropic/claude-sonnet-4")
    assert result.content.startswith("The capital of France is Paris.")
    assert result.model == "anthropic/claude-sonnet-4"
    assert result.provider == "Google"
    assert (result.prompt_tokens, result.completion_tokens) == (19, 93)
    assert result.cost == pytest.approx(0.001452)
    assert result.generation_id == "gen-1767761752-mOO5Oa2Avc5rlfTYdo84"
    assert result.finish_reason == "stop"
    assert result.latency_ms >= 0


def test_chat_sends_bearer_key_attribution_and_json(fake_openrouter):
    openrouter = OpenRouterClient(
        API_KEY, fake_openrouter.base_url + "/", app_url="https://shop.example", app_title="Shop"
    )
    fake_openrouter.reply("Paris.")
    openrouter.chat(QUESTION, "openai/gpt-4o-mini", max_tokens=200)
    sent = fake_openrouter.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/api/v1/chat/completions")
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["HTTP-Referer"] == "https://shop.example"
    assert sent.headers["X-Title"] == sent.headers["X-OpenRouter-Title"] == "Shop"
    assert sent.json() == {
        "model": "openai/gpt-4o-mini",
        "messages": QUESTION,
        "max_tokens": 200,
        "stream": False,
    }


def test_fallback_models_are_sent_as_openrouters_models_list(fake_openrouter, openrouter):
    fake_openrouter.reply("Paris.", model="google/gemini-2.5-flash")
    result = openrouter.chat(QUESTION, "openai/gpt-4o-mini", fallbacks=["google/gemini-2.5-flash"])
    sent = fake_openrouter.requests[-1].json()
    assert sent["model"] == "openai/gpt-4o-mini"
    assert sent["models"] == ["openai/gpt-4o-mini", "google/gemini-2.5-flash"]
    assert result.model == "google/gemini-2.5-flash"


def test_no_models_list_without_fallbacks_and_extra_fields_are_passed(fake_openrouter, openrouter):
    fake_openrouter.reply("Paris.")
    openrouter.chat(QUESTION, "openai/gpt-4o-mini", extra={"temperature": 0.2})
    sent = fake_openrouter.requests[-1].json()
    assert "models" not in sent and "max_tokens" not in sent
    assert sent["temperature"] == 0.2


@pytest.mark.parametrize(
    ("method", "path"), [("key_info", "/api/v1/key"), ("list_models", "/api/v1/models")]
)
def test_key_and_model_list_requests_carry_the_key(fake_openrouter, openrouter, method, path):
    call(openrouter, method)
    sent = fake_openrouter.requests[-1]
    assert (sent.method, sent.path) == ("GET", path)
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"


def test_hanging_server_is_a_timeout_within_the_limit(fake_openrouter):
    fake_openrouter.queue(body={}, delay=30)
    openrouter = OpenRouterClient(API_KEY, fake_openrouter.base_url, timeout=0.5)
    started = time.monotonic()
    err = failure(lambda: openrouter.chat(QUESTION, "openai/gpt-4o-mini"))
    assert err.kind == ErrorKind.TIMEOUT
    assert err.trouble.transient
    assert time.monotonic() - started < 2


def test_a_shorter_timeout_for_one_call_is_honoured(fake_openrouter, openrouter):
    fake_openrouter.queue(body={}, delay=30)
    started = time.monotonic()
    err = failure(lambda: openrouter.send_chat(chat_body(QUESTION, "m/x"), timeout=0.3))
    assert err.kind == ErrorKind.TIMEOUT
    assert "0.3 seconds" in err.message
    assert time.monotonic() - started < 1.5
    assert openrouter.timeout == 5  # the client's own stays for the next call


def test_a_longer_timeout_for_one_call_is_honoured(fake_openrouter):
    fake_openrouter.replay("chat_success_nonstream.json", delay=0.6)
    openrouter = OpenRouterClient(API_KEY, fake_openrouter.base_url, timeout=0.3)
    result = openrouter.send_chat(chat_body(QUESTION, "openai/gpt-4o-mini"), timeout=5)
    assert result.content.startswith("The capital of France is Paris.")


@pytest.mark.parametrize("pause", [0.3, 30], ids=["keep-alive drip", "stalls mid-body"])
def test_body_that_trickles_past_the_timeout_is_a_timeout(fake_openrouter, pause):
    # OpenRouter drips whitespace while a slow model thinks; the timeout still applies.
    fixture = "chat_success_nonstream_raw_with_leading_whitespace.json"
    fake_openrouter.replay(fixture, trickle=pause)
    openrouter = OpenRouterClient(API_KEY, fake_openrouter.base_url, timeout=0.5)
    started = time.monotonic()
    err = failure(lambda: openrouter.chat(QUESTION, "openai/gpt-4o-mini"))
    assert err.kind == ErrorKind.TIMEOUT
    assert time.monotonic() - started < 2


def test_dripped_body_that_arrives_in_time_is_read(fake_openrouter, openrouter):
    fake_openrouter.replay("chat_success_nonstream_raw_with_leading_whitespace.json", trickle=0.01)
    assert openrouter.chat(QUESTION, "openai/gpt-4o-mini").provider == "Google"


def test_refused_connection_is_a_network_error(refused_url):
    openrouter = OpenRouterClient(API_KEY, refused_url + "/api/v1", timeout=2)
    err = failure(lambda: openrouter.chat(QUESTION, "openai/gpt-4o-mini"))
    assert err.kind == ErrorKind.NETWORK
    assert err.http_status is None
    assert "connection refused" in err.message


def test_connect_timeout_is_a_timeout(unaccepted_url):
    openrouter = OpenRouterClient(API_KEY, unaccepted_url + "/api/v1", timeout=0.5)
    err = failure(lambda: openrouter.chat(QUESTION, "openai/gpt-4o-mini"))
    assert err.kind == ErrorKind.TIMEOUT
    assert "0.5 seconds" in err.message


def test_unresolvable_host_is_a_network_error():
    # .invalid never resolves, and the lookup never leaves this machine.
    openrouter = OpenRouterClient(API_KEY, "https://openrouter.example.invalid/api/v1")
    err = failure(lambda: openrouter.chat(QUESTION, "openai/gpt-4o-mini"))
    assert err.kind == ErrorKind.NETWORK
    assert "openrouter.example.invalid" in err.message and "DNS" in err.message


def test_connection_closed_without_an_answer_is_a_network_error(fake_openrouter, openrouter):
    fake_openrouter.queue(hang_up=True)
    err = failure(lambda: openrouter.chat(QUESTION, "openai/gpt-4o-mini"))
    assert err.kind == ErrorKind.NETWORK
    assert err.http_status is None
    assert "dropped" in err.message


def test_base_url_that_is_not_an_address_is_a_network_error():
    err = failure(OpenRouterClient(API_KEY, "openrouter.ai/api/v1").list_models)
    assert err.kind == ErrorKind.NETWORK
    assert "base URL" in err.message


def test_html_502_from_a_proxy_is_upstream_unavailable(fake_openrouter, openrouter):
    fake_openrouter.queue(502, HTML_502, headers={"Content-Type": "text/html"})
    err = failure(lambda: call(openrouter, "chat"))
    assert err.kind == ErrorKind.UPSTREAM_UNAVAILABLE
    assert "HTML" in err.message and "502 Bad Gateway" in err.message


def test_html_200_is_a_bad_response_with_the_page_kept(fake_openrouter, openrouter):
    page = "<!DOCTYPE html><html><body>Please log in to the Wi-Fi</body></html>"
    fake_openrouter.queue(200, page, headers={"Content-Type": "text/html"})
    err = failure(lambda: call(openrouter, "chat"))
    assert err.kind == ErrorKind.BAD_RESPONSE
    assert "HTML" in err.message
    assert err.raw_body == page


@pytest.mark.parametrize(
    ("reply", "explains"),
    [
        ({"choices": []}, "no choices"),
        ({"choices": [{"message": {"role": "assistant"}}]}, "message.content"),
        ({"choices": [{"message": {"content": "  \n"}, "finish_reason": "length"}]}, "max_tokens"),
    ],
)
def test_200_without_reply_text_is_a_bad_response(fake_openrouter, openrouter, reply, explains):
    fake_openrouter.queue(200, reply)
    err = failure(lambda: call(openrouter, "chat"))
    assert err.kind == ErrorKind.BAD_RESPONSE
    assert explains in err.message


@pytest.mark.parametrize(
    ("fixture", "headers", "seconds"),
    [
        ("error_429_free_models_per_min.json", {"Retry-After": "17"}, 17),
        ("error_429_upstream_rate_limited.json", {}, 17),
        ("error_429_upstream_rate_limited.json", {"Retry-After": "3"}, 3),
        ("doc_error_429_capacity_exhausted_availability.json", {}, 40),
        ("error_429_free_models_per_min.json", {}, None),
    ],
)
def test_rate_limit_says_when_to_retry(fake_openrouter, openrouter, fixture, headers, seconds):
    fake_openrouter.replay(fixture, status=429, headers=headers)
    assert failure(lambda: call(openrouter, "chat")).retry_after == seconds


@pytest.mark.parametrize(
    ("fixture", "status", "words", "provider"),
    [
        ("error_403_moderation_RECONSTRUCTED.json", 403, "harassment", "OpenAI"),
        ("doc_error_403_guardrail_blocked.json", 403, "prompt injection", None),
        ("error_402_requires_more_credits.json", 402, "fewer max_tokens", None),
        ("error_400_provider_returned_error.json", 400, "must have non-empty content", "Anthropic"),
        ("chat_200_error_body_no_choices.json", 200, "error code: 524", "Google AI Studio"),
        ("error_502_midstream_error_object.json", 502, "Unexpected token", "AtlasCloud"),
        ("error_404_no_allowed_providers.json", 404, "provider settings", None),
        ("doc_error_404_model_deprecated_availability.json", 404, "openai/gpt-4.1", None),
        ("error_404_no_endpoints_for_model.json", 404, "deepseek/deepseek-chat-v3.1:free", None),
    ],
)
def test_error_message_shows_the_providers_reason(
    fake_openrouter, openrouter, fixture, status, words, provider
):
    fake_openrouter.replay(fixture, status=status)
    err = failure(lambda: call(openrouter, "chat"))
    assert words in err.message
    assert words in str(err)
    assert err.provider == provider


def test_error_reads_as_one_line_with_kind_and_status(fake_openrouter, openrouter):
    fake_openrouter.replay("doc_error_402_insufficient_credits.json", status=402)
    assert str(failure(lambda: call(openrouter, "chat"))).startswith(
        "no_credits (HTTP 402): Insufficient credits"
    )


def test_key_info_reads_limit_usage_and_balance(openrouter):
    info = openrouter.key_info()
    assert info.label == "sk-or-v1-au7...890"
    assert (info.limit, info.limit_remaining, info.usage) == (100, 74.5, 25.5)
    assert not info.is_free_tier and not info.unlimited


def test_key_info_reads_the_older_auth_key_answer(fake_openrouter, openrouter):
    fake_openrouter.replay("key_auth_key_response.json", path="/api/v1/key")
    info = openrouter.key_info()
    assert (info.limit, info.limit_remaining, info.usage) == (1, 1, 0)


def test_key_without_a_limit_is_unlimited(fake_openrouter, openrouter):
    body = {"data": {"label": "sk-or-v1-abc...def", "limit": None, "limit_remaining": None,
                     "usage": 0.5, "is_free_tier": True}}  # fmt: skip
    fake_openrouter.queue(body=body, path="/api/v1/key")
    info = openrouter.key_info()
    assert info.limit is None and info.unlimited
    assert info.is_free_tier


def test_list_models_returns_the_catalog(openrouter):
    assert [model["id"] for model in openrouter.list_models()] == MODEL_IDS


@pytest.mark.parametrize(
    ("wanted", "best"),
    [
        ("openai/gpt4o-mini", "openai/gpt-4o-mini"),
        ("gpt-4o-mini", "openai/gpt-4o-mini"),
        ("google/gemini-2.5-flash-preview", "google/gemini-2.5-flash"),
        ("meta-llama/llama-3.3-70b-instruct", "meta-llama/llama-3.3-70b-instruct:free"),
    ],
)
def test_closest_model_ids_put_the_likely_meant_model_first(wanted, best):
    assert closest_model_ids(wanted, MODEL_IDS)[0] == best


def test_closest_model_ids_suggest_nothing_for_nonsense():
    assert closest_model_ids("zzzz", MODEL_IDS) == []


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (408, "", ErrorKind.TIMEOUT),
        (413, b'{"error": {"message": "Request too large", "code": 413}}', ErrorKind.BAD_REQUEST),
        (422, '{"error": {"message": "Unprocessable", "code": 422}}', ErrorKind.BAD_REQUEST),
        (418, '{"error": {"message": "I am a teapot"}}', ErrorKind.BAD_REQUEST),
        (500, "", ErrorKind.UPSTREAM_UNAVAILABLE),
        (301, "", ErrorKind.BAD_RESPONSE),
        (200, '{"error": {"message": "odd", "code": "server_error"}}', ErrorKind.BAD_RESPONSE),
    ],
)
def test_classify_error_maps_statuses_without_a_server(status, body, kind):
    assert classify_error(status, body).kind == kind


@pytest.mark.parametrize(
    "setup",
    [
        "server echoes the key",
        "server echoes the key in a 200",
        "connection refused",
        "unresolvable host",
        "server never answers",
        "server hangs up",
        "key with a line break",
    ],
)
def test_api_key_never_appears_in_an_error(fake_openrouter, refused_url, setup):
    key, base_url = API_KEY, fake_openrouter.base_url
    if setup == "server echoes the key":
        fake_openrouter.queue(401, {"error": {"message": f"Incorrect API key: {key}", "code": 401}})
    elif setup == "server echoes the key in a 200":
        fake_openrouter.queue(200, {"choices": [], "echo": {"key": key}})
    elif setup == "connection refused":
        base_url = refused_url
    elif setup == "unresolvable host":
        base_url = "https://openrouter.example.invalid/api/v1"
    elif setup == "server never answers":
        fake_openrouter.queue(delay=30)
    elif setup == "server hangs up":
        fake_openrouter.queue(hang_up=True)
    else:
        key = API_KEY[:20] + "\n" + API_KEY[20:]
    err = failure(lambda: OpenRouterClient(key, base_url, timeout=0.5).chat(QUESTION, "m/x"))
    for text in (str(err), repr(err), err.message, err.raw_body, str(err.metadata), str(err.args)):
        assert API_KEY[-16:] not in text  # not even the secret tail


def test_error_survives_pickling_for_the_task_queue(fake_openrouter, openrouter):
    fake_openrouter.replay("error_429_upstream_rate_limited.json", status=429)
    err = pickle.loads(pickle.dumps(failure(lambda: call(openrouter, "chat"))))  # noqa: S301
    assert (err.kind, err.http_status, err.retry_after) == (ErrorKind.RATE_LIMITED, 429, 17)

"""The flow endpoint over real HTTP, served as `make run` serves it: `flask serve` (waitress)."""

import json

import pytest
import requests

from tests.support.databases import environment_of
from tests.support.flows import GUIDE_BODY, URL
from tests.support.served import serving
from webapp import tokens


@pytest.fixture
def served(whatsapp):
    """`flask serve --no-worker` on the test's instance folder and a free loopback port."""
    with serving(environment_of(whatsapp)) as url:
        yield url


@pytest.fixture
def token(whatsapp):
    with whatsapp.app_context():
        return tokens.create("wa-expert")[1]


def test_the_guides_request_is_answered_over_http(served, token, fake_openrouter):
    fake_openrouter.reply("Yes, from 8 to 14.")
    headers = {"Authorization": f"Bearer {token}"}
    response = requests.post(served + URL, json=GUIDE_BODY, headers=headers, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["choices"][0]["message"]["content"] == "Yes, from 8 to 14."


def test_a_body_over_eight_megabytes_gets_413_in_openrouters_shape(served, token, fake_openrouter):
    body = json.dumps(GUIDE_BODY | {"padding": "x" * (8 * 2**20)})
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = requests.post(served + URL, data=body, headers=headers, timeout=10)
    assert response.status_code == 413 and response.json()["error"]["code"] == 413
    assert fake_openrouter.requests == []


def test_a_chunked_body_over_eight_megabytes_gets_413_too(served, token, fake_openrouter):
    def chunks():  # no Content-Length: the size is only known by reading
        yield b'{"messages": [{"role": "user", "content": "'
        for _ in range(8400):
            yield b"x" * 1024
        yield b'"}]}'

    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = requests.post(served + URL, data=chunks(), headers=headers, timeout=10)
    assert response.status_code == 413 and response.json()["error"]["kind"] == "bad_request"
    assert fake_openrouter.requests == []


def test_wrong_tokens_from_one_address_are_throttled_with_retry_after(served, token):
    wrong = {"Authorization": "Bearer sb-guessed"}
    for _ in range(10):
        assert (
            requests.post(served + URL, json=GUIDE_BODY, headers=wrong, timeout=10).status_code
            == 401
        )
    response = requests.post(served + URL, json=GUIDE_BODY, headers=wrong, timeout=10)
    assert response.status_code == 429 and int(response.headers["Retry-After"]) > 0
    assert response.json()["error"]["kind"] == "rate_limited"


def test_a_strangers_wrong_keys_never_lock_out_the_right_one(served, token, fake_openrouter):
    fake_openrouter.reply("Yes, from 8 to 14.")
    wrong = {"Authorization": "Bearer sb-guessed"}
    for _ in range(10):
        requests.post(served + URL, json=GUIDE_BODY, headers=wrong, timeout=10)
    right = {"Authorization": f"Bearer {token}"}
    response = requests.post(served + URL, json=GUIDE_BODY, headers=right, timeout=10)
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "Yes, from 8 to 14."
    refused = requests.post(served + URL, json=GUIDE_BODY, headers=wrong, timeout=10)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    missing = requests.post(served + URL, json=GUIDE_BODY, timeout=10)
    assert missing.status_code == 429


def test_json_nested_100000_deep_is_a_400_not_a_500(served, token, fake_openrouter):
    body = b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = requests.post(served + URL, data=body, headers=headers, timeout=10)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["kind"]) == (400, "bad_request")
    assert "nested too deeply" in error["message"] and error["hint"]
    assert fake_openrouter.requests == []


def test_without_a_public_address_no_referer_reaches_openrouter(served, token, fake_openrouter):
    fake_openrouter.reply("Yes, from 8 to 14.")
    headers = {"Authorization": f"Bearer {token}", "Host": "flows.example"}
    assert requests.post(served + URL, json=GUIDE_BODY, headers=headers, timeout=10).ok
    [sent] = fake_openrouter.requests
    assert "HTTP-Referer" not in sent.headers and sent.headers["X-Title"] == "Switchboard"

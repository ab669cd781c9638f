"""How large a request `serve` takes, over real HTTP as `make run` serves it: a body larger than
any route accepts is refused before it is sent, the webhook keeps to Meta's size before it
checks a signature, and the largest legitimate requests still get through."""

import json

import pytest
import requests
from sqlalchemy import func, select

from tests.conftest import APP_SECRET
from tests.support.databases import environment_of
from tests.support.flows import GUIDE_BODY, URL
from tests.support.payloads import text_delivery
from tests.support.served import CSRF, Visitor, serving
from tests.support.slow_clients import post_streamed
from webapp import tokens
from webapp.clients.whatsapp_webhook import sign
from webapp.config import FLOW_BODY_LIMIT, WEBHOOK_BODY_LIMIT
from webapp.extensions import db
from webapp.models import KnowledgeSource, Message

HUGE = 300 * 2**20
# What can be on its way before the refusal is read: both ends' socket buffers on loopback.
IN_FLIGHT = 32 * 2**20


@pytest.fixture
def served(whatsapp):
    with serving(environment_of(whatsapp)) as url:
        yield url


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_300_mb_unsigned_post_is_refused_before_it_is_sent(served, chunked):
    refused = post_streamed(served, "/webhook/whatsapp", HUGE, chunked=chunked)
    assert refused.status == 413
    assert refused.sent < IN_FLIGHT


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_webhook_over_metas_size_gets_413_before_its_signature_is_checked(
    served, whatsapp, chunked
):
    body = b" " * (WEBHOOK_BODY_LIMIT + 1)
    sent = (piece for piece in [body]) if chunked else body  # no Content-Length when chunked
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=wrong"}
    response = requests.post(f"{served}/webhook/whatsapp", data=sent, headers=headers, timeout=30)
    assert response.status_code == 413
    assert response.json() == {"error": "body larger than 3 MB: Meta never sends more"}


def test_a_signed_delivery_as_large_as_meta_sends_is_stored(served, whatsapp):
    delivery = text_delivery("16505551234", "Do you deliver?")
    raw = delivery + b" " * (WEBHOOK_BODY_LIMIT - len(delivery))  # JSON allows the spaces
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, raw)}
    response = requests.post(f"{served}/webhook/whatsapp", data=raw, headers=headers, timeout=30)
    assert response.status_code == 200
    with whatsapp.app_context():
        assert db.session.scalar(select(func.count()).select_from(Message)) == 1


def test_a_flow_request_with_a_photos_worth_of_body_is_answered(served, whatsapp, fake_openrouter):
    with whatsapp.app_context():
        token = tokens.create("photo-flow")[1]
    fake_openrouter.reply("A lovely cake.")
    words = json.dumps(GUIDE_BODY)
    padded = GUIDE_BODY | {"padding": " " * (FLOW_BODY_LIMIT - len(words) - 64)}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    response = requests.post(served + URL, data=json.dumps(padded), headers=headers, timeout=30)
    assert response.status_code == 200


def test_a_knowledge_file_of_nearly_10_mb_passes_waitress_and_a_larger_one_gets_the_pages_words(
    served, whatsapp
):
    """Through waitress as `make run` serves it: the page's own limit speaks, not a bare 413
    from the server in front of it."""
    owner = Visitor(served, {})
    assert owner.sign_in().status_code == 302
    token = CSRF.search(owner.request("GET", "/admin/knowledge").text).group(1)

    def upload(size: int, name: str) -> requests.Response:
        data = (b"Sourdough loaf 6.00. " * (size // 21 + 1))[:size]
        form = {"csrf_token": token, "name": ""}
        return owner.request("POST", "/admin/knowledge/file", data=form,
                             files={"file": (name, data, "text/plain")})  # fmt: skip

    assert upload(10 * 2**20 - 2**16, "Catalogue.txt").status_code == 302
    refused = upload(10 * 2**20 + 300_000, "Huge.txt")
    assert refused.status_code == 413
    assert "The file is larger than 10 MB, the most a file may be." in refused.text
    with whatsapp.app_context():
        assert db.session.scalars(select(KnowledgeSource.name)).all() == ["Catalogue.txt"]

"""A customer is never answered twice: a send is tried again only when Graph's answer proves
the message was not taken; any other failed answer leaves it unknown, for the owner to send
again. Reads (media, read receipts) cannot answer twice and are retried on any 5xx."""

import json
import re
import time

import pytest
import requests
from sqlalchemy import select

from tests.conftest import APP_SECRET, PHONE_NUMBER_ID, wait_for
from tests.support.databases import environment_of
from tests.support.fake_graph import API_PREFIX, MESSAGES_PATH
from tests.support.payloads import text_delivery
from tests.support.replies import CUSTOMER, finished, log_rows
from tests.support.served import Visitor, serving
from webapp.clients.whatsapp import WhatsAppClient
from webapp.clients.whatsapp_errors import WhatsAppError, classify_send_error
from webapp.clients.whatsapp_webhook import sign
from webapp.extensions import db
from webapp.models import Message
from webapp.troubleshooting import ErrorKind

TOKEN = "EAAG-send-outcome-test-token-0123456789"
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def graph_error(code, status, message="An error"):
    return status, json.dumps(
        {"error": {"message": message, "type": "OAuthException", "code": code}}
    )


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        # Not taken, in Graph's own words: safe to send again.
        (*graph_error(2, 503, "Service temporarily unavailable"), "whatsapp_unavailable"),
        (*graph_error(131000, 500, "Something went wrong"), "whatsapp_unavailable"),
        (*graph_error(131016, 500, "Service unavailable"), "whatsapp_unavailable"),
        (*graph_error(130429, 429, "(#130429) Rate limit hit"), "whatsapp_rate_limited"),
        (*graph_error(131056, 400, "(#131056) Pair rate limit hit"), "whatsapp_rate_limited"),
        (429, "", "whatsapp_rate_limited"),
        # Refused for good: never sent, never retried.
        (*graph_error(190, 401, "Invalid OAuth access token"), "whatsapp_auth"),
        (*graph_error(131047, 200, "(#131047) Re-engagement message"), "whatsapp_window"),
        (*graph_error(131030, 400, "Recipient not in allowed list"), "whatsapp_rejected"),
        # Nothing says whether Meta took it: unknown.
        (502, HTML_502, "whatsapp_unknown"),
        (504, "", "whatsapp_unknown"),
        (503, '{"error": {"message": "Service Unavailable"}}', "whatsapp_unknown"),
        (*graph_error(1, 500, "An unknown error occurred"), "whatsapp_unknown"),
        (200, '{"messaging_product": "whatsapp", "contacts": []}', "whatsapp_unknown"),
        (200, "<html><body>Please log in to the Wi-Fi</body></html>", "whatsapp_unknown"),
    ],
)
def test_a_send_is_retried_only_when_graphs_answer_proves_it_was_not_taken(status, body, kind):
    err = classify_send_error(status, body)
    assert (err.kind, err.http_status) == (kind, status)
    assert err.trouble.transient == (kind in ("whatsapp_unavailable", "whatsapp_rate_limited"))


def test_an_unknown_answer_says_so_and_keeps_what_came():
    err = classify_send_error(502, HTML_502, {"Content-Type": "text/html"})
    assert "does not say whether it took the message" in err.message
    assert "502 Bad Gateway" in err.message
    assert err.raw_body == HTML_502


@pytest.fixture
def graph(fake_graph):
    return WhatsAppClient(TOKEN, PHONE_NUMBER_ID, fake_graph.base_url, timeout=5)


def failure(action) -> WhatsAppError:
    with pytest.raises(WhatsAppError) as caught:
        action()
    return caught.value


@pytest.mark.parametrize("status", [502, 504])
def test_a_send_answered_with_an_edge_error_page_is_unknown(fake_graph, graph, status):
    fake_graph.fail_sends_at_the_edge(status)
    err = failure(lambda: graph.send_text(CUSTOMER, "Hi"))
    assert err.kind == ErrorKind.WHATSAPP_UNKNOWN
    assert not err.trouble.transient
    assert f"HTTP {status}" in err.message


def test_a_send_answered_200_without_a_message_id_is_unknown(fake_graph, graph):
    fake_graph.queue(200, {"messaging_product": "whatsapp", "contacts": []})
    err = failure(lambda: graph.send_text(CUSTOMER, "Hi"))
    assert err.kind == ErrorKind.WHATSAPP_UNKNOWN
    assert "base URL" in err.message  # such an answer usually means a wrong base URL


def test_a_send_refused_with_a_temporary_code_is_retried(fake_graph, graph):
    fake_graph.queue(*graph_error(131000, 500, "Something went wrong"))
    err = failure(lambda: graph.send_text(CUSTOMER, "Hi"))
    assert err.kind == ErrorKind.WHATSAPP_UNAVAILABLE and err.trouble.transient


def test_a_send_to_a_refused_port_is_retried(refused_url):
    graph = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, refused_url + API_PREFIX, timeout=2)
    err = failure(lambda: graph.send_text(CUSTOMER, "Hi"))
    assert err.kind == ErrorKind.WHATSAPP_UNAVAILABLE and err.trouble.transient


def test_a_read_receipt_answered_with_an_edge_error_page_may_be_retried(fake_graph, graph):
    fake_graph.queue(502, HTML_502, {"Content-Type": "text/html"})
    err = failure(lambda: graph.mark_read("wamid.IN1"))
    assert err.kind == ErrorKind.WHATSAPP_UNAVAILABLE and err.trouble.transient


def test_a_media_lookup_answered_with_an_edge_error_page_may_be_retried(fake_graph, graph):
    fake_graph.queue(502, HTML_502, {"Content-Type": "text/html"})
    err = failure(lambda: graph.media_info("2621233374848975"))
    assert err.kind == ErrorKind.WHATSAPP_UNAVAILABLE and err.trouble.transient


def text_posts(fake_graph) -> list:
    return [
        r for r in fake_graph.requests if MESSAGES_PATH.fullmatch(r.path) and "text" in r.json()
    ]


def test_a_reply_answered_502_by_metas_edge_is_posted_once_and_offered_to_send_again(
    whatsapp, fake_openrouter, fake_graph
):
    fake_openrouter.reply("It ships on Monday.")
    fake_graph.fail_sends_at_the_edge(502)
    with serving(environment_of(whatsapp), worker=True) as url:
        body = text_delivery(CUSTOMER, "When does it ship?")
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": sign(APP_SECRET, body),
        }
        stored = requests.post(f"{url}/webhook/whatsapp", data=body, headers=headers, timeout=10)
        assert stored.status_code == 200
        wait_for(lambda: finished(whatsapp), timeout=30)
        time.sleep(0.5)  # room for a resend, if there were one
        assert len(text_posts(fake_graph)) == 1
        owner = Visitor(url, {})
        assert owner.sign_in().status_code == 302
        with whatsapp.app_context():
            part = db.session.scalar(select(Message).where(Message.direction == "out"))
            contact_id, part_id = part.contact_id, part.id
            assert (part.state, part.error_kind) == ("unknown", "whatsapp_unknown")
        page = owner.request("GET", f"/admin/conversations/{contact_id}").text
    assert [r.error_kind for r in log_rows(whatsapp) if r.upstream == "whatsapp"] == [
        "whatsapp_unknown"
    ]
    thread = re.search(rf'id="message-{part_id}".*?</li>', page, re.DOTALL)[0]
    assert "May not have arrived" in thread and "Send again" in thread
    assert "If the first one did arrive, they get it twice." in thread

"""When OpenRouter or the Graph API fails: the right kind, retries or not, the fallback reply."""

import pytest
from sqlalchemy import select

from tests.conftest import PHONE_NUMBER_ID, post_webhook, wait_for
from tests.support.fake_graph import API_PREFIX
from tests.support.fakes import CHAT_PATH, fixture_bytes
from tests.support.payloads import WINDOW_ERROR, fixture
from tests.support.replies import finished, log_rows, only_default_model
from webapp import catalog, settings
from webapp.extensions import db
from webapp.models import Message

MESSAGES_PATH = f"{API_PREFIX}/{PHONE_NUMBER_ID}/messages"
FALLBACK = "Sorry, we can't answer right now. We'll get back to you soon."


def model_rows(app) -> list:
    return [row for row in log_rows(app) if row.upstream == "openrouter"]


def inbound(app) -> Message:
    with app.app_context():
        message = db.session.scalar(select(Message).where(Message.direction == "in"))
        db.session.expunge(message)
        return message


@pytest.mark.parametrize(
    ("fixture_name", "status", "kind", "attempts"),
    [
        ("error_401_user_not_found.json", 401, "invalid_key", 1),
        ("error_402_requires_more_credits.json", 402, "no_credits", 1),
        ("error_404_no_endpoints_for_model.json", 404, "model_not_found", 1),
        ("error_400_invalid_model_id.json", 400, "model_not_found", 1),
        ("error_403_moderation_RECONSTRUCTED.json", 403, "moderation", 1),
        ("error_400_input_min_tokens.json", 400, "bad_request", 1),
        ("chat_200_error_body_no_choices.json", 200, "upstream_unavailable", 3),
        ("doc_chat_200_error_in_choice_nonstream.json", 200, "upstream_unavailable", 3),
        ("error_429_upstream_rate_limited.json", 429, "rate_limited", 3),
        ("doc_error_503_service_unavailable.json", 503, "upstream_unavailable", 3),
        ("doc_error_502_provider_returned_error.json", 502, "upstream_unavailable", 3),
    ],
)
def test_each_model_failure_is_logged_retried_as_its_kind_says_and_the_customer_gets_the_fallback(
    client, whatsapp, worker, fake_openrouter, fake_graph, fixture_name, status, kind, attempts
):
    only_default_model(whatsapp)
    for _ in range(attempts):
        fake_openrouter.replay(fixture_name, status=status, path=CHAT_PATH)
    fake_openrouter.reply("an answer nobody should get")  # served only by a retry too many
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    rows = model_rows(whatsapp)
    assert [(row.status, row.error_kind, row.attempt) for row in rows] == [
        ("error", kind, n) for n in range(1, attempts + 1)
    ]
    assert all(row.error_message for row in rows)
    assert [body for _, body, _ in fake_graph.sent_texts()] == [FALLBACK]
    [send] = [row for row in log_rows(whatsapp) if row.upstream == "whatsapp"]
    assert send.status == "ok"  # the fallback reply went out, and that is logged too
    message = inbound(whatsapp)
    assert (message.state, message.error_kind) == ("failed", kind)


def test_a_transient_failure_that_clears_on_retry_answers_normally(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.replay("doc_error_503_service_unavailable.json", status=503, path=CHAT_PATH)
    fake_openrouter.reply("Back again.")
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    assert [(row.status, row.attempt) for row in model_rows(whatsapp)] == [("error", 1), ("ok", 2)]
    assert [body for _, body, _ in fake_graph.sent_texts()] == ["Back again."]
    assert inbound(whatsapp).state == "answered"


def test_a_slow_model_times_out_and_is_retried(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    only_default_model(whatsapp)
    with whatsapp.app_context():
        settings.save({"request_timeout": "1"}, author="test")
    fake_openrouter.echo(delay=5)
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp), timeout=30)
    assert [row.error_kind for row in model_rows(whatsapp)] == ["timeout"] * 3
    assert [body for _, body, _ in fake_graph.sent_texts()] == [FALLBACK]


def test_an_unreachable_api_is_a_network_failure(client, whatsapp, worker, refused_url, fake_graph):
    with whatsapp.app_context():
        settings.save({"openrouter_base_url": refused_url}, author="test")
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    assert {row.error_kind for row in model_rows(whatsapp)} == {"network"}
    assert inbound(whatsapp).error_kind == "network"


def test_a_retired_model_route_falls_through_to_the_next_fallback_models(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    with whatsapp.app_context():  # all seven in the chain: three routes
        for row in catalog.all_models():
            if row.role == catalog.AVAILABLE:
                catalog.set_role(row.model_id, catalog.FALLBACK)
    fake_openrouter.replay("error_404_no_endpoints_for_model.json", status=404, path=CHAT_PATH)
    fake_openrouter.reply("From a later model.", model="mistralai/mistral-small-latest")
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    chats = [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]
    assert [c["model"] for c in chats] == ["openai/gpt-4o-mini", "google/gemini-3.5-flash"]
    assert chats[1]["models"] == [
        "google/gemini-3.5-flash",
        "mistralai/mistral-small-latest",
        "perplexity/sonar",
    ]
    rows = model_rows(whatsapp)
    assert [(r.status, r.model_requested, r.model_used) for r in rows] == [
        ("error", "openai/gpt-4o-mini", None),
        ("ok", "google/gemini-3.5-flash", "mistralai/mistral-small-latest"),
    ]
    assert [body for _, body, _ in fake_graph.sent_texts()] == ["From a later model."]


def test_a_wrong_key_does_not_walk_through_every_model(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    fake_openrouter.default(401, fixture_bytes("error_401_user_not_found.json"), path=CHAT_PATH)
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    assert len([r for r in fake_openrouter.requests if r.path == CHAT_PATH]) == 1


def test_an_empty_fallback_reply_sends_nothing_but_marks_the_message_failed(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    with whatsapp.app_context():
        settings.save({"fallback_reply": ""}, author="test")
        catalog.set_role("openai/gpt-4o", catalog.DISABLED)
    fake_openrouter.default(401, fixture_bytes("error_401_user_not_found.json"), path=CHAT_PATH)
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    assert fake_graph.sent_texts() == []
    assert inbound(whatsapp).state == "failed"


GRAPH_FAILURES = [
    ("send_error_190_token_expired.json", 401, "whatsapp_auth", 1),
    ("send_error_131030_recipient_not_in_allowed_list.json", 400, "whatsapp_rejected", 1),
    ("errors_131047", 400, "whatsapp_window", 1),
    ("rate_limit_130429", 429, "whatsapp_rate_limited", 3),
    ("server_error", 500, "whatsapp_unavailable", 3),
    ("hang_up", None, "whatsapp_unknown", 1),  # Meta may have sent it: never sent twice
]
GRAPH_BODIES = {
    "errors_131047": WINDOW_ERROR,
    "rate_limit_130429": {
        "error": {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429}
    },
    "server_error": {
        "error": {
            "message": "An unexpected error has occurred.",
            "type": "OAuthException",
            "code": 2,
            "is_transient": True,
        }
    },
}


@pytest.mark.parametrize(("source", "status", "kind", "attempts"), GRAPH_FAILURES)
def test_each_send_failure_is_logged_as_its_whatsapp_kind(
    client, whatsapp, worker, fake_openrouter, fake_graph, source, status, kind, attempts
):
    fake_openrouter.reply("An answer that cannot be delivered.")
    for _ in range(attempts):
        if source == "hang_up":
            fake_graph.queue(hang_up=True)
        elif source in GRAPH_BODIES:
            fake_graph.queue(status, GRAPH_BODIES[source], path=MESSAGES_PATH)
        else:
            fake_graph.replay(source, status=status)
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    rows = [row for row in log_rows(whatsapp) if row.upstream == "whatsapp"]
    assert [(row.error_kind, row.attempt) for row in rows] == [
        (kind, n) for n in range(1, attempts + 1)
    ]
    message = inbound(whatsapp)
    assert (message.state, message.error_kind) == ("failed", kind)
    with whatsapp.app_context():
        out = db.session.scalar(select(Message).where(Message.direction == "out"))
        assert (out.state, out.error_kind) == (
            "unknown" if kind == "whatsapp_unknown" else "failed",
            kind,
        )

"""The webhook route: Meta's handshake, signatures, bad input, storage and dedupe."""

import json

import pytest
from sqlalchemy import func, select

from tests.conftest import APP_SECRET, as_recorded, post_webhook
from tests.support.payloads import fixture, text_delivery
from webapp import settings, state
from webapp.config import WEBHOOK_BODY_LIMIT
from webapp.extensions import db
from webapp.models import Contact, Message


def count(app, model=Message) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def waiting(app) -> int:
    """Messages waiting for an answer: the messages table is the queue."""
    with app.app_context():
        return db.session.scalar(
            select(func.count()).where(Message.direction == "in", Message.state == "received")
        )


def test_verification_echoes_the_challenge_for_the_right_token(client, whatsapp):
    response = client.get(
        "/webhook/whatsapp",
        query_string={
            "hub.mode": "subscribe",
            "hub.verify_token": "let-me-in",
            "hub.challenge": "1158201444",
        },
    )
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "1158201444"
    assert response.mimetype == "text/plain"
    with whatsapp.app_context():
        assert state.get("webhook_verified") is not None


@pytest.mark.parametrize(
    "query",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": "let-me-in", "hub.challenge": "1"},
        {"hub.challenge": "1"},
    ],
)
def test_verification_with_a_wrong_token_or_mode_is_forbidden(client, whatsapp, query):
    assert client.get("/webhook/whatsapp", query_string=query).status_code == 403


def test_verification_without_a_saved_token_is_forbidden(client, app):
    query = {"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}
    assert client.get("/webhook/whatsapp", query_string=query).status_code == 403


def test_a_signed_delivery_is_stored_waiting_for_an_answer_then_acknowledged(client, whatsapp):
    response = post_webhook(client, fixture("text.json"))
    assert response.status_code == 200
    with whatsapp.app_context():
        message = db.session.scalar(select(Message))
        assert message.text == "Does it come in another color?"
        assert message.state == "received"
        assert message.contact.profile_name == "Sheena Nelson"
        assert message.contact.phone == "16505551234"
    assert waiting(whatsapp) == 1


def test_a_redelivered_message_is_acknowledged_and_not_stored_again(client, whatsapp):
    assert post_webhook(client, fixture("text.json")).status_code == 200
    assert post_webhook(client, fixture("text.json")).status_code == 200
    assert count(whatsapp) == 1
    assert waiting(whatsapp) == 1


@pytest.mark.parametrize(
    "signature",
    [
        "",  # missing
        "sha256=" + "0" * 64,
        "sha1=abc",
        "garbage",
    ],
)
def test_a_bad_or_missing_signature_is_refused_and_nothing_stored(client, whatsapp, signature):
    response = post_webhook(client, fixture("text.json"), signature=signature)
    assert response.status_code == 401
    assert count(whatsapp) == 0 and waiting(whatsapp) == 0


def test_a_delivery_signed_with_another_secret_is_refused(client, whatsapp):
    response = post_webhook(client, fixture("text.json"), secret="someone-elses-secret")
    assert response.status_code == 401
    assert count(whatsapp) == 0


def test_a_reserialized_body_fails_the_signature_of_the_original(client, whatsapp):
    from webapp.clients.whatsapp_webhook import sign

    original = fixture("image.json")
    reserialized = json.dumps(json.loads(original)).encode()
    assert reserialized != original
    response = post_webhook(client, reserialized, signature=sign(APP_SECRET, original))
    assert response.status_code == 401


def test_without_an_app_secret_deliveries_are_refused_and_the_dashboard_warns(client, app, admin):
    response = post_webhook(client, fixture("text.json"), secret="anything")
    assert response.status_code == 403
    assert count(app) == 0
    page = admin.get("/admin/").get_data(as_text=True)
    assert "refused" in page and "app secret" in page


def test_malformed_json_is_a_400_and_nothing_stored(client, whatsapp):
    response = post_webhook(client, b'{"object": "whatsapp_business_account", "entry": [')
    assert response.status_code == 400
    assert count(whatsapp) == 0


def test_a_json_array_is_a_400(client, whatsapp):
    assert post_webhook(client, b"[1, 2, 3]").status_code == 400


def test_an_oversized_body_is_a_413_and_nothing_stored(client, whatsapp):
    huge = text_delivery("16505551234", "x" * (WEBHOOK_BODY_LIMIT + 10))
    response = post_webhook(client, huge)
    assert response.status_code == 413
    assert count(whatsapp) == 0


def test_unknown_fields_and_types_are_acknowledged(client, whatsapp):
    odd = {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": "1", "changes": [{"field": "account_update", "value": {"event": "x"}}]},
            {
                "id": "2",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messages": [
                                {
                                    "from": "15550001111",
                                    "id": "wamid.NEW1",
                                    "timestamp": "1",
                                    "type": "hologram",
                                    "hologram": {"depth": 3},
                                }
                            ]
                        },
                    }
                ],
            },
            {"id": "3"},
        ],
        "brand_new_top_level": True,
    }
    response = post_webhook(client, odd)
    assert response.status_code == 200
    with whatsapp.app_context():
        stored = db.session.scalar(select(Message))
        assert stored.type == "hologram" and stored.text is None and stored.state == "received"


@pytest.mark.parametrize("name", ["reaction_removed.json", "system_phone_number_change.json"])
def test_reactions_and_system_messages_are_stored_but_not_waiting(client, whatsapp, name):
    as_recorded(whatsapp, name)
    assert post_webhook(client, fixture(name)).status_code == 200
    with whatsapp.app_context():
        assert db.session.scalar(select(Message.state)) == "ignored"
    assert waiting(whatsapp) == 0


def test_a_paused_contacts_message_is_stored_but_not_waiting(client, whatsapp, runner):
    runner.invoke(args=["contacts", "pause", "+1 650 555 1234"])
    assert post_webhook(client, fixture("text.json")).status_code == 200
    with whatsapp.app_context():
        assert db.session.scalar(select(Message.state)) == "paused"
    assert waiting(whatsapp) == 0
    assert count(whatsapp, Contact) == 1


def test_value_errors_are_logged(client, whatsapp):
    from webapp.models import RequestLog

    assert post_webhook(client, fixture("errors_130429_rate_limit.json")).status_code == 200
    with whatsapp.app_context():
        row = db.session.scalar(select(RequestLog))
        assert row.error_kind == "whatsapp_rate_limited"


def test_only_the_webhook_is_exempt_from_csrf(client, whatsapp):
    assert client.post("/admin/settings", data={}).status_code in (302, 400)
    assert client.post("/login", data={"username": "owner", "password": "x"}).status_code == 400


def test_a_message_for_another_phone_number_is_logged_not_answered_and_the_dashboard_says_so(
    client, whatsapp, admin
):
    from webapp.models import RequestLog

    assert post_webhook(client, fixture("sticker.json")).status_code == 200  # sent to 1063…
    assert count(whatsapp) == 0
    with whatsapp.app_context():
        row = db.session.scalar(select(RequestLog))
        assert row.error_kind == "whatsapp_rejected" and "1063423435420583" in row.error_message
        assert '"type": "sticker"' in row.response_body  # kept for the owner to read
    page = admin.get("/admin/").get_data(as_text=True)
    assert "1063423435420583" in page and "correct the Phone number ID" in page
    with whatsapp.app_context():
        settings.save({"whatsapp_phone_number_id": "1063423435420583"}, author="test")
    assert "correct the Phone number ID" not in admin.get("/admin/").get_data(as_text=True)
    assert post_webhook(client, fixture("sticker.json")).status_code == 200
    assert waiting(whatsapp) == 1

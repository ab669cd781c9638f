"""The WhatsApp module: webhook signatures and parsing, sending to a fake Graph API, splitting."""

import copy
import json
import pickle
import time
from datetime import UTC, datetime

import pytest

from tests.support.fake_graph import API_PREFIX, WHATSAPP_FIXTURES, fixture_bytes
from webapp.clients.whatsapp import TEXT_LIMIT, WhatsAppClient, split_message
from webapp.clients.whatsapp_errors import WhatsAppError, classify_graph_error, kind_for_code
from webapp.clients.whatsapp_webhook import parse_webhook, sign, verify_signature
from webapp.troubleshooting import ErrorKind

APP_SECRET = "0123456789abcdef0123456789abcdef"
TOKEN = "EAAGm0PX4ZCpsBAKZBcSWZAZCSuPZBxtRyOERZAkZCZBvmU4ZDZD9f8e7d6c5b4a3"
PHONE_NUMBER_ID = "106540352242922"
HTML_502 = "<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def message(kind, text, reply, customer, name):
    return {"messages": [(kind, text, reply, customer, name)], "statuses": [], "errors": []}


def status(message_id, state, recipient, error_code=None):
    return {"messages": [], "statuses": [(message_id, state, recipient, error_code)], "errors": []}


# Every inbound fixture -> what parse_webhook must read from it.
INBOUND = {
    # No text of its own: what is said in it is read by the turn (tests/test_media_turns.py).
    "audio_voice_note.json": message("audio", None, "non_text", "49123456789", "TestUser"),
    "button.json": message("button", "No", "model", "491234567890", "TestUser"),
    # The masked capture's contact (222…) is not the sender (333…): no name is borrowed.
    "contacts.json": message("contacts", None, "non_text", "333333333333", None),
    "document.json": message("document", "RESTFB ANNIVERSARY", "model", "491234567890", "TestUser"),
    "errors_130429_rate_limit.json": {"messages": [], "statuses": [], "errors": [130429]},
    "image.json": message("image", "Some awesome image", "model", "49123456789", "TestUser"),
    "interactive_button_reply.json": message(
        "interactive", "Cancel", "model", "16505551234", "Sheena Nelson"
    ),
    "interactive_list_reply.json": message(
        "interactive",
        "Priority Mail Express — Next Day to 2 Days",
        "model",
        "16505551234",
        "Sheena Nelson",
    ),
    "location.json": message(
        "location",
        "Saarbrücken (location 49.234939575195, 6.9993596076965)",
        "model",
        "491234567890",
        "TestUser",
    ),
    "reaction_removed.json": message("reaction", None, "none", "972987654321", "Test Name"),
    "status_delivered.json": status("wamid.xyzxyz", "delivered", "972987654321"),
    "status_delivered_free_service_RECONSTRUCTED.json": status(
        "wamid.free-service", "delivered", "972987654321"
    ),
    "status_sent_utility_template_RECONSTRUCTED.json": status(
        "wamid.utility-template", "sent", "972987654321"
    ),
    "status_failed.json": status(
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI0QUQ2MjA4NEYyRkExNjMyREUA",
        "failed",
        "16505551234",
        131049,
    ),
    "status_failed_130472.json": status("wamid.xyzxyz", "failed", "972987654321", 130472),
    "status_failed_131026.json": status(
        "wamid.HBgLMzI0NzY3NTUzNzYVAgARGBIzOTI2MzFGRjdBRjA4M0Y2RDQA", "failed", "REDACTED", 131026
    ),
    "status_read.json": status("wamid.xyzxyz", "read", "972987654321"),
    "status_sent.json": status(
        "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUFERjg0NDEzNDdFODU3MUMxMAA=", "sent", "16505551234"
    ),
    "sticker.json": message("sticker", None, "non_text", "491234567890", "TestUser"),
    "system_phone_number_change.json": message("system", None, "none", "972987654321", None),
    "text.json": message(
        "text", "Does it come in another color?", "model", "16505551234", "Sheena Nelson"
    ),
    "text_reply_context.json": message(
        "text", "replied text", "model", "972987654321", "Test Name"
    ),
    "unsupported.json": message("unsupported", None, "non_text", "16505551234", "Sheena Nelson"),
    "video.json": message("video", "caption", "model", "972987654321", "Test Name"),
    # The WhatsApp Business app on the same number: no customer's message to answer among
    # them (what they carry is read in tests/test_coexistence.py).
    "smb_message_echoes_text.json": {"messages": [], "statuses": [], "errors": []},
    "history_threads.json": {"messages": [], "statuses": [], "errors": []},
    "history_media_contents.json": {"messages": [], "statuses": [], "errors": []},
    "history_declined.json": {"messages": [], "statuses": [], "errors": [2593109]},
    "smb_app_state_sync_add.json": {"messages": [], "statuses": [], "errors": []},
    "smb_app_state_sync_remove_RECONSTRUCTED.json": {"messages": [], "statuses": [], "errors": []},
}
# Graph error bodies -> (HTTP status Meta sends them with, kind, Graph code).
SEND_ERRORS = {
    "send_error_100_invalid_parameter.json": (400, "whatsapp_rejected", 100),
    "send_error_100_subcode33_unknown_phone_number_id.json": (400, "whatsapp_rejected", 100),
    "send_error_131030_recipient_not_in_allowed_list.json": (400, "whatsapp_rejected", 131030),
    "send_error_190_token_expired.json": (401, "whatsapp_auth", 190),
    "send_error_graph_generic_shape.json": (401, "whatsapp_auth", 190),
    "send_error_132000_param_count.json": (400, "whatsapp_rejected", 132000),
}
SEND_OK = {"send_ok.json", "send_ok_mark_as_read.json"}
MEDIA_ANSWERS = {"media_url.json"}  # read in test_media.py
TEMPLATE_LISTS = {"templates_list.json"}  # read in test_templates.py


def graph_error(code, message, status=400, details=None):
    error = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "Axyz"}
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return status, json.dumps({"error": error})


WINDOW = graph_error(
    131047,
    "(#131047) Re-engagement message",
    details="Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number.",
)


def webhook(value, field="messages"):
    """A whole POST body around one change's value."""
    change = {"field": field, "value": value}
    return {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}


def load(name):
    return json.loads(fixture_bytes(name))


def summary(delivery):
    return {
        "messages": [
            (m.type, m.text, m.reply, m.customer_id, m.profile_name) for m in delivery.messages
        ],
        "statuses": [
            (s.wa_message_id, s.status, s.recipient_id, s.error_code) for s in delivery.statuses
        ],
        "errors": [e.code for e in delivery.errors],
    }


@pytest.fixture
def graph(fake_graph):
    return WhatsAppClient(TOKEN, PHONE_NUMBER_ID, fake_graph.base_url, timeout=5)


def failure(action) -> WhatsAppError:
    with pytest.raises(WhatsAppError) as caught:
        action()
    return caught.value


# --- signatures ---


@pytest.mark.parametrize("fixture", ["image.json", "location.json", "text.json"])
def test_signature_over_the_raw_bytes_is_accepted(fixture):
    raw = fixture_bytes(fixture)
    assert verify_signature(APP_SECRET, raw, sign(APP_SECRET, raw))


@pytest.mark.parametrize("fixture", ["image.json", "location.json", "document.json"])
def test_signature_over_re_serialised_json_is_refused(fixture):
    # Meta signs the bytes it sent; `image\/jpeg` and `\u00fc` change when re-serialised.
    raw = fixture_bytes(fixture)
    reserialised = json.dumps(json.loads(raw), indent=2).encode()
    assert reserialised != raw
    assert not verify_signature(APP_SECRET, reserialised, sign(APP_SECRET, raw))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256=zzzz",
        "sha256=é",
        "garbage",
        sign("another secret", fixture_bytes("text.json")),
        "sha1=" + sign(APP_SECRET, fixture_bytes("text.json")).removeprefix("sha256="),
    ],
    ids=[
        "missing",
        "empty",
        "no digest",
        "not hex",
        "not ascii",
        "garbage",
        "wrong secret",
        "sha1",
    ],
)
def test_bad_signature_header_is_refused(header):
    assert not verify_signature(APP_SECRET, fixture_bytes("text.json"), header)


def test_empty_app_secret_refuses_everything():
    raw = fixture_bytes("text.json")
    assert not verify_signature("", raw, sign("", raw))


# --- parsing ---


def test_every_fixture_file_has_an_expected_outcome():
    on_disk = {p.name for p in WHATSAPP_FIXTURES.iterdir() if p.suffix == ".json"}
    assert on_disk == INBOUND.keys() | SEND_ERRORS.keys() | SEND_OK | MEDIA_ANSWERS | TEMPLATE_LISTS


@pytest.mark.parametrize(("fixture", "expected"), INBOUND.items(), ids=list(INBOUND))
def test_inbound_fixture_is_read(fixture, expected):
    assert summary(parse_webhook(load(fixture))) == expected


def test_message_keeps_ids_time_number_and_raw_dict():
    payload = load("text.json")
    (inbound,) = parse_webhook(payload).messages
    assert inbound.wa_message_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
    assert inbound.phone == "16505551234" and inbound.user_id is None
    assert inbound.timestamp == datetime.fromtimestamp(1749416383, UTC)
    assert inbound.phone_number_id == PHONE_NUMBER_ID
    assert inbound.context_id is None
    assert inbound.raw == payload["entry"][0]["changes"][0]["value"]["messages"][0]


@pytest.mark.parametrize(
    ("fixture", "context_id"),
    [
        ("text_reply_context.json", "wamid.xyzxyz=="),
        (
            "interactive_button_reply.json",
            "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MEM2RUJFNkI0RENGQTVDRjUA",
        ),
        ("video.json", None),  # forwarded: a context without an id
    ],
)
def test_reply_context_is_the_quoted_message_id(fixture, context_id):
    assert parse_webhook(load(fixture)).messages[0].context_id == context_id


def test_user_id_is_read_beside_the_phone_number():
    (inbound,) = parse_webhook(load("reaction_removed.json")).messages
    assert (inbound.phone, inbound.user_id) == ("972987654321", "US.13491208655302741918")


def test_failed_status_carries_the_error_title_and_details():
    (update,) = parse_webhook(load("status_failed_131026.json")).statuses
    assert update.error_title == "Receiver is incapable of receiving this message"
    assert update.error_details == "Message Undeliverable."
    assert update.timestamp == datetime.fromtimestamp(1698231447, UTC)


def test_webhook_error_carries_title_message_and_details():
    (error,) = parse_webhook(load("errors_130429_rate_limit.json")).errors
    assert (error.code, error.title, error.message) == (130429, "Rate limit hit", "Rate limit hit")
    assert error.details.startswith("Message failed to send because there were too many")


def test_webhook_error_reads_like_a_failed_call():
    (error,) = parse_webhook(load("errors_130429_rate_limit.json")).errors
    err = error.as_exception()
    assert (err.kind, err.code, err.http_status) == ("whatsapp_rate_limited", 130429, None)
    assert err.message.startswith("(#130429) Rate limit hit — Message failed to send because")
    assert json.loads(err.raw_body) == error.raw


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (131047, "whatsapp_window"),
        (130429, "whatsapp_rate_limited"),
        (131049, "whatsapp_rejected"),
        (131026, "whatsapp_rejected"),
        (130472, "whatsapp_rejected"),
        (131000, "whatsapp_unavailable"),
        (190, "whatsapp_auth"),
        (None, "whatsapp_rejected"),
    ],
)
def test_failed_delivery_code_gets_its_kind(code, kind):
    assert kind_for_code(code) == kind


def test_username_only_customer_is_identified_by_user_id():
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Ana", "username": "@ana.shop"}, "user_id": "US.42"}],
        "messages": [
            {
                "from_user_id": "US.42",
                "id": "wamid.USERNAME1",
                "timestamp": "1750025136",
                "type": "text",
                "text": {"body": "Is the shop open today?"},
            }
        ],
    }
    (inbound,) = parse_webhook(webhook(value)).messages
    assert (inbound.customer_id, inbound.phone, inbound.user_id) == ("US.42", None, "US.42")
    assert (inbound.profile_name, inbound.username) == ("Ana", "@ana.shop")
    assert (inbound.text, inbound.reply) == ("Is the shop open today?", "model")


def test_batched_delivery_yields_every_message_and_status():
    changes = []
    for messages, statuses in [
        (["text.json", "image.json", "sticker.json"], ["status_sent.json"]),
        (["button.json", "reaction_removed.json"], ["status_read.json", "status_failed.json"]),
    ]:
        value = copy.deepcopy(load(messages[0])["entry"][0]["changes"][0]["value"])
        for name in messages[1:]:
            other = load(name)["entry"][0]["changes"][0]["value"]
            value["messages"] += other["messages"]
            value["contacts"] += other["contacts"]
        value["statuses"] = [
            load(n)["entry"][0]["changes"][0]["value"]["statuses"][0] for n in statuses
        ]
        changes.append(value)
    payload = {
        "entry": [
            {"id": str(n), "changes": [{"field": "messages", "value": v}]}
            for n, v in enumerate(changes)
        ]
    }
    delivery = parse_webhook(payload)
    assert [m.type for m in delivery.messages] == ["text", "image", "sticker", "button", "reaction"]
    assert [m.profile_name for m in delivery.messages] == [
        "Sheena Nelson",
        "TestUser",
        "TestUser",
        "TestUser",
        "Test Name",
    ]
    assert [s.status for s in delivery.statuses] == ["sent", "read", "failed"]


@pytest.mark.parametrize(
    ("kind", "content", "text", "reply"),
    [
        ("image", {"id": "1", "mime_type": "image/jpeg"}, None, "non_text"),
        ("audio", {"id": "1", "voice": True}, None, "non_text"),
        ("location", {"latitude": 1.5, "longitude": 2.5}, None, "non_text"),
        (
            "location",
            {"latitude": 1.5, "longitude": 2.5, "name": "Depot"},
            "Depot (location 1.5, 2.5)",
            "model",
        ),
        (
            "interactive",
            {"type": "nfm_reply", "nfm_reply": {"response_json": "{}"}},
            None,
            "non_text",
        ),
        ("hologram", {"beam": 1}, None, "non_text"),
        ("unknown", None, None, "non_text"),
        ("text", {"body": "   "}, None, "non_text"),
        ("text", "not an object", None, "non_text"),
        ("request_welcome", None, None, "none"),
    ],
)
def test_message_type_decides_text_and_reply(kind, content, text, reply):
    sent = {"from": "16505551234", "id": "wamid.X", "timestamp": "1750025136", "type": kind}
    if content is not None:
        sent[kind] = content
    (inbound,) = parse_webhook(webhook({"messages": [sent]})).messages
    assert (inbound.type, inbound.text, inbound.reply) == (kind, text, reply)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        "entry",
        {},
        {"entry": "x"},
        {"entry": [None, 1, "x", {"changes": "x"}, {"changes": [None, {"field": "messages"}]}]},
        webhook("not an object"),
        webhook({"messages": "x", "statuses": 3, "contacts": "x", "metadata": []}),
        webhook({"messages": [{"from": "16505551234", "type": "text"}]}),  # no id
        webhook({"messages": [{"id": "wamid.X", "type": "text"}]}),  # nobody to answer
        webhook({"statuses": [{"status": "read"}, None]}),  # no id
        webhook({"event": "VERIFIED"}, field="account_update"),
    ],
)
def test_malformed_payload_never_raises(payload):
    delivery = parse_webhook(payload)
    assert delivery.messages == [] and delivery.statuses == []


def test_malformed_pieces_are_skipped_and_the_rest_is_read():
    value = copy.deepcopy(load("text.json")["entry"][0]["changes"][0]["value"])
    good = value["messages"][0]
    value["messages"] = [
        {"type": "text", "text": {"body": "no id"}},
        "x",
        good,
        {"id": "wamid.N", "type": "text", "timestamp": "soon", "from": "1"},
    ]
    value["statuses"] = [{"status": "read"}, {"id": "wamid.S", "errors": "x"}]
    delivery = parse_webhook(webhook(value))
    assert [m.wa_message_id for m in delivery.messages] == [good["id"], "wamid.N"]
    assert abs((delivery.messages[1].timestamp - datetime.now(UTC)).total_seconds()) < 60
    assert [(s.wa_message_id, s.status, s.error_code) for s in delivery.statuses] == [
        ("wamid.S", "unknown", None)
    ]


# --- sending ---


def test_send_text_posts_the_documented_request(fake_graph, graph):
    result = graph.send_text("16505551234", "Blue and green, yes!", reply_to="wamid.IN1")
    sent = fake_graph.requests[-1]
    assert (sent.method, sent.path) == ("POST", f"{API_PREFIX}/{PHONE_NUMBER_ID}/messages")
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "Blue and green, yes!"},
        "context": {"message_id": "wamid.IN1"},
    }
    assert result.message_id == "wamid.FAKE1"
    assert result.wa_id == "16505551234"
    assert result.latency_ms >= 0


def test_default_graph_version_is_one_meta_still_serves():
    assert WhatsAppClient(TOKEN, PHONE_NUMBER_ID).base_url == "https://graph.facebook.com/v25.0"


def test_send_without_reply_to_has_no_context(fake_graph, graph):
    graph.send_text("16505551234", "Hello")
    assert "context" not in fake_graph.requests[-1].json()


def test_each_send_gets_its_own_message_id_and_is_recorded(fake_graph, graph):
    ids = [graph.send_text("16505551234", f"part {n}").message_id for n in range(3)]
    assert len(set(ids)) == 3
    assert fake_graph.sent_texts() == [("16505551234", f"part {n}", None) for n in range(3)]


def test_recorded_send_ok_body_is_read(fake_graph, graph):
    fake_graph.replay("send_ok.json")
    result = graph.send_text("+16505551234", "Hi")
    assert result.message_id == "wamid.HBgLMTY0NjcwNDM1OTUVAgARGBI1RjQyNUE3NEYxMzAzMzQ5MkEA"


@pytest.mark.parametrize(
    ("typing", "extra"), [(False, {}), (True, {"typing_indicator": {"type": "text"}})]
)
def test_mark_read_posts_the_documented_request(fake_graph, graph, typing, extra):
    fake_graph.replay("send_ok_mark_as_read.json")
    assert graph.mark_read("wamid.IN1", typing=typing) is None
    assert fake_graph.requests[-1].json() == {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": "wamid.IN1",
        **extra,
    }
    assert fake_graph.sent_texts() == []


def test_text_over_4096_characters_is_refused_before_sending(fake_graph, graph):
    with pytest.raises(ValueError, match="4096"):
        graph.send_text("16505551234", "x" * (TEXT_LIMIT + 1))
    assert fake_graph.requests == []


def test_text_of_exactly_4096_characters_is_sent(fake_graph, graph):
    graph.send_text("16505551234", "x" * TEXT_LIMIT)
    assert fake_graph.sent_texts()[0][1] == "x" * TEXT_LIMIT


@pytest.mark.parametrize(("fixture", "outcome"), SEND_ERRORS.items(), ids=list(SEND_ERRORS))
def test_recorded_graph_error_gets_its_kind(fake_graph, graph, fixture, outcome):
    status, kind, code = outcome
    fake_graph.replay(fixture, status=status)
    err = failure(lambda: graph.send_text("16505551234", "Hi"))
    assert (err.kind, err.http_status, err.code) == (kind, status, code)
    assert err.message.strip() and "Traceback" not in str(err)
    assert err.raw_body == (WHATSAPP_FIXTURES / fixture).read_text("utf-8")
    assert fake_graph.sent_texts() == []


def test_error_message_shows_metas_words_and_code(fake_graph, graph):
    fake_graph.replay("send_error_131030_recipient_not_in_allowed_list.json", status=400)
    err = failure(lambda: graph.send_text("16505551234", "Hi"))
    assert "(#131030) Recipient phone number not in allowed list" in err.message
    assert "Add recipient phone number to recipient list" in err.message
    assert str(err).startswith("whatsapp_rejected (HTTP 400, code 131030): Recipient phone")


def test_subcode_is_kept(fake_graph, graph):
    fake_graph.replay("send_error_100_subcode33_unknown_phone_number_id.json", status=400)
    assert failure(lambda: graph.send_text("16505551234", "Hi")).subcode == 33


def test_outside_the_24_hour_window_reads_as_one_line(fake_graph, graph):
    fake_graph.queue(*WINDOW)
    err = failure(lambda: graph.send_text("16505551234", "Hi"))
    assert err.kind == ErrorKind.WHATSAPP_WINDOW
    assert not err.trouble.transient
    assert str(err).startswith("whatsapp_window (HTTP 400, code 131047): Re-engagement message")


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retry_after"),
    [
        (*graph_error(130429, "(#130429) Rate limit hit", 429), {}, "whatsapp_rate_limited", None),
        (*graph_error(131056, "(#131056) Pair rate limit hit"), {}, "whatsapp_rate_limited", None),
        (
            *graph_error(4, "(#4) Application request limit reached"),
            {"Retry-After": "7"},
            "whatsapp_rate_limited",
            7,
        ),
        (*graph_error(80007, "Rate limit issues"), {}, "whatsapp_rate_limited", None),
        (*graph_error(131048, "Spam rate limit hit"), {}, "whatsapp_rate_limited", None),
        (429, "", {"Retry-After": "30"}, "whatsapp_rate_limited", 30),
        (*graph_error(190, "Invalid OAuth access token"), {}, "whatsapp_auth", None),
        (401, "", {}, "whatsapp_auth", None),
        (*graph_error(200, "(#200) Permissions error", 403), {}, "whatsapp_auth", None),
        (*graph_error(1, "An unknown error occurred", 500), {}, "whatsapp_unavailable", None),
        (*graph_error(2, "Service temporarily unavailable", 400), {}, "whatsapp_unavailable", None),
        (*graph_error(131000, "Something went wrong", 500), {}, "whatsapp_unavailable", None),
        (503, '{"error": {"message": "Service Unavailable"}}', {}, "whatsapp_unavailable", None),
        (502, HTML_502, {"Content-Type": "text/html"}, "whatsapp_unavailable", None),
        (
            404,
            "<!DOCTYPE html><html><title>Not Found</title></html>",
            {},
            "whatsapp_rejected",
            None,
        ),
        (*graph_error(131026, "Message undeliverable"), {}, "whatsapp_rejected", None),
        (*graph_error(131047, "Re-engagement message", 200), {}, "whatsapp_window", None),
        (200, '{"messaging_product": "whatsapp"}', {}, "whatsapp_rejected", None),
        (
            200,
            "<html><body>Please log in to the Wi-Fi</body></html>",
            {},
            "whatsapp_rejected",
            None,
        ),
        (302, "", {"Location": "https://elsewhere.example/"}, "whatsapp_rejected", None),
    ],
)
def test_classify_graph_error_without_a_server(status, body, headers, kind, retry_after):
    err = classify_graph_error(status, body, headers)
    assert (err.kind, err.http_status, err.retry_after) == (kind, status, retry_after)
    assert err.message.strip()


def test_refused_connection_is_unavailable_and_retried(refused_url):
    graph = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, refused_url + API_PREFIX, timeout=2)
    err = failure(lambda: graph.send_text("16505551234", "Hi"))
    assert err.kind == ErrorKind.WHATSAPP_UNAVAILABLE
    assert err.trouble.transient  # nothing reached Meta, so sending again is safe
    assert err.http_status is None
    assert "connection refused" in err.message


def test_connect_timeout_is_unavailable(unaccepted_url):
    graph = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, unaccepted_url + API_PREFIX, timeout=0.5)
    err = failure(lambda: graph.send_text("16505551234", "Hi"))
    assert err.kind == ErrorKind.WHATSAPP_UNAVAILABLE
    assert "Could not connect" in err.message and "0.5 seconds" in err.message


def test_unresolvable_host_is_unavailable():
    # .invalid never resolves, and the lookup never leaves this machine.
    graph = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, "https://graph.example.invalid/v25.0")
    err = failure(lambda: graph.send_text("16505551234", "Hi"))
    assert err.kind == ErrorKind.WHATSAPP_UNAVAILABLE
    assert "graph.example.invalid" in err.message and "DNS" in err.message


def test_failed_tls_handshake_is_unavailable(fake_graph):
    # https to a server that speaks plain HTTP: the handshake fails before anything is sent.
    graph = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, fake_graph.base_url.replace("http:", "https:"))
    err = failure(lambda: graph.send_text("16505551234", "Hi"))
    assert err.kind == ErrorKind.WHATSAPP_UNAVAILABLE
    assert "TLS" in err.message
    assert fake_graph.requests == []


@pytest.mark.parametrize(
    "answer", [{"delay": 30}, {"trickle": 30}], ids=["no answer", "answer stalls mid-body"]
)
def test_hanging_server_is_an_unknown_outcome_within_the_timeout(fake_graph, answer):
    fake_graph.replay("send_ok.json", **answer)
    graph = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, fake_graph.base_url, timeout=0.5)
    started = time.monotonic()
    err = failure(lambda: graph.send_text("16505551234", "Hi"))
    assert err.kind == ErrorKind.WHATSAPP_UNKNOWN
    assert not err.trouble.transient  # Meta may have sent it: a retry could send it twice
    assert "0.5 seconds" in err.message
    assert time.monotonic() - started < 2


def test_a_shorter_timeout_for_one_send_is_honoured(fake_graph, graph):
    fake_graph.queue(delay=30)
    started = time.monotonic()
    err = failure(lambda: graph.send_text("16505551234", "Hi", timeout=0.3))
    assert err.kind == ErrorKind.WHATSAPP_UNKNOWN
    assert "0.3 seconds" in err.message
    assert time.monotonic() - started < 1.5
    assert graph.timeout == 5  # the client's own stays for the next send


def test_a_longer_timeout_for_one_send_is_honoured(fake_graph):
    fake_graph.replay("send_ok.json", delay=0.6)
    graph = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, fake_graph.base_url, timeout=0.3)
    assert graph.send_text("16505551234", "Hi", timeout=5).message_id.startswith("wamid.")


def test_connection_closed_without_an_answer_is_an_unknown_outcome(fake_graph, graph):
    fake_graph.queue(hang_up=True)
    err = failure(lambda: graph.send_text("16505551234", "Hi"))
    assert err.kind == ErrorKind.WHATSAPP_UNKNOWN
    assert err.http_status is None
    assert "dropped" in err.message
    assert [r.json()["text"]["body"] for r in fake_graph.requests] == ["Hi"]


def test_base_url_that_is_not_an_address_is_unavailable():
    err = failure(
        lambda: WhatsAppClient(TOKEN, PHONE_NUMBER_ID, "graph.facebook.com").mark_read("w")
    )
    assert err.kind == ErrorKind.WHATSAPP_UNAVAILABLE
    assert "base URL" in err.message


@pytest.mark.parametrize(
    "setup",
    [
        "server echoes the token",
        "connection refused",
        "unresolvable host",
        "server never answers",
        "server hangs up",
        "token with a line break",
    ],
)
def test_access_token_never_appears_in_an_error(fake_graph, refused_url, setup):
    token, base_url = TOKEN, fake_graph.base_url
    if setup == "server echoes the token":
        fake_graph.queue(*graph_error(190, f"Invalid OAuth access token - {TOKEN}", 401))
    elif setup == "connection refused":
        base_url = refused_url + API_PREFIX
    elif setup == "unresolvable host":
        base_url = "https://graph.example.invalid/v25.0"
    elif setup == "server never answers":
        fake_graph.queue(delay=30)
    elif setup == "server hangs up":
        fake_graph.queue(hang_up=True)
    else:
        token = TOKEN[:20] + "\n" + TOKEN[20:]
    client = WhatsAppClient(token, PHONE_NUMBER_ID, base_url, timeout=0.5)
    err = failure(lambda: client.send_text("16505551234", "Hi"))
    for text in (str(err), repr(err), err.message, err.raw_body, str(err.args), repr(client)):
        assert TOKEN[-16:] not in text  # not even the secret tail


def test_error_survives_pickling_for_the_task_queue():
    status, body = graph_error(130429, "(#130429) Rate limit hit", 429)
    err = classify_graph_error(status, body, {"Retry-After": "12"})
    copied = pickle.loads(pickle.dumps(err))  # noqa: S301
    assert (copied.kind, copied.http_status, copied.code, copied.retry_after) == (
        ErrorKind.WHATSAPP_RATE_LIMITED,
        429,
        130429,
        12,
    )
    assert str(copied) == str(err)


# --- splitting ---


def words_of(parts):
    return " ".join(parts).split()


def test_short_text_is_one_part_unchanged():
    assert split_message("Hello there.") == ["Hello there."]
    assert split_message("x" * TEXT_LIMIT) == ["x" * TEXT_LIMIT]


def test_blank_text_has_no_parts():
    assert split_message(" \n ") == []


def test_long_text_splits_at_paragraph_breaks():
    paragraphs = [f"Paragraph {n}. " + "word " * 160 + "end." for n in range(13)]
    text = "\n\n".join(paragraphs)
    assert len(text) > 10_000
    parts = split_message(text)
    assert len(parts) > 1
    assert all(0 < len(part) <= TEXT_LIMIT for part in parts)
    assert all(part.startswith("Paragraph") and part.endswith("end.") for part in parts)
    assert words_of(parts) == text.split()


def test_text_without_paragraphs_splits_at_sentence_ends():
    text = " ".join(f"Sentence number {n} is here, and it goes on a little." for n in range(200))
    parts = split_message(text, limit=1000)
    assert len(parts) > 1
    assert all(len(part) <= 1000 and part.endswith(".") for part in parts)
    assert words_of(parts) == text.split()


def test_text_without_sentences_splits_at_spaces():
    text = " ".join(f"word{n}" for n in range(2000))
    parts = split_message(text, limit=500)
    assert all(len(part) <= 500 for part in parts)
    assert words_of(parts) == text.split()


def test_text_without_spaces_is_cut_hard():
    text = "x" * 9000
    parts = split_message(text)
    assert [len(part) for part in parts] == [4096, 4096, 808]
    assert "".join(parts) == text


def test_an_early_paragraph_break_does_not_waste_a_message():
    text = "Hi!\n\n" + "This is a sentence. " * 300
    parts = split_message(text, limit=1000)
    assert len(parts[0]) > 900
    assert words_of(parts) == text.split()


def test_a_code_of_unicode_digits_never_breaks_parsing_or_classifying():
    from webapp.clients.openrouter_errors import classify_error

    status = {"id": "wamid.X", "status": "failed", "errors": [{"code": "²", "title": "odd"}]}
    payload = {"entry": [{"changes": [{"field": "messages", "value": {"statuses": [status]}}]}]}
    assert parse_webhook(payload).statuses[0].error_code is None
    assert classify_graph_error(400, '{"error": {"code": "²", "message": "odd"}}').code is None
    assert classify_error(200, '{"error": {"code": "²", "message": "odd"}}').kind == "bad_response"


def test_a_template_is_sent_with_its_language_and_variables(fake_graph):
    client = WhatsAppClient("token", "106540352242922", fake_graph.base_url)
    body = [{"type": "body", "parameters": [{"type": "text", "text": "Ann"}]}]
    result = client.send_template("+31 6 1234 5678".replace(" ", ""), "order_ready", "en", body)
    assert result.message_id.startswith("wamid.")
    [(to, name, components)] = fake_graph.sent_templates()
    [(request, _)] = fake_graph.answered
    assert request.json()["template"]["language"] == {"code": "en"}
    assert (to, name, components) == ("+31612345678", "order_ready", body)

"""Signed webhook bodies of any shape: a clear 400 or a whole delivery stored, never a 500."""

import json
import uuid
from datetime import UTC, datetime

import pytest
import requests
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from tests.conftest import APP_SECRET, PHONE_NUMBER_ID, post_webhook
from tests.support.payloads import delivery, status, text_message
from webapp import settings as owner_settings
from webapp.clients.whatsapp_webhook import sign
from webapp.extensions import db
from webapp.models import Contact, Message, PendingStatus, RequestLog

YEAR_9999 = 253402300799
EARLIEST = datetime(2009, 1, 1, tzinfo=UTC)  # before WhatsApp, a time is a wrong clock
TABLES = (Message, Contact, PendingStatus, RequestLog)


@pytest.fixture
def signed(app):
    """An app that checks signatures with APP_SECRET, and nothing else configured."""
    with app.app_context():
        values = {"whatsapp_app_secret": APP_SECRET, "whatsapp_phone_number_id": PHONE_NUMBER_ID}
        owner_settings.save(values, author="test")
    return app


def nested(depth: int) -> bytes:
    return b'{"entry": ' + b"[" * depth + b"]" * depth + b"}"


def counts(app) -> tuple[int, ...]:
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(t)) for t in TABLES)


def stored(app, wa_message_id: str) -> Message | None:
    with app.app_context():
        return db.session.scalar(select(Message).where(Message.wa_message_id == wa_message_id))


def post_live(url: str, body: dict | bytes) -> requests.Response:
    raw = json.dumps(body).encode() if isinstance(body, dict) else body
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, raw)}
    return requests.post(f"{url}/webhook/whatsapp", data=raw, headers=headers, timeout=10)


# The three payloads that answered 500 from the real server


def test_a_deeply_nested_body_is_a_400_from_the_server_and_nothing_stored(signed, live_server):
    before = counts(signed)
    response = post_live(live_server, nested(100_000))
    assert response.status_code == 400
    assert response.json() == {"error": "the body is nested too deeply"}
    assert counts(signed) == before


def test_a_body_nested_deeper_than_any_delivery_is_a_400(signed, client):
    response = post_webhook(client, nested(70))
    assert response.status_code == 400
    assert counts(signed) == (0, 0, 0, 0)


def test_a_list_where_the_contacts_id_belongs_is_stored_from_the_server(signed, live_server):
    body = delivery(text_message("16505551234", "Hello", "wamid.LIST"))
    body["entry"][0]["changes"][0]["value"]["contacts"][0]["wa_id"] = ["a"]
    assert post_live(live_server, body).status_code == 200
    assert stored(signed, "wamid.LIST").text == "Hello"


def test_a_message_dated_year_9999_is_stored_as_arriving_now_and_its_page_opens(
    signed, live_server, admin
):
    message = text_message("16505551234", "From the future", "wamid.FUTURE")
    message["timestamp"] = str(YEAR_9999)
    assert post_live(live_server, delivery(message)).status_code == 200
    with signed.app_context():
        contact = db.session.scalar(select(Contact))
        assert contact.last_inbound_at <= datetime.now(UTC)
    page = admin.get(f"/admin/conversations/{contact.id}")
    assert page.status_code == 200 and "From the future" in page.get_data(as_text=True)


def test_a_message_dated_before_whatsapp_existed_is_stored_as_arriving_now(signed, client):
    message = text_message("16505551234", "Old clock", "wamid.PAST")
    message["timestamp"] = "-62135596800"  # the year 1
    assert post_webhook(client, delivery(message)).status_code == 200
    with signed.app_context():
        assert db.session.scalar(select(Contact.last_inbound_at)) >= EARLIEST


def test_text_with_a_nul_or_a_lone_surrogate_is_stored_without_them(signed, client):
    raw = json.dumps(delivery(text_message("16505551234", "a\0b\ud800c", "wamid.ODD"))).encode()
    assert post_webhook(client, raw).status_code == 200
    assert stored(signed, "wamid.ODD").text == "ab?c"


def test_a_message_id_longer_than_any_whatsapp_id_is_skipped_and_the_rest_stored(signed, client):
    body = delivery(
        text_message("16505551234", "kept", "wamid.KEPT"),
        text_message("16505551234", "skipped", "wamid." + "x" * 300),
    )
    assert post_webhook(client, body).status_code == 200
    assert stored(signed, "wamid.KEPT") is not None
    assert counts(signed)[0] == 1


def test_a_status_error_code_beyond_any_integer_column_is_kept_without_a_code(signed, client):
    failed = status("wamid.SENT", "failed", "16505551234", {"code": 10**30, "title": "Odd"})
    assert post_webhook(client, delivery(statuses=[failed])).status_code == 200
    with signed.app_context():
        kept = db.session.scalar(select(PendingStatus))
        assert (kept.status, kept.error_code, kept.error_detail) == ("failed", None, "Odd")


# Fuzz: any field of a delivery of any JSON type, any headers, any bytes; all signed

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.sampled_from([YEAR_9999, -(2**63), 2**63, "253402300799", "", " ", "\0", "\ud800"])
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def field(normal) -> st.SearchStrategy:
    """A field as Meta sends it, most of the time; otherwise any JSON value at all."""
    return st.one_of(st.just(normal), st.just(normal), ANY_JSON)


@st.composite
def messages(draw) -> tuple[dict, bool]:
    """A message with fuzzed fields; True when its id and sender are as WhatsApp sends them."""
    wa_id, sender = f"wamid.{uuid.uuid4().hex}", "16505551234"
    message = {
        "from": draw(field(sender)),
        "id": draw(field(wa_id)),
        "timestamp": draw(field("1749416383")),
        "type": draw(field("text") | st.sampled_from(["interactive", "location", "button"])),
        "text": draw(field({"body": "Hello"})),
        "interactive": draw(field({"type": "list_reply", "list_reply": {"title": "A"}})),
        "location": draw(field({"latitude": 1.5, "longitude": 10**400})),
        "context": draw(field({"id": "wamid.CTX"})),
    }
    return message, message["id"] == wa_id and message["from"] == sender


@st.composite
def deliveries(draw) -> tuple[bytes, list[str]]:
    """A signed body and the ids of the messages in it that must be stored when it says 200."""
    drawn = draw(st.lists(messages(), max_size=3))
    body = delivery()
    value = body["entry"][0]["changes"][0]["value"]
    value["messages"] = [message for message, _ in drawn]
    contact = {"wa_id": draw(field("16505551234")), "profile": {"name": draw(field("Ana"))}}
    value["contacts"] = draw(field([contact]))
    metadata = {"phone_number_id": PHONE_NUMBER_ID}
    value["metadata"] = draw(field(metadata))
    update = {"id": draw(field("wamid.S")), "status": draw(field("read")),
              "timestamp": draw(field("1749416383")),
              "errors": draw(field([{"code": draw(field(131047))}]))}  # fmt: skip
    value["statuses"] = draw(field([update]))
    value["errors"] = draw(field([{"code": draw(field(190)), "title": draw(field("Expired"))}]))
    entry = body["entry"]
    body["entry"] = draw(field(entry))
    routed = value["metadata"] is metadata and body["entry"] is entry
    must_store = [message["id"] for message, whole in drawn if whole and routed]
    raw = json.dumps(body).encode()
    return draw(st.just(raw) | st.binary(max_size=64) | st.just(raw[: len(raw) // 2])), must_store


HEADER_TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=deliveries(), content_type=HEADER_TEXT, extra=HEADER_TEXT)
def test_no_signed_body_or_header_gets_a_500_or_is_half_stored(
    signed, client, case, content_type, extra
):
    raw, must_store = case
    before = counts(signed)
    headers = {
        "Content-Type": content_type,
        "X-Hub-Signature-256": sign(APP_SECRET, raw),
        "X-Anything": extra,
    }
    response = client.post("/webhook/whatsapp", data=raw, headers=headers)
    assert response.status_code in (200, 400), response.get_data(as_text=True)
    event(f"HTTP {response.status_code}, {len(must_store)} messages that must be stored")
    if response.status_code == 400:
        assert counts(signed) == before
        return
    for wa_message_id in must_store:
        assert stored(signed, wa_message_id) is not None
    with signed.app_context():
        times = db.session.scalars(select(Contact.last_inbound_at)).all()
    assert all(EARLIEST <= when <= datetime.now(UTC) for when in times if when)

"""Where the WhatsApp access token goes when a customer's file is fetched: to the Graph API's
own address and Meta's media servers, never to another host a media answer names."""

import hashlib
import json

import pytest
from sqlalchemy import select

from tests.conftest import as_recorded, post_webhook, wait_for
from tests.support import names
from tests.support.fake_graph import API_PREFIX, fixture_bytes
from tests.support.fakes import FakeServer
from tests.support.payloads import fixture
from tests.support.tls import server_context
from webapp import media_store
from webapp.clients.whatsapp import WhatsAppClient
from webapp.clients.whatsapp_errors import WhatsAppError
from webapp.extensions import db
from webapp.models import RequestLog
from webapp.troubleshooting import ErrorKind

TOKEN = "EAAG-test-access-token"  # the `whatsapp` fixture's
MEDIA_ID = "2621233374848975"  # the id in media_url.json
PHOTO = b"\xff\xd8\xff\xe0 a photo of a broken hinge " * 50


@pytest.fixture
def https_server(tmp_path, monkeypatch):
    """A loopback server speaking https, its certificate (for localhost and Meta's media host)
    signed by an authority the clients are told to trust."""
    context, authority = server_context(tmp_path, ["localhost", "lookaside.fbsbx.com"])
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority))
    server = FakeServer()
    server.tls = context
    with server:
        yield server


def graph_names_the_file_at(fake_graph, url: str, media_id: str = MEDIA_ID) -> None:
    """Graph's media answer (the recorded one) for the photo, naming `url` as its address."""
    info = json.loads(fixture_bytes("media_url.json"))
    info.update(url=url, sha256=hashlib.sha256(PHOTO).hexdigest(), file_size=str(len(PHOTO)))
    fake_graph.queue(200, json.dumps(info), path=f"{API_PREFIX}/{media_id}")


def test_a_media_address_on_another_host_never_receives_the_token(
    fake_graph, https_server, tmp_path
):
    https_server.queue(200, PHOTO, {"Content-Type": "image/jpeg"})
    graph_names_the_file_at(fake_graph, https_server.url.replace("127.0.0.1", "localhost") + "/f")
    client = WhatsAppClient(TOKEN, "106540352242922", fake_graph.base_url)
    with pytest.raises(WhatsAppError) as caught:
        media_store.fetch(client, "image", {"id": MEDIA_ID}, tmp_path)
    assert caught.value.kind == ErrorKind.WHATSAPP_REJECTED
    assert "access token was not sent" in caught.value.message
    assert https_server.requests == []


def test_a_media_address_on_metas_media_host_receives_the_token(
    monkeypatch, fake_graph, https_server, tmp_path
):
    # The recorded answer's own address, with the loopback server standing in for Meta's.
    names.point(monkeypatch, {"lookaside.fbsbx.com": "127.0.0.1"})
    https_server.queue(200, PHOTO, {"Content-Type": "image/jpeg"})
    recorded = json.loads(fixture_bytes("media_url.json"))["url"]
    port = https_server.url.rsplit(":", 1)[1]
    graph_names_the_file_at(fake_graph, recorded.replace(".com/", f".com:{port}/"))
    client = WhatsAppClient(TOKEN, "106540352242922", fake_graph.base_url)
    kept = media_store.fetch(client, "image", {"id": MEDIA_ID}, tmp_path)
    assert (tmp_path / kept.name).read_bytes() == PHOTO
    [request] = https_server.requests
    assert request.path == "/whatsapp_business/attachments/"
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_a_customers_photo_named_on_another_host_is_logged_and_the_token_kept(
    client, whatsapp, worker, fake_openrouter, fake_graph, https_server
):
    as_recorded(whatsapp, "image.json")
    fake_openrouter.echo()
    https_server.queue(200, PHOTO, {"Content-Type": "image/jpeg"})
    delivery = json.loads(fixture("image.json"))
    [message] = delivery["entry"][0]["changes"][0]["value"]["messages"]
    elsewhere = https_server.url.replace("127.0.0.1", "localhost") + "/f"
    graph_names_the_file_at(fake_graph, elsewhere, message["image"]["id"])
    post_webhook(client, delivery)
    wait_for(lambda: fake_graph.sent_texts())
    assert https_server.requests == []
    with whatsapp.app_context():
        [row] = db.session.scalars(select(RequestLog).filter_by(operation="media")).all()
    assert (row.status, row.error_kind) == ("error", "whatsapp_rejected")
    assert "(https://localhost:" in row.error_message
    assert "the access token was not sent there" in row.error_message

"""Where Switchboard connects: every address the owner types or an answer names is read by the
parser that connects, and a name is checked on the address it resolves to as the connection
opens; loopback and private addresses only when the owner allows them."""

import pytest

from tests.support import names
from tests.support.install import KEY, form, stored
from webapp import create_app, destinations, settings
from webapp.clients.openrouter import OpenRouterClient
from webapp.clients.openrouter_errors import OpenRouterError
from webapp.clients.whatsapp import WhatsAppClient
from webapp.clients.whatsapp_errors import WhatsAppError
from webapp.extensions import db
from webapp.models import Setting
from webapp.snapshot import Snapshot
from webapp.troubleshooting import ErrorKind

TOKEN = "EAAG-address-test-token"
METADATA = "link-local or metadata address"
PRIVATE_HINT = "ALLOW_PRIVATE_ADDRESSES=on"


@pytest.fixture
def private_off(monkeypatch):
    """Switchboard as it runs by default: loopback and private addresses not allowed."""
    monkeypatch.setenv("ALLOW_PRIVATE_ADDRESSES", "off")


def refused_everywhere(admin, runner, app, name: str, url: str, words: str) -> None:
    page = admin.post("/admin/settings", form(**{name: url})).get_data(as_text=True)
    assert "Nothing was saved" in page and words in page
    result = runner.invoke(args=["settings", "set", name, url])
    assert result.exit_code != 0 and words in result.output
    assert stored(app, name) == settings.SPECS[name].default


@pytest.mark.parametrize(
    "url",
    [
        "http://2852039166/latest/meta-data",
        "http://0xa9fea9fe/latest/meta-data",
        "http://0251.0376.0251.0376/latest/meta-data",
        "http://169.254.43518/latest/meta-data",
        "http://[::ffff:169.254.169.254]/latest/meta-data",
        "http://169.254.169.254.nip.io/latest/meta-data",
    ],
)
@pytest.mark.parametrize("name", ["openrouter_base_url", "whatsapp_api_base_url", "public_url"])
def test_the_metadata_service_in_any_spelling_is_refused_on_the_page_and_the_cli(
    admin, runner, app, name, url
):
    refused_everywhere(admin, runner, app, name, url, METADATA)


@pytest.mark.parametrize("name", ["openrouter_base_url", "whatsapp_api_base_url", "public_url"])
def test_a_backslash_in_an_address_is_refused_on_the_page_and_the_cli(admin, runner, app, name):
    # One parser reads the host as "169.254.169.254\x", the one that connects as 169.254.169.254.
    refused_everywhere(admin, runner, app, name, "http://169.254.169.254\\x/", "backslashes")


def test_a_line_break_in_the_public_address_is_refused_on_the_page_and_the_cli(admin, runner, app):
    url = "https://shop.example/\r\nX-Injected: yes"
    refused_everywhere(admin, runner, app, "public_url", url, "line breaks")


def test_a_public_address_saved_with_a_line_break_does_not_stop_the_answers(app, fake_openrouter):
    fake_openrouter.echo()
    configured = {"openrouter_api_key": KEY, "openrouter_base_url": fake_openrouter.base_url}
    with app.app_context():
        settings.save(configured, author="test")
        # As an earlier version, which did not look inside the address, saved it.
        db.session.add(Setting(name="public_url", value="https://shop.example\r\nX-Injected: 1"))
        db.session.commit()
        openrouter = Snapshot.load(app.config).openrouter()
    answer = openrouter.chat([{"role": "user", "content": "Hi"}], "openai/gpt-4o-mini")
    assert answer.content == "echo: Hi"
    [request] = fake_openrouter.requests
    assert "HTTP-Referer" not in request.headers and "X-Injected" not in request.headers


def test_only_the_host_that_is_connected_to_counts_as_openrouter():
    assert not destinations.is_openrouter("https://evil.example\\x.openrouter.ai/api/v1")
    assert not destinations.is_openrouter("https://evil.example\\@openrouter.ai/api/v1")
    assert destinations.is_openrouter("https://OpenRouter.AI./api/v1")


def test_by_default_a_local_address_is_refused_when_saved_and_when_called(
    private_off, admin, runner, app, fake_openrouter
):
    local = fake_openrouter.base_url.replace("127.0.0.1", "localhost")
    refused_everywhere(admin, runner, app, "openrouter_base_url", local, PRIVATE_HINT)
    # Nor does a call go there when the address comes from elsewhere (the environment).
    with pytest.raises(OpenRouterError) as caught:
        OpenRouterClient(KEY, local, timeout=5).list_models()
    assert caught.value.kind == ErrorKind.NETWORK and PRIVATE_HINT in caught.value.message
    assert fake_openrouter.requests == []


def test_a_mistyped_allow_private_addresses_stops_the_start_with_what_it_takes(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("ALLOW_PRIVATE_ADDRESSES", "yes please")
    with pytest.raises(SystemExit) as refused:
        create_app({"INSTANCE_PATH": tmp_path})
    assert str(refused.value) == "ALLOW_PRIVATE_ADDRESSES must be on or off, not 'yes please'."


def test_with_private_addresses_allowed_a_local_address_is_saved(admin, app):
    # The test run allows them (tests/conftest.py), as an owner with a local model server would.
    assert admin.post("/admin/settings", form(public_url="http://10.0.0.7:5000")).status_code == 302
    assert stored(app, "public_url") == "http://10.0.0.7:5000"


def test_a_name_is_checked_on_the_address_it_resolves_to_as_the_connection_opens(
    private_off, monkeypatch, fake_openrouter
):
    # A name that looks public, answered by DNS with a loopback address.
    port = fake_openrouter.base_url.split(":")[2].split("/")[0]
    names.point(monkeypatch, {"models.example.test": "127.0.0.1"})
    client = OpenRouterClient(KEY, f"http://models.example.test:{port}/api/v1", timeout=5)
    with pytest.raises(OpenRouterError) as caught:
        client.list_models()
    assert "resolves to 127.0.0.1, a local or private address" in caught.value.message
    assert caught.value.kind == ErrorKind.NETWORK and fake_openrouter.requests == []
    monkeypatch.setenv("ALLOW_PRIVATE_ADDRESSES", "on")
    fake_openrouter.queue(200, {"data": []}, path="/api/v1/models")
    assert OpenRouterClient(KEY, client.base_url, timeout=5).list_models() == []
    assert fake_openrouter.requests[0].headers["Host"] == f"models.example.test:{port}"


@pytest.mark.parametrize("address", ["169.254.169.254", "::ffff:169.254.169.254"])
def test_a_name_resolving_to_the_metadata_service_is_refused_even_with_private_allowed(
    monkeypatch, address
):
    names.point(monkeypatch, {"graph.example.test": address})
    client = WhatsAppClient(TOKEN, "106540352242922", "http://graph.example.test/v25.0", 2)
    with pytest.raises(WhatsAppError) as caught:
        client.send_text("16505551234", "Hi")
    assert f"resolves to {address}, a {METADATA}" in caught.value.message
    assert caught.value.kind == ErrorKind.WHATSAPP_UNAVAILABLE  # never sent: safe to say so

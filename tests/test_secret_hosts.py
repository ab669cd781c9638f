"""Secrets bound to their host: a stored key follows its API address to another host only
when the admin confirms with their password and types the key again."""

import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.support.install import KEY, form, stored
from webapp import destinations, settings

TOKEN = "EAAGm0PX4ZCpsBAKZAf3ZBtokenTOKENtoken1234"
ELSEWHERE = "https://collector.example.net/api/v1"


@pytest.fixture
def keyed(app, admin):
    """A saved OpenRouter key and WhatsApp token, on their usual hosts."""
    with app.app_context():
        settings.save({"openrouter_api_key": KEY, "whatsapp_access_token": TOKEN}, author="test")
    admin.get("/admin/settings")
    return admin


def page_of(response) -> str:
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_moving_the_api_to_another_host_needs_the_password_and_the_key_again(keyed, app):
    page = page_of(keyed.post("/admin/settings", form(openrouter_base_url=ELSEWHERE)))
    assert "Nothing was saved" in page
    assert "Type your password" in page
    assert (
        "Type the OpenRouter API key again: it would now be sent to collector.example.net" in page
    )
    assert stored(app, "openrouter_base_url") == "https://openrouter.ai/api/v1"


def test_a_wrong_password_moves_nothing(keyed, app):
    changes = {"openrouter_base_url": ELSEWHERE, "openrouter_api_key": KEY}
    page = page_of(keyed.post("/admin/settings", form(**changes, current_password="guess")))
    assert "Type your password" in page
    assert stored(app, "openrouter_base_url") == "https://openrouter.ai/api/v1"


def test_the_password_and_the_key_typed_again_move_the_api(keyed, app):
    changes = {"openrouter_base_url": ELSEWHERE, "openrouter_api_key": KEY}
    response = keyed.post("/admin/settings", form(**changes, current_password=ADMIN_PASSWORD))
    assert response.status_code == 302
    assert stored(app, "openrouter_base_url") == ELSEWHERE


def test_the_graph_token_is_bound_to_its_host_too(keyed, app):
    moved = form(whatsapp_api_base_url="https://graph.example.org/v25.0",
                 current_password=ADMIN_PASSWORD)  # fmt: skip
    page = page_of(keyed.post("/admin/settings", moved))
    assert "Type the Access token again: it would now be sent to graph.example.org" in page
    assert stored(app, "whatsapp_api_base_url") == "https://graph.facebook.com/v25.0"


def test_a_new_path_on_the_same_host_needs_no_password(keyed, app):
    response = keyed.post(
        "/admin/settings", form(openrouter_base_url="https://openrouter.ai/api/v2")
    )
    assert response.status_code == 302
    assert stored(app, "openrouter_base_url") == "https://openrouter.ai/api/v2"


def test_without_a_saved_key_an_address_moves_freely_as_on_first_setup(admin, app):
    admin.get("/admin/settings")
    moved = form(openrouter_base_url=ELSEWHERE, openrouter_api_key=KEY)
    assert admin.post("/admin/settings", moved).status_code == 302
    assert stored(app, "openrouter_base_url") == ELSEWHERE


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://169.254.169.254/latest/meta-data", "link-local or metadata address"),
        ("http://[fd00:ec2::254]/v1", "link-local or metadata address"),
        ("http://[fe80::1]/v1", "link-local or metadata address"),
        ("http://metadata.google.internal/v1", "cloud metadata service"),
        ("https://user:secret@openrouter.ai/api/v1", "user name or password"),
    ],
)
def test_addresses_a_key_must_never_go_to_are_refused_on_the_page_and_the_cli(
    keyed, app, runner, url, words
):
    page = page_of(keyed.post("/admin/settings", form(openrouter_base_url=url)))
    assert words in page and "Nothing was saved" in page
    result = runner.invoke(args=["settings", "set", "openrouter_base_url", url])
    assert result.exit_code != 0 and words in result.output
    assert stored(app, "openrouter_base_url") == "https://openrouter.ai/api/v1"


def test_only_openrouters_own_https_api_counts_as_openrouter():
    assert destinations.is_openrouter("https://openrouter.ai/api/v1")
    assert destinations.is_openrouter("https://eu.openrouter.ai/api/v1")
    assert not destinations.is_openrouter("http://openrouter.ai/api/v1")
    assert not destinations.is_openrouter("https://openrouter.ai.example.com/api/v1")
    assert not destinations.is_openrouter("http://127.0.0.1:8080/api/v1")

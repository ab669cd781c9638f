"""The settings page in parts: each saves only its own fields; the key and the token are tested
as typed, saved when they work, and kept in their field when they do not."""

import re

from tests.support.install import KEY, section_form, stored
from tests.support.records import text_of
from webapp import settings, state

GOOD, WRONG = KEY, "sk-or-v1-" + "9" * 56 + "dead"
TOKEN, OTHER_TOKEN = "EAAG-good-token-0001", "EAAG-expired-token-0002"


def saved(app, **values):
    with app.app_context():
        settings.save(values, author="test")


def field_value(page: str, name: str) -> str | None:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    value = match and re.search(r'value="([^"]*)"', match.group(0))
    return value.group(1) if value else None


def test_a_typed_key_is_tested_instead_of_a_wrong_saved_one_and_saved_when_it_works(
    admin, app, fake_openrouter
):
    saved(app, openrouter_api_key=WRONG, openrouter_base_url=fake_openrouter.base_url)
    fake_openrouter.keys = {GOOD}
    admin.get("/admin/settings")
    response = admin.post(
        "/admin/settings",
        section_form(
            "OpenRouter",
            action="test-key",
            openrouter_api_key=GOOD,
            openrouter_base_url=fake_openrouter.base_url,
        ),
    )
    assert response.status_code == 302 and response.location.endswith("#openrouter")
    page = admin.get(response.location).get_data(as_text=True)
    assert "The key works." in page and "OpenRouter settings saved." in page
    assert "Key works" in page and "$74.50" in page  # the credit left, beside the field
    assert "Saved: sk-or-…1a2b. Type a new one to replace it." in page
    assert GOOD not in page
    assert fake_openrouter.requests[-1].headers["Authorization"] == f"Bearer {GOOD}"
    assert stored(app, "openrouter_api_key") == GOOD
    with app.app_context():
        assert state.get("key_test")["ok"]  # the dashboard's checklist sees a tested key


def test_a_wrong_typed_key_is_not_saved_over_a_good_one_and_stays_in_its_field(
    admin, app, fake_openrouter
):
    saved(app, openrouter_api_key=GOOD, openrouter_base_url=fake_openrouter.base_url)
    fake_openrouter.keys = {GOOD}
    admin.get("/admin/settings")
    response = admin.post(
        "/admin/settings",
        section_form(
            "OpenRouter",
            action="test-key",
            openrouter_api_key=WRONG,
            openrouter_base_url=fake_openrouter.base_url,
        ),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "invalid_key" in page and "nothing was saved" in page
    assert "That was the key you typed; it is still in the field above and was not saved." in page
    assert field_value(page, "openrouter_api_key") == WRONG  # typed, so not lost
    assert GOOD not in page
    assert fake_openrouter.requests[-1].headers["Authorization"] == f"Bearer {WRONG}"
    assert stored(app, "openrouter_api_key") == GOOD


def test_with_the_key_field_empty_the_saved_key_is_tested(admin, app, fake_openrouter):
    saved(app, openrouter_api_key=GOOD, openrouter_base_url=fake_openrouter.base_url)
    admin.get("/admin/settings")
    response = admin.post(
        "/admin/settings",
        section_form("OpenRouter", action="test-key", openrouter_base_url=fake_openrouter.base_url),
        follow_redirects=True,
    )
    assert "The key works." in response.get_data(as_text=True)
    assert fake_openrouter.requests[-1].headers["Authorization"] == f"Bearer {GOOD}"


def whatsapp_test(admin, fake_graph, token: str, number_id: str = "106540352242922"):
    admin.get("/admin/settings")
    return admin.post(
        "/admin/settings",
        section_form(
            "WhatsApp",
            action="test-whatsapp",
            whatsapp_access_token=token,
            whatsapp_phone_number_id=number_id,
            whatsapp_api_base_url=fake_graph.base_url,
        ),
    )


def test_a_typed_whatsapp_token_shows_the_numbers_name_and_quality_and_is_saved(
    admin, app, fake_graph
):
    fake_graph.token = TOKEN
    fake_graph.has_number("106540352242922", "Ana's Bakery", "+1 555-010-0200", "YELLOW")
    response = whatsapp_test(admin, fake_graph, TOKEN)
    assert response.status_code == 302 and response.location.endswith("#whatsapp")
    page = admin.get(response.location).get_data(as_text=True)
    assert "The token works." in page and "WhatsApp settings saved." in page
    shown = text_of(admin.get("/admin/settings"))
    assert "Ana's Bakery" in shown and "+1 555-010-0200" in shown and "medium (yellow)" in shown
    assert TOKEN not in page
    asked = fake_graph.requests[-1]
    assert asked.path == "/v25.0/106540352242922"
    assert "fields=verified_name,display_phone_number,quality_rating" in asked.query
    assert asked.headers["Authorization"] == f"Bearer {TOKEN}"
    assert stored(app, "whatsapp_access_token") == TOKEN
    assert stored(app, "whatsapp_phone_number_id") == "106540352242922"


def test_a_wrong_whatsapp_token_says_why_in_plain_words_and_is_not_saved(admin, app, fake_graph):
    saved(app, whatsapp_access_token=TOKEN, whatsapp_api_base_url=fake_graph.base_url)
    fake_graph.token = TOKEN
    fake_graph.has_number("106540352242922", "Ana's Bakery", "+1 555-010-0200")
    response = whatsapp_test(admin, fake_graph, OTHER_TOKEN)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "WhatsApp token expired" in page and "whatsapp_auth" in page
    assert "That was the token you typed" in page
    assert field_value(page, "whatsapp_access_token") == OTHER_TOKEN
    assert field_value(page, "whatsapp_phone_number_id") == "106540352242922"
    assert TOKEN not in page
    assert stored(app, "whatsapp_access_token") == TOKEN
    assert stored(app, "whatsapp_phone_number_id") == ""


def test_a_section_saves_only_its_own_fields(admin, app):
    saved(app, max_tokens="777", whatsapp_verify_token="my-phrase", fallback_reply="Old.")
    admin.get("/admin/settings")
    response = admin.post(
        "/admin/settings",
        # A field of another part, sent anyway, is not this part's to save.
        section_form("Assistant", fallback_reply="We will write back soon.", max_tokens="5"),
    )
    assert response.status_code == 302 and response.location.endswith("#assistant")
    assert stored(app, "fallback_reply") == "We will write back soon."
    assert stored(app, "max_tokens") == 777
    assert stored(app, "whatsapp_verify_token") == "my-phrase"


def test_a_refused_section_keeps_what_was_typed_and_saves_nothing(admin, app):
    admin.get("/admin/settings")
    response = admin.post(
        "/admin/settings",
        section_form("Assistant", memory_turns="99", fallback_reply="Back at nine."),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "between 0 and 50" in page and "Nothing was saved" in page
    assert "Back at nine." in page and field_value(page, "memory_turns") == "99"
    assert stored(app, "fallback_reply") != "Back at nine."


def test_the_page_has_its_parts_each_with_its_own_save_button(admin, app):
    saved(app, whatsapp_app_secret="appsecret-0123456789abcd")
    page = admin.get("/admin/settings").get_data(as_text=True)
    forms = re.findall(r'<form method="post"[^>]*id="([a-z-]+)"', page)
    assert forms == ["openrouter", "whatsapp", "assistant", "business", "knowledge", "people",
                     "email-alerts", "money", "advanced"]  # fmt: skip
    for section in ("OpenRouter", "WhatsApp", "Assistant", "Business", "Knowledge", "People",
                    "Email alerts", "Advanced"):  # fmt: skip
        assert f"Save {section} settings</button>" in page
    assert "Saved: app…abcd. Type a new one to replace it." in page
    assert "appsecret-0123456789abcd" not in page
    assert page.count("Not saved yet.") == 3  # the key, the access token, the mail password


def test_a_phone_number_id_meta_does_not_know_is_named_as_the_problem(admin, app, fake_graph):
    fake_graph.token = TOKEN
    response = whatsapp_test(admin, fake_graph, TOKEN, number_id="999")
    page = text_of(response)
    assert response.status_code == 200
    assert "whatsapp_rejected" in page and "Phone number ID" in page
    assert "(HTTP 404, code 100)" in page and "does not exist" in page
    assert stored(app, "whatsapp_access_token") == ""

"""The model table: seeded starting models, roles, one default, fallback order, valid IDs."""

import re

import pytest

from tests.support.install import STARTING_IDS
from tests.support.records import text_of
from webapp import catalog


def table(app):
    with app.app_context():
        return [(m.model_id, m.role) for m in catalog.all_models()]


def row_id(app, model_id):
    with app.app_context():
        return catalog.find(model_id).id


def test_a_fresh_install_has_the_seven_starting_models_with_gpt_4o_mini_default(app):
    rows = table(app)
    assert [model_id for model_id, _ in rows] == STARTING_IDS
    assert [model_id for model_id, role in rows if role == "default"] == ["openai/gpt-4o-mini"]


def test_the_two_cheapest_starting_models_are_the_only_fallbacks_and_the_rest_available(app):
    roles = dict(table(app))
    fallbacks = [m for m, role in roles.items() if role == "fallback"]
    assert fallbacks == ["mistralai/mistral-small-latest", "meta-llama/llama-3.3-70b-instruct"]
    assert roles["anthropic/claude-sonnet-4-6"] == roles["openai/gpt-4o"] == "available"
    with app.app_context():
        assert catalog.fallback_chain() == ["openai/gpt-4o-mini", *fallbacks]


def test_the_page_lists_every_model_with_readable_labels(admin):
    page = admin.get("/admin/models").get_data(as_text=True)
    for model_id in STARTING_IDS:
        assert model_id in page
    assert "GPT-4o mini (OpenAI)" in page and "Claude Sonnet 4.6" in page


def test_make_default_is_one_click_and_leaves_exactly_one_default(admin, app):
    admin.get("/admin/models")
    sonnet = row_id(app, "anthropic/claude-sonnet-4-6")
    response = admin.post(f"/admin/models/{sonnet}/default", follow_redirects=True)
    assert b"is now the default model" in response.data
    defaults = [model_id for model_id, role in table(app) if role == "default"]
    assert defaults == ["anthropic/claude-sonnet-4-6"]


def test_the_previous_default_becomes_available_not_a_fallback(admin, app):
    admin.get("/admin/models")
    sonnet = row_id(app, "anthropic/claude-sonnet-4-6")
    page = admin.post(f"/admin/models/{sonnet}/default", follow_redirects=True)
    assert b"openai/gpt-4o-mini is now available (not a fallback)" in page.data
    assert ("openai/gpt-4o-mini", "available") in table(app)


def test_a_disabled_model_made_default_answers(admin, app):
    admin.get("/admin/models")
    llama = row_id(app, "meta-llama/llama-3.3-70b-instruct")
    admin.post(f"/admin/models/{llama}/disable")
    admin.post(f"/admin/models/{llama}/default")
    assert ("meta-llama/llama-3.3-70b-instruct", "default") in table(app)


@pytest.mark.parametrize("role", ["fallback", "available", "disable"])
def test_each_role_button_sets_that_role(admin, app, role):
    admin.get("/admin/models")
    page = admin.post(
        f"/admin/models/{row_id(app, 'perplexity/sonar')}/{role}", follow_redirects=True
    )
    expected = "disabled" if role == "disable" else role
    assert f"perplexity/sonar is now {expected}.".encode() in page.data
    assert ("perplexity/sonar", expected) in table(app)


def test_enable_brings_a_disabled_model_back_as_available_never_as_a_fallback(admin, app):
    admin.get("/admin/models")
    mistral = row_id(app, "mistralai/mistral-small-latest")
    admin.post(f"/admin/models/{mistral}/disable")
    admin.post(f"/admin/models/{mistral}/enable")
    assert ("mistralai/mistral-small-latest", "available") in table(app)


@pytest.mark.parametrize("action", ["disable", "fallback", "available", "remove"])
def test_the_default_model_keeps_its_role_until_another_is_made_default(admin, app, action):
    admin.get("/admin/models")
    mini = row_id(app, "openai/gpt-4o-mini")
    page = admin.post(f"/admin/models/{mini}/{action}", follow_redirects=True).data
    assert b"Make another model the default first." in page
    assert ("openai/gpt-4o-mini", "default") in table(app)


def test_reordering_changes_the_fallback_order_and_available_rows_stay_out_of_it(admin, app):
    admin.get("/admin/models")
    admin.post(f"/admin/models/{row_id(app, 'perplexity/sonar')}/fallback")
    admin.post(f"/admin/models/{row_id(app, 'perplexity/sonar')}/up")
    admin.post(f"/admin/models/{row_id(app, 'mistralai/mistral-small-latest')}/down")
    with app.app_context():
        assert catalog.fallback_chain() == [
            "openai/gpt-4o-mini",
            "perplexity/sonar",
            "meta-llama/llama-3.3-70b-instruct",
            "mistralai/mistral-small-latest",
        ]


def test_usable_models_are_those_in_the_table_and_not_disabled(admin, app):
    admin.get("/admin/models")
    admin.post(f"/admin/models/{row_id(app, 'perplexity/sonar')}/disable")
    with app.app_context():
        assert catalog.usable("openai/gpt-4o") and catalog.usable("openai/gpt-4o-mini")
        assert not catalog.usable("perplexity/sonar")
        assert not catalog.usable("x-ai/grok-4")


def test_editing_a_label_shows_the_new_label(admin, app):
    admin.get("/admin/models")
    response = admin.post(
        f"/admin/models/{row_id(app, 'perplexity/sonar')}/label",
        {"label": "Web answers <fast>"},
        follow_redirects=True,
    )
    assert b"Web answers &lt;fast&gt;" in response.data


@pytest.mark.parametrize(
    "model_id",
    ["deepseek/deepseek-chat-v3.1:free", "openai/gpt-4o:nitro", "x-ai/grok-4", "openrouter/auto"],
)
def test_adding_a_valid_model_id_appends_it_to_the_table(admin, app, model_id):
    admin.get("/admin/models")
    response = admin.post(
        "/admin/models", {"model_id": model_id, "label": "New one"}, follow_redirects=True
    )
    assert f"Added {model_id} as available.".encode() in response.data
    assert table(app)[-1] == (model_id, "available")


@pytest.mark.parametrize(
    "model_id", ["gpt-4o", "openai/", "/gpt-4o", "openai/gpt 4o", "openai/gpt-4o:", "a/b/c"]
)
def test_an_invalid_model_id_is_refused(admin, app, model_id):
    admin.get("/admin/models")
    response = admin.post("/admin/models", {"model_id": model_id})
    assert b"is not a model ID" in response.data
    assert len(table(app)) == 7


def test_a_model_already_in_the_table_is_refused(admin, app):
    admin.get("/admin/models")
    response = admin.post("/admin/models", {"model_id": "openai/gpt-4o"})
    assert b"already in the model table" in response.data


def test_model_actions_need_the_csrf_token(admin, app):
    sonnet = row_id(app, "anthropic/claude-sonnet-4-6")
    response = admin.client.post(f"/admin/models/{sonnet}/default")
    assert response.status_code == 400
    assert ("anthropic/claude-sonnet-4-6", "available") in table(app)


def test_catalog_check_flags_retired_ids_and_suggests_current_ones(admin, app, fake_openrouter):
    from webapp import settings

    with app.app_context():
        settings.save({"openrouter_base_url": fake_openrouter.base_url}, author="test")
    admin.get("/admin/models")
    admin.post("/admin/models", {"model_id": "openai/gpt-4o-mini-2024"})
    page = admin.post("/admin/models/check", follow_redirects=True).get_data(as_text=True)
    assert "Not in the catalog" in page
    assert "Closest current ID: <code>openai/gpt-4o-mini</code>" in page
    assert "4 models in the catalog" in page  # the recorded catalog excerpt
    assert fake_openrouter.requests[-1].path == "/api/v1/models"


def test_catalog_check_explains_an_unreachable_api(admin, app, refused_url):
    from webapp import settings

    with app.app_context():
        settings.save({"openrouter_base_url": refused_url}, author="test")
    admin.get("/admin/models")
    page = admin.post("/admin/models/check", follow_redirects=True).get_data(as_text=True)
    assert "The catalog could not be read." in page
    assert "network" in page


def buttons(page: str, model_id: str) -> list[str]:
    """The words on the buttons of the row of `model_id` that change its model or role (not
    the arrows that move it, nor its label's Save)."""
    row = re.search(rf'<tr [^>]*data-model="{re.escape(model_id)}".*?</tr>', page, re.S).group(0)
    words = [text_of(b).strip() for b in re.findall(r"<button[^>]*>(.*?)</button>", row, re.S)]
    return [w for w in words if w not in ("↑", "↓", "Save")]


def test_each_row_offers_the_actions_that_apply_to_it_in_words(admin, app):
    admin.get("/admin/models")
    admin.post(f"/admin/models/{row_id(app, 'openai/gpt-4o')}/disable")
    page = admin.get("/admin/models").get_data(as_text=True)
    assert buttons(page, "openai/gpt-4o-mini") == []  # the default
    assert buttons(page, "mistralai/mistral-small-latest") == [
        "Make default",
        "Stop using as fallback",
        "Disable",
        "Remove",
    ]
    assert buttons(page, "perplexity/sonar") == [
        "Make default",
        "Use as fallback",
        "Disable",
        "Remove",
    ]
    assert buttons(page, "openai/gpt-4o") == ["Enable", "Remove"]


def checked(admin, app, fake_openrouter) -> str:
    """The Models page after Check model IDs against the recorded catalog excerpt."""
    from webapp import settings

    with app.app_context():
        settings.save({"openrouter_base_url": fake_openrouter.base_url}, author="test")
    admin.get("/admin/models")
    return admin.post("/admin/models/check", follow_redirects=True).get_data(as_text=True)


def test_replace_with_the_suggestion_keeps_the_rows_place_and_role(admin, app, fake_openrouter):
    gemini = row_id(app, "google/gemini-3.5-flash")  # not in the catalog excerpt
    admin.get("/admin/models")
    admin.post(f"/admin/models/{gemini}/default")
    before = table(app)
    page = checked(admin, app, fake_openrouter)
    assert "Replace with google/gemini-2.5-flash" in buttons(page, "google/gemini-3.5-flash")
    response = admin.post(
        f"/admin/models/{gemini}/replace",
        {"model_id": "google/gemini-2.5-flash"},
        follow_redirects=True,
    )
    assert "google/gemini-3.5-flash replaced with google/gemini-2.5-flash" in text_of(response)
    after = table(app)
    place = before.index(("google/gemini-3.5-flash", "default"))
    assert after[place] == ("google/gemini-2.5-flash", "default")
    assert after[:place] + after[place + 1 :] == before[:place] + before[place + 1 :]
    with app.app_context():  # the catalog's name as the row's label
        assert "Flash" in catalog.find("google/gemini-2.5-flash").label
    assert "google/gemini-3.5-flash" not in admin.get("/admin/").get_data(as_text=True)


def test_a_suggestion_already_in_the_table_is_named_not_offered(admin, app, fake_openrouter):
    admin.get("/admin/models")
    admin.post("/admin/models", {"model_id": "openai/gpt-4o-mini-2024"})
    page = checked(admin, app, fake_openrouter)
    assert not [b for b in buttons(page, "openai/gpt-4o-mini-2024") if b.startswith("Replace")]
    retired = admin.post(
        f"/admin/models/{row_id(app, 'openai/gpt-4o-mini-2024')}/replace",
        {"model_id": "openai/gpt-4o-mini"},
        follow_redirects=True,
    )
    assert "already in the model table" in text_of(retired)
    assert ("openai/gpt-4o-mini-2024", "available") in table(app)


def test_replace_takes_only_an_id_the_catalog_lists(admin, app, fake_openrouter):
    checked(admin, app, fake_openrouter)
    sonar = row_id(app, "perplexity/sonar")
    response = admin.post(
        f"/admin/models/{sonar}/replace", {"model_id": "made-up/model"}, follow_redirects=True
    )
    assert "not in the catalog" in text_of(response)
    assert ("perplexity/sonar", "available") in table(app)
    assert admin.client.post(f"/admin/models/{sonar}/replace").status_code == 400  # no CSRF

"""The model table: seeded starting models, one default, fallback order, valid IDs."""

import pytest

from webapp import catalog

STARTING_IDS = [
    "openai/gpt-4o-mini",
    "openai/gpt-4o",
    "anthropic/claude-sonnet-4-6",
    "google/gemini-3.5-flash",
    "mistralai/mistral-small-latest",
    "perplexity/sonar",
    "meta-llama/llama-3.3-70b-instruct",
]


def table(app):
    with app.app_context():
        return [(m.model_id, m.enabled, m.is_default) for m in catalog.all_models()]


def row_id(app, model_id):
    with app.app_context():
        return catalog.find(model_id).id


def test_a_fresh_install_has_the_seven_starting_models_with_gpt_4o_mini_default(app):
    rows = table(app)
    assert [model_id for model_id, _, _ in rows] == STARTING_IDS
    assert [model_id for model_id, _, default in rows if default] == ["openai/gpt-4o-mini"]


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
    defaults = [model_id for model_id, _, default in table(app) if default]
    assert defaults == ["anthropic/claude-sonnet-4-6"]


def test_a_disabled_model_made_default_is_enabled_again(admin, app):
    admin.get("/admin/models")
    llama = row_id(app, "meta-llama/llama-3.3-70b-instruct")
    admin.post(f"/admin/models/{llama}/disable")
    admin.post(f"/admin/models/{llama}/default")
    assert ("meta-llama/llama-3.3-70b-instruct", True, True) in table(app)


def test_the_default_model_cannot_be_disabled_or_removed(admin, app):
    admin.get("/admin/models")
    mini = row_id(app, "openai/gpt-4o-mini")
    page = admin.post(f"/admin/models/{mini}/disable", follow_redirects=True).data
    assert b"cannot be disabled" in page
    admin.post(f"/admin/models/{mini}/remove")
    assert ("openai/gpt-4o-mini", True, True) in table(app)


def test_reordering_changes_the_fallback_order(admin, app):
    admin.get("/admin/models")
    admin.post(f"/admin/models/{row_id(app, 'perplexity/sonar')}/up")
    admin.post(f"/admin/models/{row_id(app, 'openai/gpt-4o')}/down")
    admin.post(f"/admin/models/{row_id(app, 'google/gemini-3.5-flash')}/disable")
    with app.app_context():
        assert catalog.fallback_chain() == [
            "openai/gpt-4o-mini",
            "anthropic/claude-sonnet-4-6",
            "openai/gpt-4o",
            "perplexity/sonar",
            "mistralai/mistral-small-latest",
            "meta-llama/llama-3.3-70b-instruct",
        ]


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
    assert f"Added {model_id}.".encode() in response.data
    assert table(app)[-1] == (model_id, True, False)


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
    assert ("anthropic/claude-sonnet-4-6", True, False) in table(app)


def test_catalog_check_flags_retired_ids_and_suggests_current_ones(admin, app, fake_openrouter):
    from webapp import settings

    with app.app_context():
        settings.save({"openrouter_base_url": fake_openrouter.base_url}, author="test")
    admin.get("/admin/models")
    admin.post("/admin/models", {"model_id": "openai/gpt-4o-mini-2024"})
    page = admin.post("/admin/models/check", follow_redirects=True).get_data(as_text=True)
    assert "Not in the catalog" in page
    assert "Did you mean" in page and "<code>openai/gpt-4o-mini</code>" in page
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

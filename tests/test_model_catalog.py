"""The catalog check against a fake `GET /models`: facts on the Models page, flagged IDs with
the closest current ones, Add from catalog, the dashboard warning, `models check`, and the
cost of each request from `usage.cost` or from the catalog's prices."""

import json

import pytest

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH, completion, fixture_bytes
from tests.support.payloads import fixture
from tests.support.replies import finished, log_rows
from webapp import catalog, catalog_data, settings, state

MODELS_PATH = "/api/v1/models"
# The recorded excerpt lists gpt-4o-mini, gemini-2.5-flash, llama-3.3-70b-instruct:free and
# claude-opus-4.5: of the starting table only gpt-4o-mini, so the llama fallback is flagged.


def own_catalog(*entries: dict) -> dict:
    return {"data": [{"id": "openai/gpt-4o-mini", "name": "GPT-4o-mini"}, *entries]}


@pytest.fixture
def pointed(app, fake_openrouter):
    with app.app_context():
        settings.save({"openrouter_base_url": fake_openrouter.base_url}, author="test")
    return app


def check(admin):
    admin.get("/admin/models")
    return admin.post("/admin/models/check", follow_redirects=True).get_data(as_text=True)


def row_of(page: str, model_id: str) -> str:
    start = page.index(f'data-model="{model_id}"')
    return page[start : page.index("</tr>", start)]


def test_the_recorded_catalog_fills_in_context_prices_and_input_kinds(admin, pointed):
    page = check(admin)
    mini = row_of(page, "openai/gpt-4o-mini")
    assert "128,000" in mini and "$0.15 / $0.60" in mini and "text, image" in mini
    assert "4 models in the catalog" in page


def test_a_retired_fallback_is_flagged_with_the_closest_current_id(admin, pointed):
    llama = row_of(check(admin), "meta-llama/llama-3.3-70b-instruct")
    assert "Not in the catalog" in llama
    assert "<code>meta-llama/llama-3.3-70b-instruct:free</code>" in llama


def test_a_routing_shortcut_of_a_listed_model_is_not_flagged(admin, pointed, fake_openrouter):
    with pointed.app_context():
        catalog.add("openai/gpt-4o-mini:nitro")
    fake_openrouter.queue(body=own_catalog(), path=MODELS_PATH)
    assert "Not in the catalog" not in row_of(check(admin), "openai/gpt-4o-mini:nitro")


def test_a_catalog_entry_without_prices_shows_dashes(admin, pointed, fake_openrouter):
    odd = {"id": "openrouter/auto", "name": "Auto", "pricing": {"prompt": "-1", "completion": "-1"}}
    fake_openrouter.queue(body=own_catalog(odd), path=MODELS_PATH)
    with pointed.app_context():
        catalog.add("openrouter/auto")
    assert "— / —" in row_of(check(admin), "openrouter/auto")


def test_the_dashboard_warns_when_a_fallback_is_flagged(admin, pointed):
    check(admin)
    page = admin.get("/admin/").get_data(as_text=True)
    assert 'id="models-flagged"' in page
    assert "<code>meta-llama/llama-3.3-70b-instruct</code> (a fallback)" in page


def test_the_dashboard_warns_about_a_flagged_default(admin, pointed):
    with pointed.app_context():
        catalog.make_default("openai/gpt-4o")
    check(admin)
    assert "<code>openai/gpt-4o</code> (the default model)" in admin.get("/admin/").get_data(
        as_text=True
    )


def test_no_dashboard_warning_when_only_available_models_are_flagged(admin, pointed):
    with pointed.app_context():
        for model_id in ("mistralai/mistral-small-latest", "meta-llama/llama-3.3-70b-instruct"):
            catalog.set_role(model_id, catalog.AVAILABLE)
    check(admin)
    assert 'id="models-flagged"' not in admin.get("/admin/").get_data(as_text=True)


def test_the_catalog_search_finds_a_model_and_adds_it_as_available(admin, pointed):
    check(admin)
    page = admin.get("/admin/models?q=claude opus").get_data(as_text=True)
    found = page.split('id="add-from-catalog"')[1]  # the table above may offer a Replace
    assert 'name="model_id" value="anthropic/claude-opus-4.5"' in found
    assert 'name="model_id" value="google/gemini-2.5-flash"' not in found
    admin.post("/admin/models/from-catalog", {"model_id": "anthropic/claude-opus-4.5"})
    with pointed.app_context():
        added = catalog.find("anthropic/claude-opus-4.5")
        assert (added.role, added.label) == ("available", "Anthropic: Claude Opus 4.5")


def test_adding_an_id_the_catalog_does_not_list_from_the_catalog_is_refused(admin, pointed):
    check(admin)
    page = admin.post(
        "/admin/models/from-catalog", {"model_id": "acme/made-up"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "is not in the catalog" in page
    with pointed.app_context():
        assert len(catalog.all_models()) == 7


def test_models_check_prints_flagged_ids_with_suggestions_and_exits_0(runner, pointed):
    result = runner.invoke(args=["models", "check"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines()[1:]}
    assert "ok  $0.15 / $0.60 per million" in lines["openai/gpt-4o-mini"]
    flagged = lines["meta-llama/llama-3.3-70b-instruct"]
    assert "NOT IN THE CATALOG" in flagged and "meta-llama/llama-3.3-70b-instruct:free" in flagged


def test_models_check_explains_an_unreachable_api(runner, app, refused_url):
    with app.app_context():
        settings.save({"openrouter_base_url": refused_url}, author="test")
    result = runner.invoke(args=["models", "check"])
    assert result.exit_code != 0 and "(network)" in result.output


def test_the_worker_reads_the_catalog_once_a_key_is_saved(whatsapp, worker, fake_openrouter):
    wait_for(lambda: any(r.path == MODELS_PATH for r in fake_openrouter.requests))

    def stored():
        with whatsapp.app_context():
            return (state.get("catalog_check") or {}).get("count")

    assert wait_for(stored) == 4


def answer_costs(client, app, fake_openrouter, body: dict) -> float | None:
    fake_openrouter.queue(body=body, path=CHAT_PATH)
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(app))
    [row] = [r for r in log_rows(app) if r.upstream == "openrouter"]
    return row.cost


def test_the_cost_is_the_answers_own_usage_cost(client, whatsapp, worker, fake_openrouter, admin):
    check(admin)
    body = completion("Hi.", prompt_tokens=1000, completion_tokens=500, cost=0.0042)
    assert answer_costs(client, whatsapp, fake_openrouter, body) == pytest.approx(0.0042)


def test_without_usage_cost_the_catalogs_prices_give_the_cost(
    client, whatsapp, worker, fake_openrouter, admin
):
    check(admin)
    body = completion("Hi.", prompt_tokens=1000, completion_tokens=500)
    del body["usage"]["cost"]
    cost = answer_costs(client, whatsapp, fake_openrouter, body)
    assert cost == pytest.approx(1000 * 0.00000015 + 500 * 0.0000006)
    csv = admin.get("/admin/logs.csv?channel=whatsapp").get_data(as_text=True)
    assert ",0.00045," in csv


def test_without_usage_cost_or_a_catalog_the_cost_stays_unknown(
    client, whatsapp, worker, fake_openrouter
):
    body = json.loads(json.dumps(completion("Hi.")))
    del body["usage"]["cost"]
    fake_openrouter.default(500, b"down", path=MODELS_PATH)  # the worker's check finds nothing
    assert answer_costs(client, whatsapp, fake_openrouter, body) is None


def test_an_answer_naming_its_model_by_canonical_slug_is_priced_by_that_model(
    admin, pointed, fake_openrouter
):
    sonnet = {
        "id": "anthropic/claude-sonnet-4",
        "canonical_slug": "anthropic/claude-4-sonnet-20250522",
        "pricing": {"prompt": "0.000003", "completion": "0.000015"},
    }
    fake_openrouter.queue(body=own_catalog(sonnet), path=MODELS_PATH)
    check(admin)
    with pointed.app_context():
        listings = catalog_data.listings()
        cost = catalog_data.price(listings, "anthropic/claude-4-sonnet-20250522", 1000, 100)
    assert cost == pytest.approx(0.003 + 0.0015)


def test_the_recorded_catalog_bytes_are_served_unchanged(fake_openrouter):
    import requests

    served = requests.get(fake_openrouter.base_url + "/models", timeout=5).content
    assert served == fixture_bytes("models_list_excerpt.json")

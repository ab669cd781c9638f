"""`GET /api/v1/models`: the models a flow may name, in the OpenAI list shape, with the flow key."""

import json

import pytest
import requests

from tests.support.databases import environment_of
from tests.support.fakes import fixture_bytes
from tests.support.served import serving
from webapp import catalog, catalog_data, tokens

MODELS_URL = "/api/v1/models"


@pytest.fixture
def table(whatsapp):
    """The catalog known; the table: gpt-4o-mini default, gemini offered, opus disabled, and
    one model the catalog lacks."""
    with whatsapp.app_context():
        catalog_data.store(json.loads(fixture_bytes("models_list_excerpt.json"))["data"])
        for model_id, role in catalog.offered():
            if role != catalog.DEFAULT:
                catalog.remove(model_id)
        if catalog.default_model().model_id != "openai/gpt-4o-mini":
            catalog.add("openai/gpt-4o-mini")
            catalog.remove(catalog.make_default("openai/gpt-4o-mini"))
        for model_id in ("google/gemini-2.5-flash", "anthropic/claude-opus-4.5", "acme/new-1"):
            catalog.add(model_id)
        catalog.set_role("anthropic/claude-opus-4.5", catalog.DISABLED)
    return whatsapp


def test_the_list_has_the_offered_models_with_the_catalogs_facts(client, token, table):
    response = client.get(MODELS_URL, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.mimetype == "application/json"
    listed = response.get_json()
    assert listed["object"] == "list"
    by_id = {model["id"]: model for model in listed["data"]}
    assert list(by_id) == ["openai/gpt-4o-mini", "google/gemini-2.5-flash", "acme/new-1"]
    mini = by_id["openai/gpt-4o-mini"]
    assert (mini["object"], mini["owned_by"], mini["context_length"]) == ("model", "openai", 128000)
    assert mini["pricing"] == {"prompt": "0.00000015", "completion": "0.0000006"}
    assert mini["architecture"]["input_modalities"] == ["text", "image", "file"]
    assert isinstance(mini["created"], int) and mini["created"] > 1_700_000_000
    unknown = by_id["acme/new-1"]
    assert (unknown["owned_by"], unknown["context_length"]) == ("acme", None)
    assert unknown["pricing"] == {"prompt": None, "completion": None}


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), ({"Authorization": "Bearer sb-guessed"}, 401)],
    ids=["no key", "wrong key"],
)
def test_without_a_right_flow_key_the_list_is_refused_as_json(client, table, headers, status):
    response = client.get(MODELS_URL, headers=headers)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert (error["code"], error["kind"]) == (401, "invalid_key") and error["hint"]


def test_the_list_over_http(whatsapp, table):
    with whatsapp.app_context():
        token = tokens.create("lister")[1]
    with serving(environment_of(whatsapp)) as url:
        refused = requests.get(url + MODELS_URL, timeout=10)
        answered = requests.get(
            url + MODELS_URL, headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
    assert refused.status_code == 401 and refused.json()["error"]["kind"] == "invalid_key"
    assert answered.status_code == 200
    assert [m["id"] for m in answered.json()["data"]] == [
        "openai/gpt-4o-mini", "google/gemini-2.5-flash", "acme/new-1",
    ]  # fmt: skip

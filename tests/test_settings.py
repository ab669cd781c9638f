"""The settings page and its rules: validation, masking, encryption at rest, the key test."""

from pathlib import Path

import pytest

from tests.support.install import KEY, form, stored
from webapp import settings
from webapp.extensions import db
from webapp.snapshot import Snapshot


def test_saving_a_key_shows_it_masked(admin, app):
    admin.get("/admin/settings")
    response = admin.post("/admin/settings", form(openrouter_api_key=KEY), follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Settings saved." in page
    assert "sk-or-…1a2b" in page
    assert KEY not in page
    assert stored(app, "openrouter_api_key") == KEY


def stored_bytes(app) -> list[bytes]:
    """Everything the database holds: the SQLite files' bytes, or every row on PostgreSQL."""
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            tables = db.metadata.sorted_tables
            return [repr(db.session.execute(t.select()).all()).encode() for t in tables]
        db.session.close()
        db.engine.dispose()  # flush the WAL into the main file before reading its bytes
    return [path.read_bytes() for path in Path(app.instance_path).glob("switchboard.db*")]


def test_the_raw_key_never_reaches_the_database_file_or_any_admin_page(admin, app):
    admin.get("/admin/settings")
    admin.post(
        "/admin/settings", form(openrouter_api_key=KEY, whatsapp_app_secret="appsecret123456")
    )
    for data in stored_bytes(app):
        assert KEY.encode() not in data and b"appsecret123456" not in data
    for url in [
        "/admin/",
        "/admin/settings",
        "/admin/models",
        "/admin/prompt",
        "/account/password",
    ]:
        body = admin.get(url).get_data(as_text=True)
        assert KEY not in body and "appsecret123456" not in body


def test_a_blank_secret_keeps_the_saved_one(admin, app):
    admin.get("/admin/settings")
    admin.post("/admin/settings", form(openrouter_api_key=KEY))
    admin.post("/admin/settings", form(openrouter_api_key="", max_tokens="500"))
    assert stored(app, "openrouter_api_key") == KEY
    assert stored(app, "max_tokens") == 500


def test_a_key_not_starting_with_sk_or_is_saved_with_a_warning(admin, app):
    admin.get("/admin/settings")
    response = admin.post(
        "/admin/settings", form(openrouter_api_key="sk-proj-other-api"), follow_redirects=True
    )
    assert b"does not start with sk-or-" in response.data
    assert stored(app, "openrouter_api_key") == "sk-proj-other-api"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("request_timeout", "0", "between 1 and 300"),
        ("request_timeout", "301", "between 1 and 300"),
        ("request_timeout", "soon", "whole number"),
        ("max_tokens", "-5", "between 1 and"),
        ("memory_turns", "51", "between 0 and 50"),
        ("openrouter_base_url", "openrouter.ai", "http:// or https:// URL"),
        ("whatsapp_phone_number_id", "+1 555 0100", "digits only"),
        ("retention_days", "ninety", "whole number"),
        ("monthly_budget", "-1", "from 0 to 1,000,000 dollars"),
        ("monthly_budget", "abc", "amount in dollars such as 20"),
        ("daily_budget", "1e309", "amount in dollars such as 20"),
        ("daily_budget", "nan", "amount in dollars such as 20"),
        ("max_cost_per_customer_per_day", "0.00001", "at most 4 decimals"),
        ("budget_action", "spend", "must be one of cheapest, fallback_reply, handoff"),
        ("max_turns_per_customer_per_hour", "-3", "between 0 and 1000"),
    ],
)
def test_an_invalid_value_is_refused_and_nothing_is_saved(admin, app, field, value, message):
    admin.get("/admin/settings")
    response = admin.post(
        "/admin/settings", form(**{"max_tokens": "777", "memory_turns": "7", field: value})
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    assert "Nothing was saved" in page
    # the valid fields beside the bad one were not half-saved
    assert (stored(app, "max_tokens"), stored(app, "memory_turns")) == (1000, 10)


def test_an_environment_base_url_wins_and_the_page_says_so(app, admin, monkeypatch):
    app.config["ENV_OVERRIDES"]["openrouter_base_url"] = "http://127.0.0.1:9/api/v1"
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert "OPENROUTER_BASE_URL environment variable" in page
    assert stored(app, "openrouter_base_url") == "http://127.0.0.1:9/api/v1"


def test_defaults_apply_until_something_is_saved(app):
    assert stored(app, "request_timeout") == 30
    assert stored(app, "max_tokens") == 1000
    assert stored(app, "memory_turns") == 10
    assert stored(app, "retention_days") == 90
    assert stored(app, "openrouter_base_url") == "https://openrouter.ai/api/v1"


def save_key_and_base(app, base_url):
    with app.app_context():
        settings.save({"openrouter_api_key": KEY, "openrouter_base_url": base_url}, author="test")


def test_key_test_shows_usage_and_credit_left(admin, app, fake_openrouter):
    save_key_and_base(app, fake_openrouter.base_url)
    admin.get("/admin/settings")
    page = admin.post("/admin/settings/test-key", follow_redirects=True).get_data(as_text=True)
    assert "Key works" in page
    assert "$74.50" in page  # limit_remaining of the recorded /key answer
    assert "$100.00" in page
    request = fake_openrouter.requests[-1]
    assert request.path == "/api/v1/key"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    dashboard = admin.get("/admin/").get_data(as_text=True)
    assert "$74.50" in dashboard  # remembered for the dashboard


def test_key_test_shows_unlimited_when_the_key_has_no_limit(admin, app, fake_openrouter):
    save_key_and_base(app, fake_openrouter.base_url)
    fake_openrouter.queue(
        body={
            "data": {
                "label": "shop",
                "usage": 1.5,
                "limit": None,
                "limit_remaining": None,
                "is_free_tier": False,
            }
        }
    )
    admin.get("/admin/settings")
    page = admin.post("/admin/settings/test-key", follow_redirects=True).get_data(as_text=True)
    assert "Unlimited" in page


def test_key_test_with_a_wrong_key_explains_the_fix(admin, app, fake_openrouter):
    save_key_and_base(app, fake_openrouter.base_url)
    fake_openrouter.replay("error_401_user_not_found.json", status=401)
    admin.get("/admin/settings")
    page = admin.post("/admin/settings/test-key", follow_redirects=True).get_data(as_text=True)
    assert "The key test failed." in page
    assert "invalid_key" in page
    assert "sk-or-" in page  # the fix tells what a key looks like
    assert KEY not in page
    # The fake is not openrouter.ai: its own words are not repeated, only their kind.
    assert "User not found." not in page
    assert "The answer came from 127.0.0.1, not from OpenRouter" in page


def test_key_test_without_a_saved_key_says_so(admin):
    admin.get("/admin/settings")
    page = admin.post("/admin/settings/test-key", follow_redirects=True).get_data(as_text=True)
    assert "No key is saved yet." in page


def test_key_test_against_an_unreachable_server_is_a_network_error(admin, app, refused_url):
    save_key_and_base(app, refused_url)
    admin.get("/admin/settings")
    page = admin.post("/admin/settings/test-key", follow_redirects=True).get_data(as_text=True)
    assert "network" in page


def test_a_turn_keeps_the_settings_it_started_with_and_the_next_one_sees_the_change(app):
    with app.app_context():
        started = Snapshot.load(app.config)
        settings.save({"max_tokens": "5", "merge_window_seconds": "0"}, author="test")
        assert (started["max_tokens"], started["merge_window_seconds"]) == (1000, 2)
        later = Snapshot.load(app.config)
        assert (later["max_tokens"], later["merge_window_seconds"]) == (5, 0)


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("merge_window_seconds", "61", "between 0 and 60"),
        ("merge_window_seconds", "-1", "between 0 and 60"),
        ("answer_within_seconds", "9", "between 10 and 600"),
        ("answer_within_seconds", "soon", "whole number"),
    ],
)
def test_turn_timing_settings_refuse_values_out_of_range(runner, name, value, words):
    result = runner.invoke(args=["settings", "set", "--", name, value])
    assert result.exit_code != 0 and words in result.output


def test_media_model_settings_take_an_id_or_their_own_words(admin, app):
    page = admin.post("/admin/settings", form(image_model="not a model"), follow_redirects=True)
    assert "is not a model ID" in page.get_data(as_text=True)
    assert stored(app, "image_model") == "auto"
    admin.post("/admin/settings", form(image_model="OFF", transcription_model=""))
    assert stored(app, "image_model") == "off"
    assert stored(app, "transcription_model") == ""  # empty: voice notes are not transcribed
    admin.post("/admin/settings", form(image_model="google/gemini-2.5-flash"))
    assert stored(app, "image_model") == "google/gemini-2.5-flash"


@pytest.mark.parametrize(("typed", "kept"), [("20", "20"), ("$20.50", "20.5"), ("0.01", "0.01"),
                                            ("", "")])  # fmt: skip
def test_a_budget_is_kept_as_plain_dollars_and_empty_means_none(runner, app, typed, kept):
    result = runner.invoke(args=["settings", "set", "--", "monthly_budget", typed])
    assert result.exit_code == 0, result.output
    assert stored(app, "monthly_budget") == kept

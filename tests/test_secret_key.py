"""Changing SECRET_KEY: unreadable secrets are said out loud, fallbacks keep them, reencrypt."""

import pytest

from tests.conftest import (
    APP_SECRET,
    ENVIRONMENT,
    QUICK,
    Browser,
    migrated_app,
    post_webhook,
)
from tests.support.databases import environment_of
from tests.support.payloads import text_delivery
from webapp import create_app, settings
from webapp.crypto import UNREADABLE

OLD, NEW = "the-key-the-secrets-were-saved-with", "a-brand-new-key-after-a-move"
KEY = "sk-or-v1-test-key-0000000000000000000000000000"


@pytest.fixture
def instance(tmp_path, monkeypatch, fake_graph, fake_openrouter):
    """An install whose secrets were saved under OLD."""
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", OLD)
    app = migrated_app(tmp_path / "instance", **QUICK)
    with app.app_context():
        settings.save(
            {
                "openrouter_api_key": KEY,
                "openrouter_base_url": fake_openrouter.base_url,
                "whatsapp_access_token": "EAAG-test-access-token",
                "whatsapp_phone_number_id": "106540352242922",
                "whatsapp_app_secret": APP_SECRET,
                "whatsapp_api_base_url": fake_graph.base_url,
            },
            author="test",
        )
    for name, value in environment_of(app).items():  # later starts find the same database
        monkeypatch.setenv(name, value)
    return tmp_path / "instance"


def started_with(instance, monkeypatch, key: str, fallbacks: str = ""):
    monkeypatch.setenv("SECRET_KEY", key)
    monkeypatch.setenv("SECRET_KEY_FALLBACKS", fallbacks)
    return create_app({"TESTING": True, "INSTANCE_PATH": instance, **QUICK})


def signed_in(app) -> Browser:
    browser = Browser(app.test_client())
    assert browser.login().status_code == 302
    return browser


def test_a_new_secret_key_is_said_out_loud_everywhere(instance, monkeypatch):
    app = started_with(instance, monkeypatch, NEW)
    admin = signed_in(app)
    dashboard = admin.get("/admin/").get_data(as_text=True)
    assert UNREADABLE in dashboard
    assert "openrouter_api_key, whatsapp_access_token, whatsapp_app_secret" in dashboard
    health = app.test_client().get("/healthz")
    assert health.status_code == 200
    assert health.json["status"] == "degraded" and health.json["secrets"] == UNREADABLE
    refused = post_webhook(app.test_client(), text_delivery("16505551234", "hi"))
    assert refused.status_code == 403 and UNREADABLE in refused.json["error"]
    assert "no app secret" not in refused.json["error"]


def test_the_manual_reply_form_explains_an_unreadable_token_instead_of_failing(
    instance, monkeypatch, fake_graph
):
    old = started_with(instance, monkeypatch, OLD)
    assert post_webhook(old.test_client(), text_delivery("16505551234", "hi")).status_code == 200
    app = started_with(instance, monkeypatch, NEW)
    admin = signed_in(app)
    response = admin.post("/admin/conversations/1/reply", {"body": "We are on it."})
    assert response.status_code == 302
    page = admin.get("/admin/conversations/1").get_data(as_text=True)
    assert f"Not sent. {UNREADABLE}" in page
    assert fake_graph.sent_texts() == []


def test_the_old_key_in_fallbacks_keeps_secrets_and_sessions_working(instance, monkeypatch):
    old_admin = signed_in(started_with(instance, monkeypatch, OLD))
    app = started_with(instance, monkeypatch, NEW, fallbacks=f"something-else, {OLD}")
    old_admin.client.application = app  # the same browser, cookie signed with the old key
    assert old_admin.client.get("/admin/").status_code == 200
    webhook = post_webhook(app.test_client(), text_delivery("16505551234", "hi"))
    assert webhook.status_code == 200
    with app.app_context():
        assert settings.get("openrouter_api_key") == KEY
        assert settings.unreadable() == []


def test_reencrypt_rewrites_the_secrets_so_the_old_key_can_go(instance, monkeypatch):
    app = started_with(instance, monkeypatch, NEW, fallbacks=OLD)
    result = app.test_cli_runner().invoke(args=["settings", "reencrypt"])
    assert result.exit_code == 0, result.output
    assert "openrouter_api_key" in result.output and "SECRET_KEY_FALLBACKS" in result.output
    alone = started_with(instance, monkeypatch, NEW)
    with alone.app_context():
        assert settings.unreadable() == []
        assert settings.get("whatsapp_app_secret") == APP_SECRET
    assert KEY not in result.output


def test_reencrypt_refuses_while_a_secret_cannot_be_read(instance, monkeypatch):
    app = started_with(instance, monkeypatch, NEW)
    result = app.test_cli_runner().invoke(args=["settings", "reencrypt"])
    assert result.exit_code != 0
    assert "SECRET_KEY_FALLBACKS" in result.output
    back = started_with(instance, monkeypatch, OLD)
    with back.app_context():
        assert settings.get("openrouter_api_key") == KEY  # nothing was half-rewritten

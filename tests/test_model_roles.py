"""Roles in use: only `fallback` rows stand in for a failing default; the CLI; the upgrade."""

from flask_migrate import downgrade, upgrade
from sqlalchemy import text

from tests.conftest import post_webhook, wait_for
from tests.support.fakes import CHAT_PATH, fixture_bytes
from tests.support.payloads import fixture
from tests.support.replies import finished
from webapp import catalog
from webapp.extensions import db

FALLBACK_REPLY = "Sorry, we can't answer right now. We'll get back to you soon."


def chats(fake_openrouter) -> list[dict]:
    return [r.json() for r in fake_openrouter.requests if r.path == CHAT_PATH]


def test_a_failing_default_falls_back_only_to_fallback_rows_never_to_available_ones(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    with whatsapp.app_context():
        catalog.set_role("perplexity/sonar", catalog.FALLBACK)
    fake_openrouter.default(
        404, fixture_bytes("error_404_no_endpoints_for_model.json"), path=CHAT_PATH
    )
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    asked = {
        model for body in chats(fake_openrouter) for model in body.get("models", [body["model"]])
    }
    assert asked == {
        "openai/gpt-4o-mini",
        "mistralai/mistral-small-latest",
        "perplexity/sonar",
        "meta-llama/llama-3.3-70b-instruct",
    }
    assert [body for _, body, _ in fake_graph.sent_texts()] == [FALLBACK_REPLY]


def test_a_model_made_available_is_no_longer_asked_when_the_default_fails(
    client, whatsapp, worker, fake_openrouter, fake_graph
):
    with whatsapp.app_context():
        catalog.set_role("mistralai/mistral-small-latest", catalog.AVAILABLE)
    fake_openrouter.reply("From the fallback.", model="meta-llama/llama-3.3-70b-instruct")
    post_webhook(client, fixture("text.json"))
    wait_for(lambda: finished(whatsapp))
    assert chats(fake_openrouter)[0]["models"] == [
        "openai/gpt-4o-mini",
        "meta-llama/llama-3.3-70b-instruct",
    ]


def test_models_list_shows_each_role(runner):
    lines = runner.invoke(args=["models", "list"]).output.splitlines()
    roles = {line.split()[1]: line.split()[2] for line in lines}
    assert roles["openai/gpt-4o-mini"] == "default"
    assert roles["mistralai/mistral-small-latest"] == "fallback"
    assert roles["openai/gpt-4o"] == "available"


def test_models_fallback_available_disable_and_enable_set_the_role(runner, app):
    def role():
        with app.app_context():
            return catalog.find("openai/gpt-4o").role

    assert runner.invoke(args=["models", "fallback", "openai/gpt-4o"]).exit_code == 0
    assert role() == "fallback"
    runner.invoke(args=["models", "disable", "openai/gpt-4o"])
    assert role() == "disabled"
    result = runner.invoke(args=["models", "enable", "openai/gpt-4o"])
    assert "openai/gpt-4o is available." in result.output and role() == "available"


def test_models_add_makes_a_new_model_available_not_a_fallback(runner, app):
    result = runner.invoke(args=["models", "add", "x-ai/grok-4"])
    assert "as available" in result.output
    with app.app_context():
        assert "x-ai/grok-4" not in catalog.fallback_chain() and catalog.usable("x-ai/grok-4")


def test_models_default_says_the_previous_default_is_now_available(runner):
    result = runner.invoke(args=["models", "default", "openai/gpt-4o"])
    assert result.exit_code == 0
    assert "openai/gpt-4o-mini is now available (not a fallback)." in result.output


def test_the_upgrade_keeps_the_owners_default_and_makes_only_two_starting_models_fallbacks(app):
    with app.app_context():
        downgrade(revision="0004_delivery_core")
        db.session.execute(text(
            "UPDATE ai_models SET is_default = (model_id = 'anthropic/claude-sonnet-4-6'), "
            "enabled = (model_id <> 'mistralai/mistral-small-latest')"
        ))  # fmt: skip
        db.session.execute(text(
            "INSERT INTO ai_models (model_id, label, enabled, is_default, position, created_at) "
            "VALUES ('x-ai/grok-4', 'Grok', true, false, 8, '2026-11-01')"
        ))  # fmt: skip
        db.session.commit()
        upgrade()
        roles = {m.model_id: m.role for m in catalog.all_models()}
    assert roles["anthropic/claude-sonnet-4-6"] == "default"
    assert roles["mistralai/mistral-small-latest"] == "disabled"
    assert [m for m, role in roles.items() if role == "fallback"] == [
        "openai/gpt-4o-mini",
        "meta-llama/llama-3.3-70b-instruct",
    ]
    assert roles["x-ai/grok-4"] == "available"  # added by the owner, never said "fallback"


def test_the_upgrade_can_be_undone_without_losing_the_default(app):
    with app.app_context():
        catalog.make_default("openai/gpt-4o")
        downgrade(revision="0004_delivery_core")
        default = (
            db.session.execute(text("SELECT model_id FROM ai_models WHERE is_default"))
            .scalars()
            .all()
        )
        db.session.commit()  # the migration's connection would wait for this read's lock
        upgrade()
    assert default == ["openai/gpt-4o"]

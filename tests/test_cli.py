"""The command line: admins, settings and the model table, headless."""

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from tests.support.databases import environment_of
from tests.support.processes import ROOT
from tests.support.records import add_contact
from webapp import settings
from webapp.extensions import db
from webapp.models import Setting, User

KEY = "sk-or-v1-aaaabbbbccccddddeeeeffff00001111222233334444555566667777c0de"


def test_create_admin_takes_the_password_from_the_environment(runner, app, monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "from the env 123")
    result = runner.invoke(args=["create-admin", "maria"])
    assert result.exit_code == 0, result.output
    assert "Admin 'maria' created." in result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == "maria"))
        assert user.check_password("from the env 123")


def test_create_admin_prompts_for_the_password(runner, app):
    result = runner.invoke(args=["create-admin", "jan"], input="typed password\ntyped password\n")
    assert result.exit_code == 0, result.output
    assert "typed password" not in result.output


def test_create_admin_refuses_a_short_password(runner, monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "short")
    result = runner.invoke(args=["create-admin", "jan"])
    assert result.exit_code != 0
    assert "at least 8 characters" in result.output


def test_ensure_admin_creates_one_with_a_random_password_only_once(runner, app):
    with app.app_context():
        db.session.execute(db.delete(User))
        db.session.commit()
    first = runner.invoke(args=["ensure-admin"])
    assert "Password, shown only this once:" in first.output
    password = first.output.rsplit(":", 1)[1].strip()
    with app.app_context():
        assert db.session.scalar(select(User)).check_password(password)
    second = runner.invoke(args=["ensure-admin"])
    assert second.output == ""


def test_settings_set_and_get_mask_secrets(runner, app):
    result = runner.invoke(args=["settings", "set", "openrouter_api_key", KEY])
    assert result.exit_code == 0, result.output
    assert KEY not in result.output
    assert "sk-or-…c0de" in runner.invoke(args=["settings", "get", "openrouter_api_key"]).output
    listing = runner.invoke(args=["settings", "list"]).output
    assert "sk-or-…c0de" in listing and KEY not in listing
    for name in settings.SPECS:
        assert name in listing


SECRET_NAMES = [name for name, spec in settings.SPECS.items() if spec.secret]
ON_THE_COMMAND_LINE = "typed on the command line, where other users of this machine can see it"


def stored_secret(app, name: str) -> tuple[str, str]:
    """The secret as the database holds it, and as Switchboard reads it."""
    with app.app_context():
        raw = db.session.scalar(select(Setting.value).where(Setting.name == name))
        return raw, settings.get(name)


def test_a_secret_piped_to_settings_set_is_stored_encrypted_and_never_printed(app):
    command = [sys.executable, "-m", "flask", "--app", "wsgi"]
    done = subprocess.run(
        [*command, "settings", "set", "openrouter_api_key", "-"],
        input=KEY + "\n", cwd=ROOT, env={**os.environ, **environment_of(app)},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "openrouter_api_key = sk-or-…c0de\n"
    assert KEY not in done.stderr and ON_THE_COMMAND_LINE not in done.stderr
    raw, read = stored_secret(app, "openrouter_api_key")
    assert read == KEY and KEY not in raw


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_a_secret_left_out_of_settings_set_is_asked_for_without_echo(runner, app, name):
    secret = f"typed-{name}-5f3a9c0e7b21d4"
    result = runner.invoke(args=["settings", "set", name], input=secret + "\n")
    assert result.exit_code == 0, result.output
    assert f"{settings.SPECS[name].label}: " in result.output  # the prompt
    assert secret not in result.output and ON_THE_COMMAND_LINE not in result.output
    assert f"{name} = typ…21d4\n" in result.output  # masked, for the owner to check
    raw, read = stored_secret(app, name)
    assert read == secret and secret not in raw


def test_a_secret_on_the_command_line_is_still_saved_with_a_warning(runner, app):
    result = runner.invoke(args=["settings", "set", "whatsapp_app_secret", "appsecret123456"])
    assert result.exit_code == 0, result.output
    assert ON_THE_COMMAND_LINE in result.stderr
    assert "settings set whatsapp_app_secret - < FILE" in result.stderr
    assert stored_secret(app, "whatsapp_app_secret")[1] == "appsecret123456"


def test_settings_set_still_needs_a_value_for_a_setting_that_is_no_secret(runner, app):
    result = runner.invoke(args=["settings", "set", "max_tokens"], input="500\n")
    assert result.exit_code == 2
    assert "Missing argument 'VALUE'" in result.output


def test_settings_set_refuses_a_bad_value_with_a_clear_message(runner, app):
    result = runner.invoke(args=["settings", "set", "request_timeout", "900"])
    assert result.exit_code != 0
    assert "between 1 and 300" in result.output
    assert runner.invoke(args=["settings", "get", "request_timeout"]).output.strip() == "30"


def test_settings_set_refuses_an_unknown_name(runner):
    result = runner.invoke(args=["settings", "set", "colour", "blue"])
    assert result.exit_code != 0
    assert "Unknown setting 'colour'" in result.output


def test_settings_set_system_prompt_makes_a_version(runner, app):
    result = runner.invoke(args=["settings", "set", "system_prompt", "We fix phones."])
    assert result.exit_code == 0, result.output
    assert (
        runner.invoke(args=["settings", "get", "system_prompt"]).output.strip() == "We fix phones."
    )


def test_a_setting_changed_by_the_cli_is_seen_by_the_running_app_at_once(runner, admin):
    runner.invoke(args=["settings", "set", "max_tokens", "321"])
    assert 'value="321"' in admin.get("/admin/settings").get_data(as_text=True)


def test_models_commands_manage_the_table(runner):
    assert runner.invoke(args=["models", "add", "x-ai/grok-4", "--label", "Grok"]).exit_code == 0
    assert runner.invoke(args=["models", "default", "x-ai/grok-4"]).exit_code == 0
    assert runner.invoke(args=["models", "disable", "openai/gpt-4o-mini"]).exit_code == 0
    listing = runner.invoke(args=["models", "list"]).output
    grok = next(line for line in listing.splitlines() if "x-ai/grok-4" in line)
    mini = next(line for line in listing.splitlines() if "openai/gpt-4o-mini" in line)
    assert "default" in grok and "Grok" in grok
    assert "disabled" in mini


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "add", "not-a-model"], "is not a model ID"),
        (["models", "default", "acme/unknown"], "is not in the model table"),
        (["models", "disable", "openai/gpt-4o-mini"], "Make another model the default first"),
    ],
)
def test_models_commands_refuse_bad_requests(runner, args, message):
    result = runner.invoke(args=args)
    assert result.exit_code != 0
    assert message in result.output


def test_contacts_pause_prints_a_names_hidden_characters_as_codes(runner, app):
    add_contact(app, "16505551234", "Ana\u202e4321")  # printed as it acts, it turns text around
    result = runner.invoke(args=["contacts", "pause", "16505551234"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Bot paused for Ana<U+202E>4321: ")

"""The Get started steps, done one by one as the owner would leave them in the database."""

from webapp import prompts, settings, state
from webapp.extensions import db
from webapp.models import RequestLog

KEY = "sk-or-v1-getstarted00000000000000000000000000000000000000000000cafe"


def save_key(app) -> None:
    with app.app_context():
        settings.save({"openrouter_api_key": KEY}, author="test")


def key_tested(app, ok: bool = True) -> None:
    with app.app_context():
        if ok:
            result = {"ok": True, "label": "shop", "usage": 2.5, "limit": 15.0}
            result |= {"limit_remaining": 12.5, "is_free_tier": False, "at": "now"}
        else:
            result = {"ok": False, "kind": "invalid_key", "message": "No auth", "at": "now"}
        state.put("key_test", result)


def write_prompt(app) -> None:
    with app.app_context():
        prompts.save_version("You answer for Bram's Bikes in Ghent. Open 9-18.", "test")


def tried_it(app) -> None:
    """An answer in Try it: a playground call that worked."""
    with app.app_context():
        db.session.add(
            RequestLog(channel="playground", model_requested="openai/gpt-4o-mini", status="ok")
        )
        db.session.commit()


def connect_whatsapp(app) -> None:
    with app.app_context():
        settings.save(
            {
                "whatsapp_access_token": "EAAG-getstarted-token",
                "whatsapp_phone_number_id": "106540352242922",
                "whatsapp_app_secret": "getstarted-app-secret",
                "whatsapp_verify_token": "let-me-in",
                "public_url": "https://shop.example",
            },
            author="test",
        )
        state.put("webhook_verified", {"at": "2026-12-07 10:00"})


def finish_setup(app) -> None:
    for step in (save_key, key_tested, write_prompt, tried_it, connect_whatsapp):
        step(app)

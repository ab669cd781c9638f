"""A populated install and the settings form, as the owner fills it in."""

from webapp import media_store, prompts, settings, tokens
from webapp.extensions import db
from webapp.models import Contact, Message, RequestLog

KEY = "sk-or-v1-0123456789abcdef0123456789abcdef0123456789abcdef1a2b"


SECRETS = {  # what a populated install stores
    "openrouter_api_key": "sk-or-v1-copy-test-key-00000000000000000000000000000000000000c0de",
    "whatsapp_access_token": "EAAG-copy-test-token",
    "whatsapp_app_secret": "copy-test-app-secret",
}


LOG_ROWS = 12


def form(**changes):
    """Every field of the settings page as the browser sends it, with some changed."""
    values = {
        "openrouter_api_key": "",
        "openrouter_base_url": "https://openrouter.ai/api/v1",
        "request_timeout": "30",
        "max_tokens": "1000",
        "public_url": "",
        "provider_sort": "none",
        "provider_data_collection": "allow",
        "memory_turns": "10",
        "merge_window_seconds": "2",
        "answer_within_seconds": "120",
        "fallback_reply": "Sorry, not now.",
        "non_text_reply": "Text only, please.",
        "whatsapp_access_token": "",
        "whatsapp_phone_number_id": "",
        "whatsapp_app_secret": "",
        "whatsapp_verify_token": "",
        "whatsapp_api_base_url": "https://graph.facebook.com/v25.0",
        "transcription_model": "openai/whisper-1",
        "image_model": "auto",
        "sticker_reply": "",
        "media_limit_mb": "16",
        "media_quota_mb_per_day": "100",
        "media_quota_reply": "Enough files for today, please.",
        "retention_days": "90",
        "knowledge_inline_tokens": "8000",
        "knowledge_chunks": "6",
        "embedding_model": "openai/text-embedding-3-small",
        "business_name": "",
        "after_hours": "answer",
        "after_hours_note": "We're closed now.",
        "away_message": "We're away.",
        "always_tell": "business,date,hours,customer_name",
        "whatsapp_business_account_id": "",
        "owner_numbers": "",
        "handoff_reply": "A person will answer.",
        "handoff_keywords": "human, person",
        "takeover_minutes": "30",
        "owner_alert_template": "",
        "smtp_host": "",
        "smtp_port": "587",
        "smtp_tls": "starttls",
        "smtp_user": "",
        "smtp_password": "",
        "alert_email_from": "",
        "alert_email_to": "",
        "monthly_budget": "",
        "daily_budget": "",
        "budget_action": "cheapest",
        "max_turns_per_customer_per_hour": "30",
        "max_cost_per_customer_per_day": "",
        "limit_reply": "That's a lot of messages; more later.",
    }
    values.update(changes)
    return values


def section_form(section: str, **changes):
    """One part of the settings page as its own form sends it: that part's fields, its name,
    and the button pressed (`action`: save, test-key or test-whatsapp)."""
    values = {n: v for n, v in form().items() if settings.SPECS[n].section == section}
    values.update(section=section.lower(), action="save")
    values.update(changes)
    return values


def stored(app, name):
    with app.app_context():
        return settings.get(name)


STARTING_IDS = [
    "openai/gpt-4o-mini",
    "openai/gpt-4o",
    "anthropic/claude-sonnet-4-6",
    "google/gemini-3.5-flash",
    "mistralai/mistral-small-latest",
    "perplexity/sonar",
    "meta-llama/llama-3.3-70b-instruct",
]


PHOTO = b"\xff\xd8\xff\xe0 a red bicycle " * 50


def populate(app, secrets: dict = SECRETS) -> None:
    """Secrets, a second prompt, a flow key, a customer's photo with its answer, log rows."""
    with app.app_context():
        settings.save(dict(secrets), author="test")
        prompts.save_version("You sell bicycles in Utrecht.", "owner")
        tokens.create("wa-expert")
        contact = Contact(customer_id="31600000001", phone="31600000001", profile_name="Ana")
        db.session.add(contact)
        db.session.flush()
        photo = media_store.store(PHOTO, media_store.folder(), "image/jpeg")
        question = Message(
            contact_id=contact.id, direction="in", author="customer", type="image",
            text="Is this one in stock?", state="answered", media_file=photo.name,
            media_mime=photo.mime_type, media_size=photo.size,
        )  # fmt: skip
        db.session.add(question)
        db.session.flush()
        db.session.add(
            Message(contact_id=contact.id, direction="out", author="bot",
                    text="Yes, in red and in blue.", state="sent", reply_to_id=question.id)
        )  # fmt: skip
        db.session.add_all(
            RequestLog(channel="whatsapp", contact_id=contact.id, message_id=question.id,
                       status="ok", model_requested="openai/gpt-4o-mini", latency_ms=100 + i)
            for i in range(LOG_ROWS)
        )  # fmt: skip
        db.session.commit()

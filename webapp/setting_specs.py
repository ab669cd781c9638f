"""The owner's settings as a table: names, labels, help, defaults and limits of each."""

from collections.abc import Callable
from dataclasses import dataclass

from .clients.openrouter import DATA_COLLECTION, PROVIDER_SORTS
from .display.zones import server_zone


@dataclass(frozen=True)
class Spec:
    name: str
    label: str
    help: str
    section: str
    kind: str = "line"  # line, phrase, text, int, bool, secret, url, digits, choice, model,
    # timezone, flags (a comma-separated set of `choices`), hours (opening hours JSON),
    # numbers (comma-separated phone numbers), emails (comma-separated e-mail addresses),
    # dollars (an amount of money, empty = none)
    default: str | int | Callable[[], str] = ""  # a callable: found when asked, never at import
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] = ()  # the words a "choice" takes (a "model": besides an ID)

    @property
    def secret(self) -> bool:
        return self.kind == "secret"


SPECS: dict[str, Spec] = {
    spec.name: spec
    for spec in (
        Spec(
            "openrouter_api_key",
            "OpenRouter API key",
            "From openrouter.ai/settings/keys; it starts with sk-or-.",
            "OpenRouter",
            kind="secret",
        ),
        Spec(
            "openrouter_base_url",
            "API base URL",
            "Any OpenAI-compatible API works.",
            "OpenRouter",
            kind="url",
            default="https://openrouter.ai/api/v1",
        ),
        Spec(
            "request_timeout",
            "Request timeout (seconds)",
            "How long to wait for the model before giving up (1–300).",
            "Advanced",
            kind="int",
            default=30,
            minimum=1,
            maximum=300,
        ),
        Spec(
            "max_tokens",
            "Maximum reply tokens",
            "WhatsApp replies are short; a high limit "
            "can make OpenRouter refuse with 'requires more credits'.",
            "Advanced",
            kind="int",
            default=1000,
            minimum=1,
            maximum=200000,
        ),
        Spec(
            "provider_sort",
            "Provider order",
            "Which providers of a model OpenRouter tries first: none (its own balance of price "
            "and uptime), price (cheapest), throughput (fastest writing) or latency (quickest "
            "first word).",
            "Advanced",
            kind="choice",
            default="none",
            choices=PROVIDER_SORTS,
        ),
        Spec(
            "provider_data_collection",
            "Providers that keep prompts",
            "deny: customers' messages only go to providers that do not store or train on "
            "them. Fewer providers serve a model then, so some models become slower, dearer "
            "or unavailable (model_not_found). allow: every provider.",
            "Advanced",
            kind="choice",
            default="allow",
            choices=DATA_COLLECTION,
        ),
        Spec(
            "flow_any_model",
            "Flows may name any model ID in the OpenRouter catalog",
            "Off: a flow may name only the models in the model table that are not disabled. "
            "On: any model ID; OpenRouter answers 'model not found' for one it does not know.",
            "Advanced",
            kind="bool",
            default=False,
        ),
        Spec(
            "system_prompt",
            "System prompt",
            "Edited with history on the Prompt page.",
            "Assistant",
            kind="text",
        ),
        Spec(
            "memory_turns",
            "Memory (exchanges)",
            "How many earlier exchanges with the same customer the model sees (0–50).",
            "Assistant",
            kind="int",
            default=10,
            minimum=0,
            maximum=50,
        ),
        Spec(
            "fallback_reply",
            "Fallback reply",
            "Sent when the model cannot answer after retries. Leave empty to send nothing.",
            "Assistant",
            kind="text",
            default="Sorry, we can't answer right now. We'll get back to you soon.",
        ),
        Spec(
            "non_text_reply",
            "Reply to non-text messages",
            "Sent for messages the bot cannot read: videos, documents other than PDF, "
            "contacts, and voice notes or photos when no model can take them (see 'Model for "
            "photos' and 'Voice-note transcription model'). Leave empty to send nothing.",
            "Assistant",
            kind="text",
            default="Sorry, I can only read text, voice notes and photos for now.",
        ),
        Spec(
            "merge_window_seconds",
            "Wait for a burst (seconds)",
            "Customers often write in bursts ('hi' / 'I ordered yesterday' / 'where is it?'). "
            "The assistant waits until they have been quiet this long and answers everything "
            "at once (0–60; 0 answers each message at once).",
            "Advanced",
            kind="int",
            default=2,
            minimum=0,
            maximum=60,
        ),
        Spec(
            "answer_within_seconds",
            "Answer within (seconds)",
            "The longest a customer waits once their turn starts, the wait for a burst, "
            "their files and the send included: retries and fallback models stop in time, "
            "and the fallback reply is sent instead (10–600).",
            "Advanced",
            kind="int",
            default=120,
            minimum=10,
            maximum=600,
        ),
        Spec(
            "whatsapp_access_token",
            "Access token",
            "From your Meta app: a System User token (the dashboard's temporary one lasts "
            "24 hours).",
            "WhatsApp",
            kind="secret",
        ),
        Spec(
            "whatsapp_phone_number_id",
            "Phone number ID",
            "The number's ID from WhatsApp > API Setup (digits, not the phone number).",
            "WhatsApp",
            kind="digits",
        ),
        Spec(
            "whatsapp_app_secret",
            "App secret",
            "Meta app > Settings > Basic. Used to check that webhooks really come from Meta.",
            "WhatsApp",
            kind="secret",
        ),
        Spec(
            "whatsapp_verify_token",
            "Verify token",
            "Any phrase; paste the same one into Meta's webhook setup.",
            "WhatsApp",
        ),
        Spec(
            "public_url",
            "Public address",
            "Where customers and Meta reach Switchboard, e.g. https://shop.example. Sent to "
            "OpenRouter as the app's address (HTTP-Referer), so its usage pages name your app. "
            "Leave empty to send none.",
            "WhatsApp",
            kind="url",
        ),
        Spec(
            "whatsapp_api_base_url",
            "Graph API base URL",
            "Change only for a BSP that forwards the Cloud API.",
            "WhatsApp",
            kind="url",
            default="https://graph.facebook.com/v25.0",
        ),
        Spec(
            "mark_read",
            "Mark messages read and show typing",
            "Customers see blue ticks and 'typing…' while the assistant works on an answer.",
            "WhatsApp",
            kind="bool",
            default=False,
        ),
        Spec(
            "transcription_model",
            "Voice-note transcription model",
            "Voice notes are turned into text by this speech-to-text model of OpenRouter "
            "(openai/whisper-1, or another from openrouter.ai/models with the transcription "
            "output). Leave empty to not transcribe: voice notes then get the non-text reply.",
            "Assistant",
            kind="model",
            default="openai/whisper-1",
        ),
        Spec(
            "image_model",
            "Model for photos",
            "auto: photos go to the default model when it can see images, else to the first "
            "model of the table that can. A model ID: photos always go to that model. off: "
            "photos are not shown to any model (a photo without a caption gets the non-text "
            "reply).",
            "Assistant",
            kind="model",
            default="auto",
            choices=("auto", "off"),
        ),
        Spec(
            "sticker_reply",
            "Reply to stickers",
            "Stickers are never sent to the model. Leave empty to send nothing back.",
            "Assistant",
            kind="text",
        ),
        Spec(
            "media_limit_mb",
            "Largest video or document kept (MB)",
            "Photos are kept up to 5 MB and voice notes up to 16 MB, as WhatsApp allows; "
            "videos and documents up to this size (1–100). A larger file gets the non-text reply.",
            "Advanced",
            kind="int",
            default=16,
            minimum=1,
            maximum=100,
        ),
        Spec(
            "media_quota_mb_per_day",
            "Files per customer per day (MB)",
            "The most one customer's photos, voice notes, videos and documents may take on "
            "this server in any 24 hours (0–10000; 0 = no limit). Past it their files are not "
            "downloaded, their messages are answered from their words, and they get the reply "
            "below once a day.",
            "Advanced",
            kind="int",
            default=100,
            minimum=0,
            maximum=10000,
        ),
        Spec(
            "media_quota_reply",
            "Reply when a customer sends too many files",
            "Sent once a day to a customer past 'Files per customer per day'. Leave empty to "
            "send nothing.",
            "Advanced",
            kind="text",
            default="You've sent a lot of files today; I can't look at more until tomorrow.",
        ),
        Spec(
            "timezone",
            "Your time zone",
            "Times in the admin, the dashboard's days and the log's CSV are in this zone. "
            "Empty: the server's zone.",
            "Assistant",
            kind="timezone",
            default=server_zone,
        ),
        Spec(
            "knowledge_inline_tokens",
            "Send all knowledge up to (tokens)",
            "While everything on the Knowledge page fits in this many tokens, the model gets "
            "all of it with every question; beyond it, only the parts that match the question.",
            "Knowledge",
            kind="int",
            default=8000,
            minimum=0,
            maximum=100000,
        ),
        Spec(
            "knowledge_chunks",
            "Parts of knowledge per question",
            "How many matching parts of your knowledge the model gets when it cannot get all.",
            "Knowledge",
            kind="int",
            default=6,
            minimum=1,
            maximum=30,
        ),
        Spec(
            "embedding_model",
            "Embedding model",
            "Finds knowledge by meaning, not only by the same words; costs a little per "
            "question. Leave empty to match words only.",
            "Knowledge",
            kind="model",
            default="openai/text-embedding-3-small",
        ),
        Spec(
            "business_name",
            "Business name",
            "The model is told it; leave empty if the prompt already says it.",
            "Business",
            kind="phrase",
        ),
        Spec(
            "opening_hours",
            "Opening hours",
            "Edited on the Knowledge page's opening hours.",
            "Business",
            kind="hours",
        ),
        Spec(
            "after_hours",
            "Outside opening hours",
            "answer: as usual (the model knows you are closed); note: answer and add the note "
            "below; away: send the away message, at most once in 12 hours a customer, and "
            "nothing else.",
            "Business",
            kind="choice",
            default="answer",
            choices=("answer", "note", "away"),
        ),
        Spec(
            "after_hours_note",
            "Note added outside opening hours",
            "Added to each answer outside opening hours, when that is chosen above.",
            "Business",
            kind="text",
            default="We're closed right now; a person will follow up when we open.",
        ),
        Spec(
            "away_message",
            "Away message",
            "Sent instead of answers outside opening hours, when that is chosen above.",
            "Business",
            kind="text",
            default="Thanks for your message! We're closed right now and will reply when we open.",
        ),
        Spec(
            "always_tell",
            "What the model is always told",
            "Any of: business, date, hours, customer_name (comma-separated); empty tells nothing.",
            "Business",
            kind="flags",
            default="business,date,hours,customer_name",
            choices=("business", "date", "hours", "customer_name"),
        ),
        Spec(
            "whatsapp_business_account_id",
            "WhatsApp Business Account ID",
            "From WhatsApp > API Setup, beside the phone number ID (digits). Needed to list "
            "your message templates.",
            "WhatsApp",
            kind="digits",
        ),
        Spec(
            "owner_numbers",
            "Your team's WhatsApp numbers",
            "Comma-separated, as you type them (+31 6 1234 5678). They are told when a "
            "customer needs a person, can answer from their phone, and are never answered "
            "as customers.",
            "People",
            kind="numbers",
        ),
        Spec(
            "handoff_reply",
            "Reply when handing to a person",
            "What the customer gets when they are handed to a person. Leave empty to send nothing.",
            "People",
            kind="text",
            default="I'm passing you to someone from our team. They'll reply here as soon as "
            "they can.",
        ),
        Spec(
            "handoff_keywords",
            "Words that ask for a person",
            "Comma-separated; a customer's message with any of these words (or phrases) is "
            "handed to a person, whatever the model thinks.",
            "People",
            kind="phrase",
            default="human, person, agent, staff, someone, real person, operator",
        ),
        Spec(
            "takeover_minutes",
            "Bot resumes after (minutes)",
            "After your team's last reply to a customer, the bot answers them again after "
            "this many minutes (0–10080; 0 = only when you press Done).",
            "People",
            kind="int",
            default=30,
            minimum=0,
            maximum=10080,
        ),
        Spec(
            "pause_on_staff_reply",
            "A reply from the team pauses the bot",
            "When you reply to a customer (here, from your phone or the WhatsApp Business "
            "app), the bot stops answering them until 'Bot resumes after' has passed.",
            "People",
            kind="bool",
            default=True,
        ),
        Spec(
            "owner_alert_template",
            "Alert template",
            "The name of an approved utility template, used to alert a team number that has "
            "not written to your business number in the last 24 hours.",
            "People",
        ),
        Spec(
            "smtp_host",
            "Mail server",
            "For e-mail alerts, e.g. smtp.example.com. Leave empty for no e-mail.",
            "Email alerts",
        ),
        Spec(
            "smtp_port",
            "Mail server port",
            "Usually 587 (STARTTLS) or 465 (TLS).",
            "Email alerts",
            kind="int",
            default=587,
            minimum=1,
            maximum=65535,
        ),
        Spec(
            "smtp_tls",
            "Encryption",
            "starttls (port 587), tls (port 465), or none (only for a mail server on this "
            "machine).",
            "Email alerts",
            kind="choice",
            default="starttls",
            choices=("starttls", "tls", "none"),
        ),
        Spec(
            "smtp_user",
            "Mail user name",
            "Leave empty if the server needs no login.",
            "Email alerts",
        ),
        Spec("smtp_password", "Mail password", "Stored encrypted.", "Email alerts", kind="secret"),
        Spec(
            "alert_email_from",
            "Send alerts from",
            "The sender address, one your mail server may send from.",
            "Email alerts",
            kind="emails",
        ),
        Spec(
            "alert_email_to",
            "Send alerts to",
            "Comma-separated addresses.",
            "Email alerts",
            kind="emails",
        ),
        Spec(
            "monthly_budget",
            "Monthly budget ($)",
            "The most the assistant may spend on models in a calendar month, in dollars (your "
            "time zone's months). Empty = no budget. At 80% you are told; at 100% 'When the "
            "budget is spent' applies.",
            "Money",
            kind="dollars",
        ),
        Spec(
            "daily_budget",
            "Daily budget ($)",
            "The most it may spend in one day, in dollars. Empty = no budget.",
            "Money",
            kind="dollars",
        ),
        Spec(
            "budget_action",
            "When the budget is spent",
            "cheapest: customers are answered by the cheapest model of your table; "
            "fallback_reply: they get the fallback reply and are marked as needing you; "
            "handoff: they get the handoff reply and are handed to your team.",
            "Money",
            kind="choice",
            default="cheapest",
            choices=("cheapest", "fallback_reply", "handoff"),
        ),
        Spec(
            "max_turns_per_customer_per_hour",
            "Answers per customer per hour",
            "The most answers one customer gets in any hour (0–1000; 0 = no limit). Past it "
            "they get the reply below once, then nothing until the hour has passed.",
            "Money",
            kind="int",
            default=30,
            minimum=0,
            maximum=1000,
        ),
        Spec(
            "max_cost_per_customer_per_day",
            "Cost per customer per day ($)",
            "The most answering one customer may cost in a day, in dollars. Empty = no limit.",
            "Money",
            kind="dollars",
        ),
        Spec(
            "limit_reply",
            "Reply when a customer is limited",
            "Sent once to a customer who passed a limit above. Leave empty to send nothing.",
            "Money",
            kind="text",
            default="You've sent a lot of messages; I'll be able to answer again a little later.",
        ),
        Spec(
            "retention_days",
            "Keep conversations and logs (days)",
            "Messages, their files, log rows and trials older than this are deleted; 0 keeps "
            "them forever.",
            "Advanced",
            kind="int",
            default=90,
            minimum=0,
            maximum=3650,
        ),
    )
}

TRUE_WORDS = {"on", "true", "yes", "y", "1"}
FALSE_WORDS = {"off", "false", "no", "n", "0", ""}

# The settings page's parts, each a form saved on its own: what an owner sets first comes first.
SECTIONS = (
    "OpenRouter",
    "WhatsApp",
    "Assistant",
    "Business",
    "Knowledge",
    "People",
    "Email alerts",
    "Money",
    "Advanced",
)

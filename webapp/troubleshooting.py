"""The troubleshooting table: each error kind with symptom, cause and fix in the owner's words."""

from dataclasses import dataclass
from enum import StrEnum


class ErrorKind(StrEnum):
    """Stable identifiers stored in the log, the CSV, filters and API errors."""

    INVALID_KEY = "invalid_key"
    NO_CREDITS = "no_credits"
    MODEL_NOT_FOUND = "model_not_found"
    TIMEOUT = "timeout"
    BAD_RESPONSE = "bad_response"
    RATE_LIMITED = "rate_limited"
    MODERATION = "moderation"
    BAD_REQUEST = "bad_request"
    UPSTREAM_UNAVAILABLE = "upstream_unavailable"
    NETWORK = "network"
    WHATSAPP_AUTH = "whatsapp_auth"
    WHATSAPP_WINDOW = "whatsapp_window"
    WHATSAPP_RATE_LIMITED = "whatsapp_rate_limited"
    WHATSAPP_REJECTED = "whatsapp_rejected"
    WHATSAPP_UNAVAILABLE = "whatsapp_unavailable"
    WHATSAPP_UNKNOWN = "whatsapp_unknown"
    INTERNAL = "internal"
    CUSTOMER_LIMITED = "customer_limited"
    FILE_TOO_HEAVY = "file_too_heavy"
    ALERT_NOT_SENT = "alert_not_sent"
    EMAIL_FAILED = "email_failed"
    BUDGET_EXCEEDED = "budget_exceeded"


@dataclass(frozen=True)
class Trouble:
    kind: ErrorKind
    title: str
    symptom: str
    cause: str
    fix: str
    transient: bool  # retried with backoff before the customer gets the fallback reply
    setting: str | None  # endpoint of the admin page where the fix is made, if any


_SETTINGS = "admin.settings"
_MODELS = "admin.models"

TROUBLES: dict[ErrorKind, Trouble] = {
    t.kind: t
    for t in (
        Trouble(
            ErrorKind.INVALID_KEY,
            "Wrong API key",
            "Every reply fails with HTTP 401.",
            "The OpenRouter key is wrong, was deleted, or was sent without the 'Bearer ' prefix.",
            "Paste the key again on the Settings page; an OpenRouter key starts with sk-or-. "
            "Then press Test key.",
            transient=False,
            setting=_SETTINGS,
        ),
        Trouble(
            ErrorKind.NO_CREDITS,
            "Out of credits",
            "Replies fail with HTTP 402, sometimes saying the request "
            "'requires more credits, or fewer max_tokens'.",
            "The OpenRouter account has run out of credits, or the longest reply allowed "
            "(max_tokens) would cost more than the remaining balance can pay for.",
            "Add credits at openrouter.ai/settings/credits, or lower 'Maximum reply tokens' on "
            "the Settings page. Test key shows how much credit is left.",
            transient=False,
            setting=_SETTINGS,
        ),
        Trouble(
            ErrorKind.MODEL_NOT_FOUND,
            "Model not found",
            "Replies fail with HTTP 404 'No endpoints found', or HTTP 400 "
            "'... is not a valid model ID'.",
            "The model ID is misspelled or the model was retired, or your OpenRouter provider "
            "settings allow no provider that serves it.",
            "Check the ID against the catalog on the Models page, where the closest current IDs "
            "are suggested, and pick a model that exists today.",
            transient=False,
            setting=_MODELS,
        ),
        Trouble(
            ErrorKind.TIMEOUT,
            "Model too slow",
            "Replies fail after waiting the whole request timeout (or with HTTP 408).",
            "The model took longer to answer than the timeout allows; large and 'thinking' "
            "models can need a minute or more.",
            "Pick a faster model on the Models page, or raise 'Request timeout' on the "
            "Settings page.",
            transient=True,
            setting=_SETTINGS,
        ),
        Trouble(
            ErrorKind.BAD_RESPONSE,
            "Unexpected answer",
            "The API answered, but without reply text: an empty answer, an error inside a "
            "successful response, or a page that is not JSON.",
            "The answer had a different structure than a chat reply: a proxy or error page, a "
            "provider hiccup, or a model that used all its tokens before writing anything.",
            "Open the request in the log; the raw answer is kept there for inspection. If it "
            "keeps happening with one model, choose another one or check the API base URL.",
            transient=False,
            setting=None,
        ),
        Trouble(
            ErrorKind.RATE_LIMITED,
            "Too many requests",
            "Replies fail with HTTP 429.",
            "The model or your account received more requests than it allows per minute; free "
            "(:free) models have tight limits.",
            "Nothing to do for a short burst: Switchboard waits and tries again. If it keeps "
            "happening, choose a paid model or add credits.",
            transient=True,
            setting=_MODELS,
        ),
        Trouble(
            ErrorKind.MODERATION,
            "Message flagged",
            "A reply fails with HTTP 403 and a reason such as 'harassment'.",
            "The model's provider checks every message and flagged this one, or one of your "
            "OpenRouter guardrails blocked it. No credits were charged.",
            "Read the reason in the log. If the message was harmless, choose a model on the "
            "Models page whose provider does not check messages.",
            transient=False,
            setting=_MODELS,
        ),
        Trouble(
            ErrorKind.BAD_REQUEST,
            "Request refused",
            "Replies fail with HTTP 400, 413 or 422 and the provider's message.",
            "The provider refused something in the request: an empty message, a conversation "
            "too long for the model, or a setting the model does not support.",
            "Read the provider's message in the log. Lowering 'Memory' or 'Maximum reply tokens' "
            "on the Settings page, or choosing another model, usually helps.",
            transient=False,
            setting=_SETTINGS,
        ),
        Trouble(
            ErrorKind.UPSTREAM_UNAVAILABLE,
            "Provider down",
            "Replies fail with HTTP 502, 503 or another 5xx error.",
            "The model's provider, or OpenRouter itself, is down or overloaded for a moment.",
            "Nothing to do for a short outage: Switchboard tries again and then uses your "
            "fallback models. Keep more than one model enabled on the Models page.",
            transient=True,
            setting=_MODELS,
        ),
        Trouble(
            ErrorKind.NETWORK,
            "Cannot reach the API",
            "Replies fail without any HTTP status: connection refused, name not found, or a "
            "certificate error.",
            "This server cannot reach the API: no internet, a firewall, or a wrong API base URL.",
            "Check that this server is online and that 'API base URL' on the Settings page is "
            "right (normally https://openrouter.ai/api/v1).",
            transient=True,
            setting=_SETTINGS,
        ),
        Trouble(
            ErrorKind.WHATSAPP_AUTH,
            "WhatsApp token expired",
            "Replies are written but not delivered; Meta answers HTTP 401 or error 190.",
            "The WhatsApp access token expired or is wrong. Temporary tokens from the Meta "
            "dashboard last only 24 hours.",
            "Create a permanent System User token in Meta Business Settings and paste it as "
            "'Access token' on the Settings page.",
            transient=False,
            setting=_SETTINGS,
        ),
        Trouble(
            ErrorKind.WHATSAPP_WINDOW,
            "Outside the 24-hour window",
            "A reply is not delivered and Meta reports error 131047.",
            "WhatsApp lets a business send normal messages only within 24 hours of the "
            "customer's last message.",
            "Send an approved message template (the conversation's reply box offers them once "
            "synced on the Templates page), or wait for the customer to write again.",
            transient=False,
            setting=None,
        ),
        Trouble(
            ErrorKind.WHATSAPP_RATE_LIMITED,
            "Sending too fast",
            "Replies arrive late; Meta answers HTTP 429 or error 130429 or 131056.",
            "Too many messages went out in a short time, overall or to the same customer.",
            "Nothing to do: Switchboard waits and tries again. If it happens often, your "
            "number's messaging limit may need to grow in WhatsApp Manager.",
            transient=True,
            setting=None,
        ),
        Trouble(
            ErrorKind.WHATSAPP_REJECTED,
            "Message rejected by WhatsApp",
            "A reply is not delivered and Meta answers with an error code and message.",
            "Meta refused the message: for example a wrong phone number ID, a customer who is "
            "not on the test number's allowed list, or a problem with the business account.",
            "Read Meta's message and code in the log. Check 'Phone number ID' on the Settings "
            "page and the number's status in WhatsApp Manager.",
            transient=False,
            setting=_SETTINGS,
        ),
        Trouble(
            ErrorKind.WHATSAPP_UNAVAILABLE,
            "WhatsApp unreachable",
            "Replies arrive late or not at all; WhatsApp cannot be reached, or Meta answers "
            "with a 5xx error.",
            "Meta's servers are having trouble, or this server cannot reach graph.facebook.com.",
            "Nothing to do for a short outage: Switchboard tries again, but a reply only when "
            "it surely did not go out (the connection was refused, or Meta's error says the "
            "message was not taken). If it lasts, check this server's internet connection and "
            "'Graph API base URL' on the Settings page.",
            transient=True,
            setting=_SETTINGS,
        ),
        Trouble(
            ErrorKind.WHATSAPP_UNKNOWN,
            "Send outcome unknown",
            "A reply is marked 'may not have arrived': the message went out to WhatsApp, but no "
            "clear answer came back (a timeout, a dropped connection, or an error page such as "
            "'502 Bad Gateway').",
            "The connection to Meta timed out or broke after the message was sent, or Meta "
            "answered with a 5xx error that does not say whether it took the message (such an "
            "error can come after it did), so nobody knows whether the customer got it.",
            "Switchboard never sends it again by itself, to avoid a double answer. Open the "
            "conversation and press Send again if the customer did not get it.",
            transient=False,
            setting=None,
        ),
        Trouble(
            ErrorKind.INTERNAL,
            "Switchboard error",
            "A reply failed without any answer from OpenRouter or WhatsApp; the log row's kind "
            "is 'internal'.",
            "Something inside Switchboard failed: stored secrets it cannot decrypt (SECRET_KEY "
            "changed), a database error, or a bug.",
            "See the server log: the details and the traceback are there. If stored secrets are "
            "unreadable, restore the old SECRET_KEY, list it in SECRET_KEY_FALLBACKS, or enter "
            "the secrets again. A turn is tried 3 times, then the customer gets the fallback "
            "reply.",
            transient=False,
            setting=None,
        ),
        Trouble(
            ErrorKind.CUSTOMER_LIMITED,
            "Customer limited",
            "A customer is no longer answered, or their files are not downloaded; the log "
            "says they passed their limit.",
            "One customer (or flow key) passed a limit of the Money or Advanced settings: "
            "'Answers per customer per hour', 'Cost per customer per day', or 'Files per "
            "customer per day'. They were told once (the limit reply); until the period ends "
            "their messages are kept but not answered, and their files are not downloaded.",
            "Nothing to do for a stranger flooding the number: the limits protect your budget "
            "and the server's disk. For a real customer, press Lift on their conversation (or "
            "`contacts lift NUMBER`), or raise the limit on the Settings page.",
            transient=False,
            setting=_SETTINGS,
        ),
        Trouble(
            ErrorKind.BUDGET_EXCEEDED,
            "Budget spent",
            "Customers get the cheapest model's answers, the fallback reply or the handoff "
            "reply; Try it and Compare refuse to start; flows get HTTP 402.",
            "The daily or monthly budget on the Settings page is spent. Calls already under way "
            "when it was reached were allowed to finish.",
            "Raise the budget (it applies at once) or wait for the next day or month. 'When the "
            "budget is spent' says what customers get meanwhile.",
            transient=False,
            setting=_SETTINGS,
        ),
        Trouble(
            ErrorKind.FILE_TOO_HEAVY,
            "File too heavy to read",
            "A customer's PDF was answered as one the assistant cannot read, and the log says "
            "reading it was stopped.",
            "Reading the file needed more time or memory than one file may take (10 seconds, "
            "256 MB), or parts of it unpack to more than 10 MB: a very long or unusually built "
            "PDF, or one made on purpose to slow a server down. Other customers' answers were "
            "not held up.",
            "Nothing to change. If a real customer sent it, ask them for the pages that matter "
            "or for the text itself.",
            transient=False,
            setting=None,
        ),
        Trouble(
            ErrorKind.ALERT_NOT_SENT,
            "Team not told on WhatsApp",
            "A customer needs a person, but a team number got no WhatsApp alert.",
            "WhatsApp lets the business number write freely only to people who wrote to it in "
            "the last 24 hours. That team number has not, and no approved alert template is "
            "set (or the one set is not approved).",
            "Have each team number send any message (such as 'list') to your business number "
            "once a day, or set 'Alert template' on the Settings page to an approved utility "
            "template (Templates page, Sync).",
            transient=False,
            setting=_SETTINGS,
        ),
        Trouble(
            ErrorKind.EMAIL_FAILED,
            "E-mail alert not sent",
            "A customer needs a person, but the alert e-mail could not be sent.",
            "The mail server could not be reached, refused the login, or refused an address.",
            "Check the 'Email alerts' settings and press Send a test e-mail; the log row shows "
            "the mail server's own words.",
            transient=False,
            setting=_SETTINGS,
        ),
    )
}

TRANSIENT_KINDS: frozenset[ErrorKind] = frozenset(k for k, t in TROUBLES.items() if t.transient)


def trouble(kind: str | ErrorKind) -> Trouble:
    """The table row for `kind`; raises ValueError for a kind the table does not know."""
    try:
        return TROUBLES[ErrorKind(kind)]
    except ValueError:
        raise ValueError(f"unknown error kind: {kind!r}") from None


class UpstreamError(Exception):
    """A failed call to OpenRouter or the Graph API, classified into exactly one ErrorKind.

    Subclasses are dataclasses with at least `kind`, `message` (safe to show), `http_status`,
    `retry_after` and `raw_body`; this base gives them what they share.
    """

    def __post_init__(self):
        self.kind = ErrorKind(self.kind)
        super().__init__(self.message)

    @property
    def trouble(self) -> Trouble:
        return trouble(self.kind)

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.kind.value!r}, {self.message!r}, {self.http_status!r})"

    def __reduce__(self):  # Exception's own pickling would drop every field but the message
        return (type(self), (self.kind, self.message), self.__dict__)

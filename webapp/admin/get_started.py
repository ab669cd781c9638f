"""Get started: the five steps from a fresh install to answering on WhatsApp, shown at the top of
the dashboard until each is done, and the check that Meta can reach the webhook URL."""

import ipaddress
from dataclasses import dataclass

from sqlalchemy import select

from .. import catalog, prompts, settings, state
from ..destinations import host_of
from ..extensions import db
from ..models import RequestLog

WHATSAPP_SECRETS = ("whatsapp_access_token", "whatsapp_phone_number_id", "whatsapp_app_secret")


@dataclass(frozen=True)
class Steps:
    key_saved: bool
    key_works: bool
    default_model: bool
    prompt_written: bool
    tried: bool
    whatsapp_saved: bool
    webhook_verified: bool

    @property
    def key(self) -> bool:
        return self.key_saved and self.key_works

    @property
    def whatsapp(self) -> bool:
        return self.whatsapp_saved and self.webhook_verified

    @property
    def done(self) -> int:
        return sum((self.key, self.default_model, self.prompt_written, self.tried, self.whatsapp))

    @property
    def complete(self) -> bool:
        return self.done == 5


def steps() -> Steps:
    return Steps(
        key_saved=settings.is_set("openrouter_api_key"),
        key_works=bool((state.get("key_test") or {}).get("ok")),
        default_model=catalog.default_model() is not None,
        prompt_written=prompts.current_text() != prompts.INITIAL_PROMPT,
        tried=tried_it(),
        whatsapp_saved=all(settings.is_set(name) for name in WHATSAPP_SECRETS),
        webhook_verified=bool(state.get("webhook_verified")),
    )


def tried_it() -> bool:
    """Whether the owner has had an answer in Try it (or a trial): a playground call that worked."""
    answered = select(RequestLog.id).where(
        RequestLog.channel == "playground", RequestLog.status == "ok"
    )
    return db.session.scalar(answered.limit(1)) is not None


def unreachable_reason(url: str) -> str | None:
    """Why Meta could not deliver to `url`, in the owner's words; None when it looks public."""
    scheme, host, _port = host_of(url)
    if scheme != "https":
        return "it is not HTTPS: Meta only calls https:// addresses"
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan")):
        return f"{host} is a name only this network knows"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None if "." in host else f"{host} is a name only this network knows"
    if address.is_loopback:
        return f"{host} is this machine's own address"
    if not address.is_global:
        return f"{host} is a private address"
    return None

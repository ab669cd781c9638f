"""The owner's checks of the setup: the OpenRouter key, the WhatsApp token and number, the model
IDs against the catalog."""

from dataclasses import asdict

from flask import current_app

from . import catalog, catalog_data, destinations, settings, state
from .clients.openrouter import OpenRouterClient, closest_model_ids
from .clients.openrouter_errors import OpenRouterError
from .clients.whatsapp import WhatsAppClient
from .clients.whatsapp_errors import WhatsAppError
from .crypto import SecretUnreadable
from .snapshot import Snapshot
from .troubleshooting import ErrorKind, trouble

CATALOG_JOB_TIMEOUT = 20.0  # seconds; the worker's periodic jobs must not hang


def openrouter_client(typed: str = "", typed_base_url: str = "") -> OpenRouterClient:
    """A client with the key, base URL and timeout as they are stored right now; or with a
    key typed on the settings page, at the address typed beside it (else the stored one)."""
    snapshot = Snapshot.load(current_app.config)
    if not typed:
        return snapshot.openrouter()
    return OpenRouterClient(
        api_key=typed,
        base_url=(typed_base_url or str(snapshot["openrouter_base_url"])).rstrip("/"),
        timeout=float(snapshot["request_timeout"]),
        app_url=str(snapshot["public_url"]),
    )


def _failure(kind: ErrorKind | str, message: str) -> dict:
    return {"ok": False, "kind": str(kind), "message": message, "fix": trouble(kind).fix}


def _shown(exc: OpenRouterError, base_url: str) -> str:
    """What a page may repeat of a failed check: the words of a server other than OpenRouter
    are not shown (the admin may not have chosen that host; its answer could say anything),
    only their kind. Failures that never got an answer are described in our own words."""
    if exc.http_status is None or destinations.is_openrouter(base_url):
        return exc.message
    host = destinations.host_of(base_url)[1]
    return f"The answer came from {host}, not from OpenRouter: only its kind is shown here."


def test_key(typed: str = "", typed_base_url: str = "") -> dict:
    """Ask OpenRouter about a key and its credit. A key typed on the settings page is tested
    as typed (at the address typed beside it) and forgotten; the stored key's answer is
    remembered for the dashboard."""
    outcome = _key_outcome(typed.strip(), typed_base_url.strip())
    return outcome if typed.strip() else state.record("key_test", outcome)


def _key_outcome(typed: str, typed_base_url: str) -> dict:
    try:
        if not typed and not settings.is_set("openrouter_api_key"):
            return _failure(ErrorKind.INVALID_KEY, "No key is saved yet.")
        client = openrouter_client(typed, typed_base_url)
        info = client.key_info()
    except SecretUnreadable as exc:
        return _failure(ErrorKind.INVALID_KEY, str(exc))
    except OpenRouterError as exc:
        return _failure(exc.kind, _shown(exc, client.base_url))
    return {
        "ok": True,
        # A label is the server's own words: shown only when OpenRouter said it.
        "label": info.label if destinations.is_openrouter(client.base_url) else None,
        "usage": info.usage,
        "limit": info.limit,
        "limit_remaining": info.limit_remaining,
        "is_free_tier": info.is_free_tier,
    }


def test_whatsapp(typed: str = "", typed_number_id: str = "", typed_base_url: str = "") -> dict:
    """Ask Graph about the phone number ID with the access token: the number's name, number
    and quality, or why not. What was typed on the settings page is tested as typed and
    forgotten; the stored pair's answer is remembered. A stored token only ever goes to the
    stored address."""
    typed, typed_number_id = typed.strip(), typed_number_id.strip()
    remember = not (typed or typed_number_id)
    snapshot = Snapshot.load(current_app.config)
    try:
        token = typed or str(snapshot["whatsapp_access_token"])
    except SecretUnreadable as exc:
        return state.record("whatsapp_test", _failure(ErrorKind.WHATSAPP_AUTH, str(exc)))
    client = WhatsAppClient(
        access_token=token,
        phone_number_id=typed_number_id or str(snapshot["whatsapp_phone_number_id"]),
        base_url=(typed and typed_base_url.strip()) or str(snapshot["whatsapp_api_base_url"]),
        timeout=snapshot.graph_timeout,
    )
    try:
        if not token:
            raise WhatsAppError(ErrorKind.WHATSAPP_AUTH, "No access token is saved yet.")
        outcome = {"ok": True, **asdict(client.phone_number())}
    except WhatsAppError as exc:
        outcome = _failure(exc.kind, str(exc).removeprefix(str(exc.kind)).lstrip(" :"))
    return state.record("whatsapp_test", outcome) if remember else outcome


def check_catalog(timeout: float | None = None) -> dict:
    """Fetch the provider's catalog, keep it (prices, context, input kinds), and flag the
    table's IDs it does not list, with the closest current IDs."""
    try:
        client = openrouter_client()
        if timeout is not None:
            client.timeout = min(client.timeout, timeout)
        fetched = catalog_data.store(client.list_models())
    except SecretUnreadable as exc:
        return state.record("catalog_check", _failure(ErrorKind.INVALID_KEY, str(exc)))
    except OpenRouterError as exc:
        return state.record("catalog_check", _failure(exc.kind, _shown(exc, client.base_url)))
    ids = {listing.model_id for listing in fetched.values()}
    missing = {
        row.model_id: closest_model_ids(row.model_id, ids)
        for row in catalog.all_models()
        if catalog_data.lookup(fetched, row.model_id) is None
    }
    return state.record("catalog_check", {"ok": True, "count": len(ids), "missing": missing})


def daily_catalog_check() -> None:
    """The worker's daily job: only once a key is saved (other OpenAI-compatible APIs need
    one to list their models), and never waiting long on the network."""
    if settings.is_set("openrouter_api_key"):
        check_catalog(timeout=CATALOG_JOB_TIMEOUT)


def flagged_in_chain() -> list[tuple[str, list[str]]]:
    """The default and fallback models the last check did not find, with suggestions."""
    check = state.get("catalog_check") or {}
    missing = check.get("missing", {}) if check.get("ok") else {}
    return [(m, missing[m]) for m in catalog.fallback_chain() if m in missing]

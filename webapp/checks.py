"""The owner's checks of the OpenRouter setup: the key test, the model IDs against the catalog."""

from flask import current_app, has_request_context, request

from . import catalog, catalog_data, destinations, settings, state
from .clients.openrouter import OpenRouterClient, closest_model_ids
from .clients.openrouter_errors import OpenRouterError
from .crypto import SecretUnreadable
from .snapshot import Snapshot
from .troubleshooting import ErrorKind, trouble

CATALOG_JOB_TIMEOUT = 20.0  # seconds; the worker's periodic jobs must not hang


def openrouter_client() -> OpenRouterClient:
    """A client with the key, base URL and timeout as they are stored right now."""
    app_url = request.host_url.rstrip("/") if has_request_context() else ""
    return Snapshot.load(current_app.config, app_url).openrouter()


def _failure(kind: ErrorKind | str, message: str) -> dict:
    return {"ok": False, "kind": str(kind), "message": message, "fix": trouble(kind).fix}


def _shown(exc: OpenRouterError) -> str:
    """What a page may repeat of a failed check: the words of a server other than OpenRouter
    are not shown (the admin may not have chosen that host; its answer could say anything),
    only their kind. Failures that never got an answer are described in our own words."""
    base_url = str(settings.get("openrouter_base_url"))
    if exc.http_status is None or destinations.is_openrouter(base_url):
        return exc.message
    host = destinations.host_of(base_url)[1]
    return f"The answer came from {host}, not from OpenRouter: only its kind is shown here."


def test_key() -> dict:
    """Ask OpenRouter about the stored key and remember the answer for the dashboard."""
    try:
        if not settings.is_set("openrouter_api_key"):
            return state.record("key_test", _failure(ErrorKind.INVALID_KEY, "No key is saved yet."))
        info = openrouter_client().key_info()
    except SecretUnreadable as exc:
        return state.record("key_test", _failure(ErrorKind.INVALID_KEY, str(exc)))
    except OpenRouterError as exc:
        return state.record("key_test", _failure(exc.kind, _shown(exc)))
    base_url = str(settings.get("openrouter_base_url"))
    return state.record(
        "key_test",
        {
            "ok": True,
            # A label is the server's own words: shown only when OpenRouter said it.
            "label": info.label if destinations.is_openrouter(base_url) else None,
            "usage": info.usage,
            "limit": info.limit,
            "limit_remaining": info.limit_remaining,
            "is_free_tier": info.is_free_tier,
        },
    )


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
        return state.record("catalog_check", _failure(exc.kind, _shown(exc)))
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

"""The owner's checks of the OpenRouter setup: the key test, the model IDs against the catalog."""

from flask import current_app, has_request_context, request

from . import catalog, settings, state
from .clients.openrouter import OpenRouterClient, closest_model_ids
from .clients.openrouter_errors import OpenRouterError
from .crypto import SecretUnreadable
from .pipeline import Snapshot
from .troubleshooting import ErrorKind, trouble


def openrouter_client() -> OpenRouterClient:
    """A client with the key, base URL and timeout as they are stored right now."""
    app_url = request.host_url if has_request_context() else "http://localhost"
    return Snapshot.load(current_app.config, app_url).openrouter()


def _failure(kind: ErrorKind | str, message: str) -> dict:
    return {"ok": False, "kind": str(kind), "message": message, "fix": trouble(kind).fix}


def test_key() -> dict:
    """Ask OpenRouter about the stored key and remember the answer for the dashboard."""
    try:
        if not settings.is_set("openrouter_api_key"):
            return state.record("key_test", _failure(ErrorKind.INVALID_KEY, "No key is saved yet."))
        info = openrouter_client().key_info()
    except SecretUnreadable as exc:
        return state.record("key_test", _failure(ErrorKind.INVALID_KEY, str(exc)))
    except OpenRouterError as exc:
        return state.record("key_test", _failure(exc.kind, exc.message))
    return state.record(
        "key_test",
        {
            "ok": True,
            "label": info.label,
            "usage": info.usage,
            "limit": info.limit,
            "limit_remaining": info.limit_remaining,
            "is_free_tier": info.is_free_tier,
        },
    )


def check_catalog() -> dict:
    """Compare the model table with the provider's catalog; suggest IDs for the missing ones."""
    try:
        ids = {str(m["id"]) for m in openrouter_client().list_models() if m.get("id")}
    except (OpenRouterError, SecretUnreadable) as exc:
        kind = getattr(exc, "kind", ErrorKind.INVALID_KEY)
        return state.record("catalog_check", _failure(kind, getattr(exc, "message", str(exc))))
    missing = {
        row.model_id: closest_model_ids(row.model_id, ids)
        for row in catalog.all_models()
        if row.model_id not in ids
    }
    return state.record("catalog_check", {"ok": True, "count": len(ids), "missing": missing})

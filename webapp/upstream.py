"""Builds the outbound clients from the settings in force, and runs the owner's checks of them."""

import threading

import requests
from flask import has_request_context, request

from . import catalog, settings
from .clients.openrouter import OpenRouterClient, closest_model_ids
from .clients.openrouter_errors import OpenRouterError
from .clients.whatsapp import WhatsAppClient
from .crypto import SecretUnreadable
from .troubleshooting import ErrorKind, trouble

_local = threading.local()


def _session() -> requests.Session:
    """One HTTP session a thread, so calls reuse open (TLS) connections instead of a new
    handshake a message; requests does not promise a session is safe across threads."""
    if not hasattr(_local, "session"):
        _local.session = requests.Session()
    return _local.session


def openrouter_client() -> OpenRouterClient:
    """A client with the key, base URL and timeout as they are stored right now."""
    return OpenRouterClient(
        api_key=str(settings.get("openrouter_api_key")),
        base_url=str(settings.get("openrouter_base_url")),
        timeout=float(settings.get("request_timeout")),
        app_url=request.host_url if has_request_context() else "http://localhost",
        session=_session(),
    )


def whatsapp_client() -> WhatsAppClient:
    """A Graph API client with the number and token as they are stored right now."""
    return WhatsAppClient(
        access_token=str(settings.get("whatsapp_access_token")),
        phone_number_id=str(settings.get("whatsapp_phone_number_id")),
        base_url=str(settings.get("whatsapp_api_base_url")),
        timeout=min(float(settings.get("request_timeout")), 30.0),
        session=_session(),
    )


def _failure(kind: ErrorKind | str, message: str) -> dict:
    return {"ok": False, "kind": str(kind), "message": message, "fix": trouble(kind).fix}


def test_key() -> dict:
    """Ask OpenRouter about the stored key and remember the answer for the dashboard."""
    try:
        if not settings.is_set("openrouter_api_key"):
            return settings.record(
                "key_test", _failure(ErrorKind.INVALID_KEY, "No key is saved yet.")
            )
        info = openrouter_client().key_info()
    except SecretUnreadable as exc:
        return settings.record("key_test", _failure(ErrorKind.INVALID_KEY, str(exc)))
    except OpenRouterError as exc:
        return settings.record("key_test", _failure(exc.kind, exc.message))
    return settings.record(
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
        return settings.record("catalog_check", _failure(kind, getattr(exc, "message", str(exc))))
    missing = {
        row.model_id: closest_model_ids(row.model_id, ids)
        for row in catalog.all_models()
        if row.model_id not in ids
    }
    return settings.record("catalog_check", {"ok": True, "count": len(ids), "missing": missing})

"""Checks each delivery (signature, size, JSON), stores it in one commit, says 200."""

from flask import abort, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import crypto, settings, state
from ..clients.whatsapp_webhook import (
    MalformedDelivery,
    parse_webhook,
    read_payload,
    verify_signature,
)
from ..config import WEBHOOK_BODY_LIMIT
from ..extensions import csrf
from ..replies import inbox
from . import bp


@bp.get("/webhook/whatsapp")
def verify():
    expected = str(settings.get("whatsapp_verify_token"))
    given = request.args.get("hub.verify_token", "")
    if request.args.get("hub.mode") != "subscribe" or not expected or given != expected:
        abort(403)
    state.record("webhook_verified", {})
    return request.args.get("hub.challenge", ""), 200, {"Content-Type": "text/plain"}


@bp.post("/webhook/whatsapp")
@csrf.exempt
def receive():
    raw = _body()
    if raw is None:
        limit = WEBHOOK_BODY_LIMIT // 2**20
        return {"error": f"body larger than {limit} MB: Meta never sends more"}, 413
    values = settings.read()
    try:
        secret = str(values["whatsapp_app_secret"])
    except crypto.SecretUnreadable:
        # Secure by default: a delivery that cannot be checked is not trusted.
        state.record_seldom("webhook_refused", {"why": crypto.UNREADABLE})
        return {"error": f"webhook refused: {crypto.UNREADABLE}"}, 403
    if not secret:
        state.record_seldom("webhook_refused", {"why": "no app secret is saved"})
        return {"error": "webhook refused: no WhatsApp app secret is configured"}, 403
    if not verify_signature(secret, raw, request.headers.get("X-Hub-Signature-256")):
        current_app.logger.warning("webhook with a bad or missing signature refused")
        return {"error": "bad or missing X-Hub-Signature-256"}, 401
    try:
        payload = read_payload(raw)
    except MalformedDelivery as exc:
        return {"error": str(exc)}, 400
    number_id = str(values["whatsapp_phone_number_id"]) or None
    inbox.store_delivery(parse_webhook(payload), number_id)
    return {"status": "ok"}, 200


def _body() -> bytes | None:
    """The delivery, or None when it is larger than any Meta sends: refused on its
    Content-Length before a byte is read, or, sent in chunks, cut off at the bound. Before
    the signature: checking one means reading the whole body first."""
    request.max_content_length = WEBHOOK_BODY_LIMIT
    try:
        return request.get_data(cache=False)
    except RequestEntityTooLarge:
        return None

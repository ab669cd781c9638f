"""Checks each delivery (signature, size, JSON), stores it, queues the answers, says 200."""

import json

from flask import abort, current_app, request

from .. import inbox, settings
from ..clients.whatsapp_webhook import parse_webhook, verify_signature
from ..crypto import SecretUnreadable
from ..extensions import csrf
from ..tasks import enqueue_reply
from . import bp


@bp.get("/webhook/whatsapp")
def verify():
    expected = str(settings.get("whatsapp_verify_token"))
    given = request.args.get("hub.verify_token", "")
    if request.args.get("hub.mode") != "subscribe" or not expected or given != expected:
        abort(403)
    settings.record("webhook_verified", {})
    return request.args.get("hub.challenge", ""), 200, {"Content-Type": "text/plain"}


@bp.post("/webhook/whatsapp")
@csrf.exempt
def receive():
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH, Flask answers 413 here
    try:
        secret = str(settings.get("whatsapp_app_secret"))
    except SecretUnreadable:
        secret = ""
    if not secret:
        # Secure by default: without the app secret no delivery can be trusted.
        settings.record("webhook_refused", {"why": "no app secret is saved"})
        return {"error": "webhook refused: no WhatsApp app secret is configured"}, 403
    if not verify_signature(secret, raw, request.headers.get("X-Hub-Signature-256")):
        current_app.logger.warning("webhook with a bad or missing signature refused")
        return {"error": "bad or missing X-Hub-Signature-256"}, 401
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {"error": "the body is not JSON"}, 400
    if not isinstance(payload, dict):
        return {"error": "the body is not a JSON object"}, 400
    for message_id in inbox.store_delivery(parse_webhook(payload)):
        try:
            enqueue_reply(message_id)
        except Exception:  # the queue is down: the message is stored and the sweeper retries it
            current_app.logger.exception("could not queue message %s", message_id)
    return {"status": "ok"}, 200

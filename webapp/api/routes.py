"""The flow API (`POST /api/v1/chat/completions`, `GET /api/v1/models`): thin over flow.py.

An API, so no CSRF token (a bearer token instead), and every error is JSON in OpenRouter's
shape, with a kind and a hint, never an HTML page.
"""

import json

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from .. import tokens
from ..auth import throttle
from ..config import FLOW_BODY_LIMIT
from ..extensions import db, transaction
from ..money import flow_limits
from ..snapshot import Snapshot
from ..troubleshooting import ErrorKind
from . import bp, flow, model_list


def _json(payload: dict, status: int = 200, retry_after: int | None = None) -> Response:
    text = json.dumps(payload, ensure_ascii=False)
    response = Response(text, status, mimetype="application/json")
    if retry_after:
        response.headers["Retry-After"] = str(retry_after)
    return response


@bp.errorhandler(flow.FlowError)
def flow_error(error: flow.FlowError):
    return _json(error.body(), error.status, error.retry_after)


@bp.errorhandler(Exception)
def failed_inside(error: Exception):
    """Anything else is Switchboard's own failure: JSON still, and no detail that could leak."""
    if isinstance(error, HTTPException):
        failure = flow.FlowError(error.code or 500, ErrorKind.BAD_REQUEST, error.description,
                                 flow.SEE_README)  # fmt: skip
        return _json(failure.body(), failure.status)
    current_app.logger.exception("the flow endpoint failed inside Switchboard")
    db.session.rollback()
    message = "Switchboard failed while answering; the details are in the server log."
    failure = flow.FlowError(500, ErrorKind.INTERNAL, message, "See the server log.")
    return _json(failure.body(), 500)


@bp.post("/api/v1/chat/completions")
def chat_completions():
    caller = _caller(request.remote_addr or "unknown")
    try:
        asked = flow.parse(_body())
        snap = Snapshot.load(current_app.config)
        flow.check_models(asked, snap)
        flow.cap_max_tokens(asked, snap)
        flow.route_photos(asked, snap)
        _within_limits(caller, asked, snap)
    except flow.FlowError:
        with transaction():  # refused before asking: still a request made with the token
            tokens.count_use(caller)
        raise
    return _json(flow.answer(asked, caller, snap))


@bp.get("/api/v1/models")
def models():
    """The models a flow may name, for clients that list them first (the same flow key)."""
    _caller(request.remote_addr or "unknown")
    listed = model_list.listed()
    db.session.commit()  # the read ends here
    return _json(listed)


def _within_limits(caller: tokens.Caller, asked: flow.FlowRequest, snap: Snapshot) -> None:
    """A 429 for a flow key or customer past a limit, before anything is spent."""
    if found := flow_limits.check(caller.id, asked.user, snap):
        limited, hint = found
        message = limited.detail(hint)
        wait = flow_limits.retry_after(limited)
        raise flow.FlowError(429, ErrorKind.CUSTOMER_LIMITED, message, hint, wait)


def _body() -> bytes:
    """The body of a caller whose token was accepted: room for a 5 MB photo in base64."""
    request.max_content_length = FLOW_BODY_LIMIT
    try:
        return request.get_data(cache=False)
    except RequestEntityTooLarge:
        limit = FLOW_BODY_LIMIT // 2**20
        raise flow.FlowError.bad_request(f"The body is larger than {limit} MB.", 413) from None


def _caller(address: str) -> tokens.Caller:
    """The token the request came with, or a 401 (429 after too many wrong ones). A right
    token is always accepted: a stranger's wrong keys from a shared address never lock it out."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    caller = tokens.caller(token.strip()) if scheme.lower() == "bearer" else None
    if caller is not None:
        return caller
    if wait := throttle.token_retry_after(address):
        message = f"Too many requests with a wrong flow key from {address}; try again later."
        raise flow.FlowError(429, ErrorKind.RATE_LIMITED, message, flow.BEARER_HINT, wait)
    throttle.record_token_failure(address)
    why = _why_refused(scheme, token)
    raise flow.FlowError(401, ErrorKind.INVALID_KEY, why, flow.BEARER_HINT)


def _why_refused(scheme: str, token: str) -> str:
    """Why a token was refused, without repeating any of it."""
    if not scheme:
        return "No flow key: the request has no 'Authorization: Bearer …' header."
    if scheme.lower() != "bearer":
        return "The Authorization header must read 'Bearer ' followed by a flow key."
    if token.strip().startswith("sk-or-"):
        return "That is an OpenRouter key, not a flow key: flows get keys of their own."
    return "Unknown or revoked flow key."

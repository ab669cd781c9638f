"""`GET /healthz`: whether the database and the queue answer, and whether anything needs the owner.

503 only when the database (and with it the queue, which lives in it) does not answer. Stored
secrets nobody can decrypt, or no worker at work, make the status "degraded" with HTTP 200:
the admin must stay reachable behind a load balancer, since it is where they are fixed.
"""

from flask import Blueprint, jsonify
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from . import crypto, settings, state
from .extensions import db
from .models import Message
from .worker import HEARTBEAT_PREFIX, HEARTBEAT_STALE

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        waiting = db.session.scalar(
            select(func.count()).where(Message.direction == "in", Message.state == "received")
        )
    except SQLAlchemyError as exc:
        error = f"error: {exc.__class__.__name__}"
        return jsonify({"status": "error", "database": error, "queue": error}), 503
    body = {"status": "ok", "database": "ok", "queue": "ok", "waiting": waiting}
    workers = state.recent(HEARTBEAT_PREFIX, HEARTBEAT_STALE)
    body["workers"] = len(workers)
    if not workers:
        body["status"] = "degraded"
        body["worker"] = "no worker is running: messages are stored but not answered"
    if settings.unreadable():
        body["status"] = "degraded"
        body["secrets"] = crypto.UNREADABLE
    return jsonify(body), 200

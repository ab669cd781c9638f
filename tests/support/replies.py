"""Reading what the worker did: message states, log rows, the model chain."""

from sqlalchemy import select

from webapp import catalog
from webapp.extensions import db
from webapp.models import Message, RequestLog
from webapp.replies import signals

CUSTOMER = "16505551234"
# What a model the catalog does not list as taking tools is told after the prompt.
MARKER_ASK = "\n\n" + signals.instruction()
FLOW_MARKER_ASK = "\n\n" + signals.instruction((signals.CANNOT_ANSWER,))  # no handoff in flows


def states(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Message.state).where(Message.direction == "in")))


def finished(app, count: int = 1):
    done = [s for s in states(app) if s not in ("received", "processing")]
    return len(done) >= count


def log_rows(app) -> list[RequestLog]:
    with app.app_context():
        rows = db.session.scalars(select(RequestLog).order_by(RequestLog.id)).all()
        db.session.expunge_all()
        return rows


def only_default_model(app):
    """One model in the chain, so a failure is one route of attempts."""
    with app.app_context():
        for row in catalog.all_models():
            if row.role == catalog.FALLBACK:
                catalog.set_role(row.model_id, catalog.AVAILABLE)

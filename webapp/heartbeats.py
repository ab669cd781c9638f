"""Workers' heartbeats: each worker says "alive" every few seconds; who is alive, and when one
was last seen, are read here and nowhere else (the dashboard, /healthz, backup and db copy)."""

from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from . import state
from .extensions import db
from .models import AppState

PREFIX = "worker:"
EVERY = 5.0  # seconds; at most a sixth of the lease, so a renewal is never late
STALE = timedelta(minutes=1)  # a worker silent this long is taken for stopped
# When the last worker to stop cleanly stopped: its heartbeat goes, and "last seen" must not.
LAST_STOPPED = "workers:last_stopped"


def beat(holder: str, figures: dict) -> None:
    state.put(PREFIX + holder, figures)


def stopped(holder: str) -> None:
    """A clean stop: the worker is not counted as alive any more, but is still last seen."""
    state.put(LAST_STOPPED, {"holder": holder})
    state.forget(PREFIX + holder)


def alive() -> dict[str, dict]:
    """The workers that beat within STALE, by holder name (host:pid), with what they said."""
    return state.recent(PREFIX, STALE)


def last_seen() -> datetime | None:
    """The last heartbeat of any worker, running or stopped; None when none ever ran."""
    names = or_(AppState.name.startswith(PREFIX, autoescape=True), AppState.name == LAST_STOPPED)
    return db.session.scalar(select(func.max(AppState.updated_at)).where(names))

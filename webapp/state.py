"""What the app remembers beside the owner's settings: checks, dashboard figures, workers, jobs."""

import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from .extensions import db, dialect_insert
from .models import AppState, utcnow


def get(name: str) -> dict | None:
    row = db.session.get(AppState, name)
    return None if row is None else json.loads(row.value)


def put(name: str, value: dict) -> None:
    # One statement, so two processes writing the same name at once cannot collide.
    statement = dialect_insert(AppState).values(
        name=name, value=json.dumps(value), updated_at=utcnow()
    )
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[AppState.name],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )
    db.session.commit()


def record(name: str, event: dict) -> dict:
    """Remember an event (a key test, Meta's verification) with when it happened, in UTC:
    pages show it in the owner's zone."""
    event["at"] = datetime.now(UTC).isoformat(timespec="seconds")
    put(name, event)
    return event


def record_seldom(name: str, event: dict, every: timedelta = timedelta(minutes=1)) -> None:
    """Remember an event that can come in a flood (refused webhooks), at most once per
    `every` while it stays the same: a read for each one, not a write. Processes that all
    find it stale at once each write it once more, which is harmless."""
    row = db.session.get(AppState, name)
    if row is not None and row.updated_at > utcnow() - every:
        seen = {key: value for key, value in json.loads(row.value).items() if key != "at"}
        if seen == event:
            return
    record(name, event)


def forget(name: str) -> None:
    db.session.execute(delete(AppState).where(AppState.name == name))
    db.session.commit()


def recent(prefix: str, within: timedelta) -> dict[str, dict]:
    """Every entry whose name starts with `prefix`, written within `within` (heartbeats)."""
    rows = db.session.execute(
        select(AppState.name, AppState.value).where(
            AppState.name.startswith(prefix, autoescape=True),
            AppState.updated_at >= utcnow() - within,
        )
    )
    return {name: json.loads(value) for name, value in rows}


def due(job: str, every: timedelta) -> bool:
    """True for exactly one caller per period, however many workers ask: periodic jobs run
    once, not once per worker. The conditional update is the lock."""
    name, now = f"job:{job}", utcnow()
    db.session.execute(
        dialect_insert(AppState)
        .values(name=name, value="{}", updated_at=now - every - timedelta(seconds=1))
        .on_conflict_do_nothing()
    )
    taken = db.session.execute(
        update(AppState)
        .where(AppState.name == name, AppState.updated_at <= now - every)
        .values(updated_at=now)
    ).rowcount
    db.session.commit()
    return taken == 1

"""Sign-in throttling: 5 failures for a username or from an address within 15 minutes."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select

from ..extensions import db
from ..models import LoginAttempt

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


def _wait(condition) -> float:
    since = datetime.now(UTC) - WINDOW
    query = select(LoginAttempt.at).where(condition, LoginAttempt.at > since)
    times = sorted(db.session.scalars(query))
    if len(times) < MAX_FAILURES:
        return 0
    # Allowed again when the oldest failure that keeps the count at the limit leaves the window.
    return (times[-MAX_FAILURES] + WINDOW - datetime.now(UTC)).total_seconds()


def retry_after(username: str, address: str) -> int:
    """Seconds until another attempt is allowed, or 0 when it is allowed now."""
    wait = max(
        _wait(LoginAttempt.username == username.lower()),
        _wait(LoginAttempt.address == address),
    )
    return int(wait) + 1 if wait > 0 else 0


def record_failure(username: str, address: str) -> None:
    db.session.add(LoginAttempt(username=username.lower()[:64], address=address[:64]))
    db.session.commit()


def clear(username: str) -> None:
    """A successful sign-in forgets the username's failures, and old rows are dropped."""
    old = datetime.now(UTC) - WINDOW
    db.session.execute(
        delete(LoginAttempt).where(
            or_(LoginAttempt.username == username.lower(), LoginAttempt.at < old)
        )
    )
    db.session.commit()

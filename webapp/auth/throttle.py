"""Throttling of failed credentials: sign-ins (5 failures for a username or from an address
within 15 minutes) and flow tokens (10 failures from an address within 15 minutes)."""

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select

from ..extensions import db
from ..models import FlowTokenFailure, LoginAttempt

MAX_FAILURES = 5
MAX_TOKEN_FAILURES = 10
WINDOW = timedelta(minutes=15)


def _wait(at_column, condition, limit: int = MAX_FAILURES) -> float:
    since = datetime.now(UTC) - WINDOW
    times = sorted(db.session.scalars(select(at_column).where(condition, at_column > since)))
    if len(times) < limit:
        return 0
    # Allowed again when the oldest failure that keeps the count at the limit leaves the window.
    return (times[-limit] + WINDOW - datetime.now(UTC)).total_seconds()


def _seconds(wait: float) -> int:
    return int(wait) + 1 if wait > 0 else 0


def retry_after(username: str, address: str) -> int:
    """Seconds until another sign-in is allowed, or 0 when it is allowed now."""
    at = LoginAttempt.at
    wait = max(
        _wait(at, LoginAttempt.username == username.lower()),
        _wait(at, LoginAttempt.address == address),
    )
    return _seconds(wait)


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


def token_retry_after(address: str) -> int:
    """Seconds until this address may try a flow token again, or 0 when it may now."""
    at = FlowTokenFailure.at
    return _seconds(_wait(at, FlowTokenFailure.address == address[:64], MAX_TOKEN_FAILURES))


def record_token_failure(address: str) -> None:
    """Remember a wrong token from this address; failures older than the window go."""
    old = datetime.now(UTC) - WINDOW
    db.session.execute(delete(FlowTokenFailure).where(FlowTokenFailure.at < old))
    db.session.add(FlowTokenFailure(address=address[:64]))
    db.session.commit()

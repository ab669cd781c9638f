"""Throttling of failed credentials: sign-ins, the password form, and flow keys.

A sign-in is counted against three limits: the username at the visitor's address (5 in 15
minutes), the address whatever the username (20 in 15 minutes), and, as a slower backstop
against guesses spread over many addresses, the username from anywhere (20 in an hour). So
a stranger's wrong passwords lock themselves out, not the admin at their own address.

Each try takes its place in the count before the password is checked (a conditional UPDATE,
one at a time per counter on SQLite and PostgreSQL alike): twenty concurrent wrong passwords
get five checks, not ten. A right password gives its place back.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache

from sqlalchemy import case, delete, literal, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db, dialect_insert
from ..models import FlowTokenFailure, ThrottleCounter, utcnow


@dataclass(frozen=True)
class Limit:
    name: str
    failures: int
    window: timedelta


PAIR = Limit("pair", 5, timedelta(minutes=15))
ADDRESS = Limit("address", 20, timedelta(minutes=15))
USERNAME = Limit("username", 20, timedelta(hours=1))
PASSWORD_FORM = Limit("password", 5, timedelta(minutes=15))
LONGEST = max(PAIR.window, ADDRESS.window, USERNAME.window, PASSWORD_FORM.window)

MAX_TOKEN_FAILURES = 10
WINDOW = timedelta(minutes=15)


def _key(limit: Limit, *parts: str) -> str:
    return f"{limit.name}:" + "|".join(part.lower()[:64] for part in parts)


def _sign_in_keys(username: str, address: str) -> list[tuple[Limit, str]]:
    return [
        (PAIR, _key(PAIR, username, address)),
        (ADDRESS, _key(ADDRESS, address)),
        (USERNAME, _key(USERNAME, username)),
    ]


def _seconds(wait: float) -> int:
    return int(wait) + 1 if wait > 0 else 0


def _claim(counters: list[tuple[Limit, str]]) -> int:
    """Count one try against every counter, or against none: 0 when the try may go ahead,
    else the seconds until it may. Counters are taken in key order, so two tries never
    wait for each other's rows crosswise."""
    now = utcnow()
    at_now = literal(now, ThrottleCounter.window_start.type)
    counters = sorted(counters, key=lambda counter: counter[1])
    table = ThrottleCounter.__table__
    for _, key in counters:
        insert = dialect_insert(table).values(key=key, failures=0, window_start=now)
        db.session.execute(insert.on_conflict_do_nothing(index_elements=["key"]))
    full = []
    for limit, key in counters:
        expired = ThrottleCounter.window_start <= now - limit.window
        claimed = db.session.execute(
            update(ThrottleCounter)
            .where(
                ThrottleCounter.key == key,
                or_(expired, ThrottleCounter.failures < limit.failures),
            )
            .values(
                failures=case((expired, 1), else_=ThrottleCounter.failures + 1),
                window_start=case((expired, at_now), else_=ThrottleCounter.window_start),
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:
            start = db.session.scalar(select(ThrottleCounter.window_start).filter_by(key=key))
            full.append((start + limit.window - now).total_seconds())
    if full:
        db.session.rollback()
        return _seconds(max(full))
    db.session.commit()
    return 0


def _give_back(keys: list[str], forget: list[str]) -> None:
    """A right password: its try no longer counts, the `forget` counters start over, and
    counters older than any window are dropped."""
    db.session.execute(
        update(ThrottleCounter)
        .where(ThrottleCounter.key.in_(keys), ThrottleCounter.failures > 0)
        .values(failures=ThrottleCounter.failures - 1)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        delete(ThrottleCounter).where(
            or_(ThrottleCounter.key.in_(forget), ThrottleCounter.window_start < utcnow() - LONGEST)
        )
    )
    db.session.commit()


def claim_sign_in(username: str, address: str) -> int:
    """Count a sign-in before its password is checked: 0 to go ahead, else seconds to wait."""
    return _claim(_sign_in_keys(username, address))


def signed_in(username: str, address: str) -> None:
    """The password was right: the visitor's own failures are forgotten."""
    pair, *others = (key for _, key in _sign_in_keys(username, address))
    _give_back(others, forget=[pair])


def unlock(username: str) -> None:
    """Forget the username's failures from everywhere (a password set from the command line)."""
    name = username.lower()[:64]
    db.session.execute(
        delete(ThrottleCounter).where(
            or_(
                ThrottleCounter.key == _key(USERNAME, name),
                ThrottleCounter.key.startswith(f"{PAIR.name}:{name}|", autoescape=True),
            )
        )
    )


def claim_password_form(user_id: int) -> int:
    """Count a try of the password form's current password; as `claim_sign_in`."""
    return _claim([(PASSWORD_FORM, _key(PASSWORD_FORM, str(user_id)))])


def password_form_passed(user_id: int) -> None:
    _give_back([], forget=[_key(PASSWORD_FORM, str(user_id))])


@cache
def _dummy_hash() -> str:
    return generate_password_hash("no such admin; this hash only costs the same time")


def check_unknown_user(password: str) -> None:
    """Spend the time a real password check takes, so a wrong password for an unknown
    username is not answered faster than one for a real admin (which would tell them apart)."""
    check_password_hash(_dummy_hash(), password)


def _wait(at_column, condition, limit: int) -> float:
    since = datetime.now(UTC) - WINDOW
    times = sorted(db.session.scalars(select(at_column).where(condition, at_column > since)))
    if len(times) < limit:
        return 0
    # Allowed again when the oldest failure that keeps the count at the limit leaves the window.
    return (times[-limit] + WINDOW - datetime.now(UTC)).total_seconds()


def token_retry_after(address: str) -> int:
    """Seconds until this address may try a flow key again, or 0 when it may now."""
    at = FlowTokenFailure.at
    return _seconds(_wait(at, FlowTokenFailure.address == address[:64], MAX_TOKEN_FAILURES))


def record_token_failure(address: str) -> None:
    """Remember a wrong token from this address; failures older than the window go."""
    old = datetime.now(UTC) - WINDOW
    db.session.execute(delete(FlowTokenFailure).where(FlowTokenFailure.at < old))
    db.session.add(FlowTokenFailure(address=address[:64]))
    db.session.commit()

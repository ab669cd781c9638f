"""The flow endpoint's limits: a flow key's own requests per hour and cost per day, and the
limits of the customer a request names with `user`. Looked at before anything is spent;
past one, the flow gets HTTP 429 with kind `customer_limited` until the period ends."""

import math
from datetime import datetime, timedelta

from sqlalchemy import select, update

from .. import contacts, requestlog
from ..display import times
from ..display.money import exact_dollars
from ..extensions import db
from ..models import FlowToken, RequestLog, utcnow
from ..people import owners
from ..requestlog import Origin
from ..troubleshooting import ErrorKind
from . import amounts, limits, spending
from .limits import HOUR, Limited

RL = RequestLog
KEY_HINT = (
    "Wait until then, press Lift for this key on the Flow keys page, or raise its limits there "
    "(or `flask --app wsgi tokens limit NAME`)."
)


def retry_after(limited: Limited) -> int:
    """Whole seconds until the limit ends (at least 1), for the Retry-After header."""
    return max(1, math.ceil((limited.until - utcnow()).total_seconds()))


def _since(row: FlowToken, since: datetime) -> datetime:
    return max(since, row.limit_lifted_at) if row.limit_lifted_at is not None else since


def _key_passed(row: FlowToken, now: datetime) -> tuple[datetime, str] | None:
    """(until, why) when the key made its hour's requests or cost its day's limit."""
    if row.max_requests_per_hour:
        asked = (
            select(RL.created_at)
            .where(RL.flow_token_id == row.id, RL.created_at >= _since(row, now - HOUR),
                   RL.upstream == "openrouter", RL.operation.is_(None), RL.attempt <= 1)
            .order_by(RL.created_at.desc())
            .limit(row.max_requests_per_hour)
        )  # fmt: skip
        moments = db.session.scalars(asked).all()
        if len(moments) >= row.max_requests_per_hour:
            most = row.max_requests_per_hour
            why = (
                f"The flow key '{row.name}' made {most} requests within an hour, the most allowed."
            )
            return min(moments) + HOUR, why
    if row.max_cost_per_day is not None:
        today = times.today()
        since = _since(row, times.day_start(today))
        cost = spending.spent(since, None, RL.flow_token_id == row.id)
        if cost >= row.max_cost_per_day:
            why = (f"The flow key '{row.name}' cost {exact_dollars(cost)} today; the most "
                   f"allowed is {exact_dollars(row.max_cost_per_day)}.")  # fmt: skip
            return times.day_start(today + timedelta(days=1)), why
    return None


def look_key(token_id: int) -> Limited | None:
    """Whether the flow key is limited now (already, or by this look)."""
    now = utcnow()
    row = db.session.get(FlowToken, token_id)
    if row.limited_until is not None and row.limited_until > now:
        return Limited(row.limited_until, f"The flow key '{row.name}' is limited.", False)
    passed = _key_passed(row, now)
    if passed is None:
        return None
    until, why = passed
    claimed = db.session.execute(
        update(FlowToken)
        .where(FlowToken.id == token_id,
               FlowToken.limited_until.is_(None) | (FlowToken.limited_until <= now))
        .values(limited_until=until)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    return Limited(until, why, claimed.rowcount == 1)


def check(token_id: int, user: str | None, snap) -> tuple[Limited, str] | None:
    """The flow request's limit, with the hint to give, or None to answer it. The look that
    limits the key or customer logs a `customer_limited` row; the transaction is ended."""
    found = look_key(token_id)
    hint, contact_id = KEY_HINT, None
    if found is None and user is not None and not owners.is_team(user, snap):
        contact = contacts.find(user)
        if contact is not None:
            contact_id = contact.id
            found, hint = limits.look(contact.id, snap), limits.HINT
    if found is not None and found.now_limited:
        origin = Origin("flow", contact_id, flow_token_id=token_id)
        kind = str(ErrorKind.CUSTOMER_LIMITED)
        requestlog.add(origin, upstream="switchboard", status="error", error_kind=kind,
                       error_message=found.detail(hint))  # fmt: skip
    db.session.commit()
    return (found, hint) if found is not None else None


def lift_key(row: FlowToken) -> bool:
    """The owner's Lift for a flow key: answered again at once, counted afresh from now."""
    if row.limited_until is None or row.limited_until <= utcnow():
        return False
    row.limited_until = None
    row.limit_lifted_at = utcnow()
    return True


MOST_PER_HOUR = 1_000_000


def per_hour_of(text: str | None) -> int | None:
    """A key's requests per hour as typed ("", "none" or 0 = no limit), or ValueError."""
    typed = (text or "").strip().lower()
    if typed in ("", "none"):
        return None
    if not typed.isdigit() or int(typed) > MOST_PER_HOUR:
        raise ValueError(
            f"Requests per hour must be a whole number from 0 to {MOST_PER_HOUR:,}, not "
            f"'{text}'; leave it empty (or 'none') for no limit."
        )
    return int(typed) or None  # 0: no limit, as for customers


def cost_of(text: str | None) -> float | None:
    """A key's cost per day in dollars as typed ("" or "none" = no limit), or ValueError."""
    typed = (text or "").strip()
    if typed.lower() == "none":
        return None
    try:
        amount = amounts.amount_of(typed)
    except ValueError as exc:
        raise ValueError(f"Cost per day {exc}; leave it empty (or 'none') for no limit.") from None
    return None if amount is None else float(amount)


def set_limits(row: FlowToken, per_hour: int | None, cost: float | None) -> None:
    """New limits apply at once: a key limited by an old one is looked at afresh."""
    row.max_requests_per_hour, row.max_cost_per_day = per_hour, cost
    row.limited_until = None

"""Flow keys: the bearer tokens flow builders send to the flow endpoint.

A token is shown once, when it is made; only its SHA-256 is kept. Tokens are long random
strings, so a plain hash is enough: there is nothing to guess that a salt would protect.
"""

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import FlowToken, utcnow

PREFIX = "sb-"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")


class TokenError(ValueError):
    """A change the token list refuses; the message says why."""


@dataclass(frozen=True)
class Caller:
    """The token a request came with."""

    id: int
    name: str


def hash_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def display_of(token: str) -> str:
    """Enough of a token to tell it apart from others, never enough to use it."""
    return f"{PREFIX}…{token[-4:]}"


def all_tokens() -> list[FlowToken]:
    return list(db.session.scalars(select(FlowToken).order_by(FlowToken.name)))


def create(name: str) -> tuple[FlowToken, str]:
    """A new token called `name`, and the token itself, which is never shown again.
    A revoked token's name can be given to a new token; the old one stays refused."""
    name = name.strip()
    if not NAME.match(name):
        raise TokenError(
            "The name of a flow key has 1–64 letters, digits, spaces, dots, dashes or underscores, "
            f"and starts with a letter or digit; '{name}' does not."
        )
    token = PREFIX + secrets.token_urlsafe(32)
    row = db.session.scalar(select(FlowToken).where(FlowToken.name == name))
    if row is not None and row.revoked_at is None:
        raise TokenError(f"A flow key called '{name}' exists already. Revoke it first.")
    if row is None:
        row = FlowToken(name=name)
        db.session.add(row)
    row.token_hash, row.display = hash_of(token), display_of(token)
    row.created_at, row.last_used_at, row.requests, row.revoked_at = utcnow(), None, 0, None
    try:
        db.session.commit()
    except IntegrityError:  # another admin made one with this name at the same moment
        db.session.rollback()
        raise TokenError(f"A flow key called '{name}' exists already.") from None
    return row, token


def revoke(name: str) -> FlowToken:
    row = db.session.scalar(select(FlowToken).where(FlowToken.name == name.strip()))
    if row is None:
        raise TokenError(f"There is no token called '{name.strip()}'.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.commit()
    return row


_T = FlowToken.__table__.c
LIVE = select(_T.id, _T.name).where(_T.token_hash == bindparam("hash"), _T.revoked_at.is_(None))
# One small statement, meant for the transaction that logs the request anyway.
USED = (
    update(FlowToken.__table__)
    .where(_T.id == bindparam("token"))
    .values(last_used_at=bindparam("at"), requests=_T.requests + 1)
)


def caller(token: str) -> Caller | None:
    """The live token this is, or None for an unknown or revoked one."""
    if not token.startswith(PREFIX):
        return None
    row = db.session.execute(LIVE, {"hash": hash_of(token)}).first()
    return Caller(row.id, row.name) if row else None


def count_use(caller: Caller) -> None:
    """Add a request to the token's count, in the current transaction."""
    db.session.execute(USED, {"token": caller.id, "at": utcnow()})

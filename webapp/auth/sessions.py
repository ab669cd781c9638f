"""Admin sessions kept on the server: the signed cookie only names one, the database decides.

The cookie carries a random token; its SHA-256 is the row's key, so a copy of the database
signs no one in. Ending a session deletes its row, and a cookie that names no row is signed
out on its next request, wherever it was copied to.
"""

import hashlib
import secrets
from datetime import timedelta

from flask import request, session
from flask_login import login_user, logout_user
from sqlalchemy import delete, select, update

from ..extensions import db
from ..models import AdminSession, User, utcnow

FIELD = "sid"  # the session cookie's field holding the token
# Last seen is rewritten at most this often, and only by requests that change something:
# pages that only show things never write, so they open even while the database is locked.
TOUCH_EVERY = timedelta(minutes=1)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start(user: User) -> None:
    """Sign `user` in with a new session: nothing from before sign-in carries over."""
    token = secrets.token_urlsafe(32)
    agent = request.headers.get("User-Agent", "")
    db.session.add(
        AdminSession(
            user_id=user.id,
            token_hash=_hash(token),
            address=(request.remote_addr or "unknown")[:64],
            user_agent=agent[:200],
        )
    )
    db.session.commit()
    session.clear()
    login_user(user)
    session[FIELD] = token


def current() -> AdminSession | None:
    """This request's session, if its cookie names one that has not ended."""
    token = session.get(FIELD)
    if not isinstance(token, str):
        return None
    return db.session.scalar(select(AdminSession).where(AdminSession.token_hash == _hash(token)))


def load(user_id: str) -> User | None:
    """The signed-in admin, or None when this cookie's session ended (checked every request)."""
    row = current()
    if row is None or str(row.user_id) != user_id:
        return None
    now = utcnow()
    if request.method not in ("GET", "HEAD") and row.last_seen_at < now - TOUCH_EVERY:
        # Conditional, so several requests of one browser at once write it once.
        db.session.execute(
            update(AdminSession)
            .where(AdminSession.id == row.id, AdminSession.last_seen_at < now - TOUCH_EVERY)
            .values(last_seen_at=now)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    return db.session.get(User, row.user_id)


def end_current() -> None:
    """Sign-out: this session's row goes, so a copy of its cookie stops working too."""
    if row := current():
        db.session.execute(delete(AdminSession).where(AdminSession.id == row.id))
        db.session.commit()
    logout_user()
    session.clear()


def end(user: User, session_id: int) -> bool:
    """End one of `user`'s sessions; False when there is no such session of theirs."""
    result = db.session.execute(
        delete(AdminSession).where(AdminSession.id == session_id, AdminSession.user_id == user.id)
    )
    db.session.commit()
    return result.rowcount == 1


def end_others(user: User) -> int:
    """End all of `user`'s sessions but this one (after a password change); how many ended."""
    this = current()
    query = delete(AdminSession).where(AdminSession.user_id == user.id)
    if this is not None:
        query = query.where(AdminSession.id != this.id)
    ended = db.session.execute(query).rowcount
    db.session.commit()
    return ended


def end_all(user: User) -> None:
    """End every session of `user` (a password set from the command line)."""
    db.session.execute(delete(AdminSession).where(AdminSession.user_id == user.id))


def active(user: User) -> list[AdminSession]:
    query = select(AdminSession).where(AdminSession.user_id == user.id)
    return list(db.session.scalars(query.order_by(AdminSession.last_seen_at.desc())))

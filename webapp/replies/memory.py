"""A customer's recent exchanges, as the model remembers them (the system message and the new
messages around them: webapp/knowledge/given.py)."""

from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select

from .. import content
from ..extensions import db
from ..models import Message, utcnow
from ..states import MessageState, PartState

MEMORY_WINDOW = timedelta(hours=24)
# Characters of earlier exchanges the model is given at most (about 4,000 tokens), however
# many turns `memory_turns` allows: the oldest go first. Without it a customer writing long
# messages makes every call dearer than the one before.
MEMORY_CHARS = 16_000
# Replies the customer never got are not part of the conversation the model remembers.
NOT_SAID = (PartState.QUEUED, PartState.SENDING, PartState.FAILED)
REMEMBERED_FILES = ("image", "audio", "video", "document")  # as a note, even with no words
# Larger than any message id (an INTEGER, at most 2**31 - 1 on PostgreSQL, which refuses a
# larger value in a comparison with it): nothing is left out for coming later.
LATEST = 2**31 - 1


M = Message.__table__.c
EARLIER = (
    select(M.direction, M.type, M.text, M.media_text, M.media_name)
    .where(
        M.contact_id == bindparam("contact"),
        or_(M.text.is_not(None), M.media_text.is_not(None), M.type.in_(REMEMBERED_FILES)),
        M.created_at >= bindparam("since"),
        M.id < bindparam("before"),
        or_(M.direction == "in", M.state.not_in(NOT_SAID)),
        M.state != MessageState.RECEIVED,  # arrived after this turn took its messages
        or_(M.turn_id.is_(None), M.turn_id != bindparam("turn")),  # this turn's own
    )
    .order_by(M.created_at.desc(), M.id.desc())
    .limit(bindparam("rows"))
)


def history(
    contact_id: int, turn_id: int | None, turns: int, asked: tuple[int, datetime] | None = None
) -> list[dict]:
    """The last `turns` exchanges of the 24 hours before now (or before `asked`, a message's id
    and time: the memory that message had, nothing later), oldest first, `turn_id`'s own left
    out, as chat messages."""
    found: list[dict] = []
    if not turns:
        return found
    before, at = asked or (LATEST, utcnow())
    values = {"contact": contact_id, "since": at - MEMORY_WINDOW, "before": before,
              "turn": -1 if turn_id is None else turn_id, "rows": turns * 2}  # fmt: skip
    rows = db.session.execute(EARLIER, values).all()
    db.session.commit()  # no connection is held while the model thinks
    for direction, type_, said, media_text, name in reversed(rows):
        text = content.memory_text(type_, said, media_text, name) if direction == "in" else said
        if not text:
            continue
        role = "user" if direction == "in" else "assistant"
        if found and found[-1]["role"] == role:  # parts of a split reply, or a burst
            found[-1]["content"] += "\n\n" + text
        else:
            found.append({"role": role, "content": text})
    return _within(found, MEMORY_CHARS)


def _within(found: list[dict], most: int) -> list[dict]:
    """The newest of `found` whose contents add up to at most `most` characters; the newest
    alone is cut from its start when it is longer (its end is what the next turn follows)."""
    kept: list[dict] = []
    left = most
    for message in reversed(found):
        if len(message["content"]) > left:
            if not kept:
                kept.append({**message, "content": "…" + message["content"][-left:]})
            break
        kept.append(message)
        left -= len(message["content"])
    return kept[::-1]

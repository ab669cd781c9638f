"""The context of a turn: the system prompt, the customer's recent exchanges, the new messages."""

from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select

from .extensions import db
from .models import Message, utcnow

MEMORY_WINDOW = timedelta(hours=24)
# Replies the customer never got are not part of the conversation the model remembers.
NOT_SAID = ("queued", "sending", "failed")
LATEST = 2**62  # larger than any message id: nothing is left out for coming later


M = Message.__table__.c
EARLIER = (
    select(M.direction, M.text)
    .where(
        M.contact_id == bindparam("contact"),
        M.text.is_not(None),
        M.created_at >= bindparam("since"),
        M.id < bindparam("before"),
        or_(M.direction == "in", M.state.not_in(NOT_SAID)),
        M.state != "received",  # arrived after this turn took its messages
        or_(M.turn_id.is_(None), M.turn_id != bindparam("turn")),  # this turn's own
    )
    .order_by(M.created_at.desc(), M.id.desc())
    .limit(bindparam("rows"))
)


def context(
    prompt: str,
    contact_id: int,
    turn_id: int | None,
    texts: list[str],
    turns: int,
    asked: tuple[int, datetime] | None = None,
) -> list[dict]:
    """System prompt, the last `turns` exchanges of the last 24 hours (this turn's own messages
    left out), then the new messages as one user message. With `asked` (a message's id and
    time) the memory is the one that message had: the 24 hours before it, nothing later."""
    history: list[dict] = []
    before, at = asked or (LATEST, utcnow())
    if turns:
        values = {"contact": contact_id, "since": at - MEMORY_WINDOW, "before": before,
                  "turn": -1 if turn_id is None else turn_id, "rows": turns * 2}  # fmt: skip
        rows = db.session.execute(EARLIER, values).all()
        db.session.commit()  # no connection is held while the model thinks
        for direction, text in reversed(rows):
            role = "user" if direction == "in" else "assistant"
            if history and history[-1]["role"] == role:  # parts of a split reply, or a burst
                history[-1]["content"] += "\n\n" + text
            else:
                history.append({"role": role, "content": text})
    new = {"role": "user", "content": "\n\n".join(texts)}
    return [{"role": "system", "content": prompt}, *history, new]

"""A customer's allowance of files: how many megabytes of theirs are kept in any 24 hours
(`media_quota_mb_per_day`, 0 = no limit), and whether they were told they passed it.

One number sending large files all day could otherwise fill the server's disk. Past the
allowance a file is not downloaded at all; the message is answered from its words, and the
customer is told why (`media_quota_reply`) at most once in 24 hours.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import bindparam, exists, func, select

from ..extensions import db
from ..models import Message, utcnow

WINDOW = timedelta(hours=24)
MB = 2**20
M = Message.__table__.c
KEPT = select(func.coalesce(func.sum(M.media_size), 0)).where(
    M.contact_id == bindparam("contact"),
    M.direction == "in",
    M.created_at >= bindparam("since"),
    M.media_size.is_not(None),
)
TOLD = exists().where(
    M.contact_id == bindparam("contact"),
    M.direction == "out",
    M.author == "bot",
    M.created_at >= bindparam("since"),
    M.text == bindparam("reply"),
)


@dataclass
class Allowance:
    """A turn's look at its customer's allowance: what they have kept (looked up once, then
    counted on as files come), which of the turn's messages had their file withheld, and the
    reply to send before the answer when they are to be told."""

    contact_id: int
    allowed: int | None  # bytes; None for no limit
    reply: str
    kept: int | None = None
    withheld: set[int] = field(default_factory=set)  # message ids
    notice: str | None = None

    @classmethod
    def of(cls, snap, contact_id: int) -> "Allowance":
        megabytes = int(snap["media_quota_mb_per_day"])
        allowed = megabytes * MB if megabytes > 0 else None
        return cls(contact_id, allowed, str(snap["media_quota_reply"]).strip())

    def refuses(self, message_id: int) -> str | None:
        """None when the message's file may be downloaded; else the log's words for why not.
        The file that passes the allowance is kept: it is checked before, not after."""
        if self.allowed is None:
            return None
        if self.kept is None:
            self.kept = kept(self.contact_id)
        if self.kept < self.allowed:
            return None
        self.withheld.add(message_id)
        if len(self.withheld) == 1 and self.reply and not told(self.contact_id, self.reply):
            self.notice = self.reply
        return (
            f"Not downloaded: this customer's files of the last 24 hours take "
            f"{self.kept / MB:.0f} MB, and 'Files per customer per day' allows "
            f"{self.allowed // MB} MB. Their messages are still answered from their words. If "
            "they are a real customer, raise the limit on the Settings page (0 = no limit)."
        )

    def count(self, size: int) -> None:
        if self.kept is not None:
            self.kept += size


def kept(contact_id: int) -> int:
    """Bytes of the customer's files kept from messages of the last 24 hours."""
    found = db.session.scalar(KEPT, {"contact": contact_id, "since": utcnow() - WINDOW})
    db.session.commit()  # no transaction is held while the files download
    return int(found)


def told(contact_id: int, reply: str) -> bool:
    """Whether the customer got `reply` from the assistant in the last 24 hours."""
    values = {"contact": contact_id, "since": utcnow() - WINDOW, "reply": reply}
    found = db.session.scalar(select(TOLD), values)
    db.session.commit()
    return bool(found)

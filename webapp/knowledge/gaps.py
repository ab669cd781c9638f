"""The questions the assistant could not answer: recorded from its signal, grouped by their
normal form, listed for the owner, answered as FAQ entries or dismissed."""

import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, select

from ..extensions import db, dialect_insert
from ..models import GapAsk, KnowledgeGap, KnowledgeSource, utcnow
from ..replies.signals import CANNOT_ANSWER, MAX_ARGUMENT, Given
from . import sources

OPEN, ANSWERED = "open", "answered"
MAX_KEY = 300
PUNCTUATION = re.compile(f"[{re.escape(string.punctuation)}¿¡“”‘’«»…]+")


def normal_form(question: str) -> str:
    """The question as gaps are grouped by: lowercase, no punctuation, single spaces."""
    return " ".join(PUNCTUATION.sub(" ", question.lower()).split())[:MAX_KEY]


def record(
    given: Sequence[Given], asked: str, channel: str, contact_id: int | None, message_id
) -> None:
    """In the caller's transaction: when the answer said it could not answer, one more ask of
    its question (the signal's own words, else `asked`, the customer's), on the gap of that
    question, opened again if it had been answered: the answer did not help."""
    said = next((signal for signal in given if signal.name == CANNOT_ANSWER.name), None)
    question = " ".join(((said.argument or asked) if said else "").split())[:MAX_ARGUMENT]
    key = normal_form(question)
    if not key:
        return
    upsert = dialect_insert(KnowledgeGap.__table__).values(key=key, state=OPEN, created_at=utcnow())
    upsert = upsert.on_conflict_do_update(index_elements=["key"], set_={"state": OPEN})
    gap_id = db.session.scalar(upsert.returning(KnowledgeGap.id))
    db.session.add(GapAsk(gap_id=gap_id, contact_id=contact_id, message_id=message_id,
                          question=question, channel=channel))  # fmt: skip


def drop_unasked() -> int:
    """In the caller's transaction: delete the gaps nobody's ask is left of (their customers
    were forgotten, or their asks aged out), except those answered; how many went."""
    unasked = ~exists().where(GapAsk.gap_id == KnowledgeGap.id)
    gone = delete(KnowledgeGap).where(unasked, KnowledgeGap.state != ANSWERED)
    return db.session.execute(gone).rowcount


def drop_asks_before(cutoff: datetime) -> int:
    """Retention: delete the asks older than `cutoff` (they hold customers' words), then the
    gaps left without one; commits. How many asks went."""
    gone = db.session.execute(delete(GapAsk).where(GapAsk.asked_at < cutoff)).rowcount
    drop_unasked()
    db.session.commit()
    return gone


@dataclass
class Gap:
    """A gap as the owner sees it: the latest wording asked, how often, by whom last."""

    id: int
    state: str
    question: str
    asks: int
    last_asked: datetime | None
    channel: str | None
    contact_id: int | None
    answered_at: datetime | None
    source_id: int | None
    faq: str | None  # the FAQ entry's question, when it was answered
    answer: str | None


def listed(state: str, limit: int = 50, gap_id: int | None = None) -> list[Gap]:
    """The gaps in `state` (or only the one of `gap_id`): open ones most asked first, then
    latest; answered ones latest answered first."""
    counted = (
        select(
            GapAsk.gap_id,
            func.count().label("asks"),
            func.max(GapAsk.asked_at).label("last"),
            func.max(GapAsk.id).label("latest"),
        )
        .group_by(GapAsk.gap_id)
        .subquery()
    )
    query = (
        select(KnowledgeGap, counted.c.asks, counted.c.last, GapAsk, KnowledgeSource)
        .outerjoin(counted, counted.c.gap_id == KnowledgeGap.id)
        .outerjoin(GapAsk, GapAsk.id == counted.c.latest)
        .outerjoin(KnowledgeSource, KnowledgeSource.id == KnowledgeGap.source_id)
        .where(KnowledgeGap.state == state)
    )
    if gap_id is not None:
        query = query.where(KnowledgeGap.id == gap_id)
    if state == OPEN:
        query = query.where(counted.c.asks > 0).order_by(
            counted.c.asks.desc(), counted.c.last.desc(), KnowledgeGap.id.desc()
        )
    else:
        query = query.order_by(KnowledgeGap.answered_at.desc(), KnowledgeGap.id.desc())
    return [_gap(*row) for row in db.session.execute(query.limit(limit))]


def _gap(gap: KnowledgeGap, asks, last, ask: GapAsk | None, source) -> Gap:
    faq, answer_text = (source.name, source.text) if source else (None, None)
    question = ask.question if ask else (faq or gap.key)
    channel, contact_id = (ask.channel, ask.contact_id) if ask else (None, None)
    return Gap(gap.id, gap.state, question, asks or 0, last, channel, contact_id,
               gap.answered_at, gap.source_id, faq, answer_text)  # fmt: skip


def asked_since(since: datetime, limit: int = 3) -> tuple[int, list[Gap]]:
    """How many open gaps were asked since `since`, and the `limit` most asked of them."""
    recent = select(GapAsk.gap_id).where(GapAsk.asked_at >= since)
    count = db.session.scalar(
        select(func.count()).where(KnowledgeGap.state == OPEN, KnowledgeGap.id.in_(recent))
    )
    top = [gap for gap in listed(OPEN, limit=200) if gap.last_asked and gap.last_asked >= since]
    return count or 0, top[:limit]


def this_week() -> tuple[int, list[Gap]]:
    return asked_since(utcnow() - timedelta(days=7))


def answer(gap_id: int, question: str, answer_text: str, author: str) -> KnowledgeSource:
    """Make the answer an FAQ entry (sources.add_faq) and mark the gap answered by it; commits.
    LookupError: no such gap (dismissed meanwhile); ValueError: what is wrong with the words."""
    if db.session.get(KnowledgeGap, gap_id) is None:
        raise LookupError("That question is no longer in the list.")
    source = sources.add_faq(question, answer_text, author)  # commits
    gap = db.session.get(KnowledgeGap, gap_id)
    if gap is None:  # dismissed while the entry was saved: the entry stays, that is all
        raise LookupError("That question is no longer in the list; the FAQ entry was added.")
    gap.state, gap.source_id, gap.answered_at = ANSWERED, source.id, utcnow()
    db.session.commit()
    return source


def dismiss(gap_id: int) -> bool:
    """Delete the gap and its asks (not a real question for the FAQ); False if it was gone."""
    db.session.execute(delete(GapAsk).where(GapAsk.gap_id == gap_id))
    gone = db.session.execute(delete(KnowledgeGap).where(KnowledgeGap.id == gap_id)).rowcount
    db.session.commit()
    return bool(gone)

"""The knowledge a turn's question is given: all of it when it is small, else the best parts.

The best parts are found two ways and the two rankings merged by reciprocal rank fusion
(each chunk scores 1/(60 + its rank) in each list it is in): full-text search always, and
embeddings when `embedding_model` is set and chunks have vectors by it. A question that
matches nothing gets no passages; a failed embedding call leaves the words alone to decide.
"""

import logging
from dataclasses import dataclass

from sqlalchemy import func, select

from ..clients.retry import Deadline
from ..extensions import db
from ..models import KnowledgeChunk
from ..requestlog import Origin
from . import embeddings, fulltext, vectors

log = logging.getLogger(__name__)
RANKED = 40  # chunks taken from each ranking before they are merged
FUSION_K = 60  # the usual constant of reciprocal rank fusion: later ranks still count a little
QUESTION_SECONDS = 5.0  # at most, to embed a question: beyond it, words alone answer sooner
SEND_MARGIN = 5.0  # seconds of the turn's deadline kept for asking the model
MAX_QUESTION = 4000  # characters embedded: the customer's messages and the exchange before


@dataclass(frozen=True)
class Passage:
    label: str  # where it comes from: "FAQ › Delivery times", "Menu.pdf, page 2"
    text: str


@dataclass(frozen=True)
class Knowledge:
    passages: tuple[Passage, ...] = ()
    whole: bool = True  # everything there is: the same block every turn, so it can be cached
    by_meaning: bool = False  # embeddings took part in choosing the passages
    note: str | None = None  # why they did not, when they should have

    @property
    def labels(self) -> list[str]:
        return [passage.label for passage in self.passages]


def knowledge_for(
    question: str, snap, origin: Origin | None = None, deadline: Deadline | None = None
) -> Knowledge:
    """The passages for `question`: the exchange before, then the customer's merged messages
    (when it is long, its end counts). Writes a log row when it embeds the question (for
    `origin`, and commits it); `deadline`: the turn's, of which the model's call keeps 5 s."""
    now = vectors.version()  # one look at whether the knowledge changed, for the whole search
    if _total_tokens(now) <= int(snap["knowledge_inline_tokens"]):
        return Knowledge(_everything(now), whole=True)
    limit = int(snap["knowledge_chunks"])
    by_words = fulltext.search(question, RANKED)
    by_meaning, note = _by_meaning(question, snap, origin, deadline, now)
    fused = _fused([by_words, by_meaning or []])[:limit]
    return Knowledge(_passages(fused), whole=False, by_meaning=by_meaning is not None, note=note)


_totals: dict[tuple, int] = {}  # the chunks' tokens by the knowledge's version: one entry


def _total_tokens(now: tuple) -> int:
    """All chunks' tokens, summed again only when the knowledge changed (its version `now`;
    a sum of every chunk would cost more than the rest of a search)."""
    total = _totals.get(now)
    if total is None:
        total = db.session.scalar(select(func.coalesce(func.sum(KnowledgeChunk.tokens), 0)))
        _totals.clear()
        _totals[now] = total
    return total


_wholes: dict[tuple, tuple[Passage, ...]] = {}  # all chunks by the knowledge's version: one


def _everything(now: tuple) -> tuple[Passage, ...]:
    """Every chunk, in the same order every time (by source, then place in it): the block
    stays the same from turn to turn, so providers can cache it. Read again only when the
    knowledge changed (its version `now`), not at every turn."""
    whole = _wholes.get(now)
    if whole is None:
        rows = db.session.execute(
            select(KnowledgeChunk.label, KnowledgeChunk.text).order_by(
                KnowledgeChunk.source_id, KnowledgeChunk.position, KnowledgeChunk.id
            )
        )
        whole = tuple(Passage(label, text) for label, text in rows)
        _wholes.clear()
        _wholes[now] = whole
    return whole


def _by_meaning(question: str, snap, origin: Origin | None, deadline: Deadline | None, now):
    """The chunk ids nearest the question by embeddings, and a note when they could not be
    used; (None, None) when embeddings are off or no chunk has a vector yet."""
    model = str(snap["embedding_model"]).strip()
    if not model or not question.strip() or not vectors.has_vectors(model, now):
        return None, None
    if not str(snap["openrouter_api_key"]):
        return None, embeddings.NO_KEY
    seconds = min(QUESTION_SECONDS, float(snap["request_timeout"]))
    if deadline is not None:
        seconds = min(seconds, deadline.left() - SEND_MARGIN)
    if seconds < 0.5:
        return None, "No time was left to find knowledge by meaning: found by its words."
    db.session.commit()  # no transaction held while the call waits
    vector = embeddings.embed_question(question[-MAX_QUESTION:], snap,
                                       origin or Origin("playground"), seconds)  # fmt: skip
    if vector is None:
        log.warning("embedding the question failed: knowledge found by its words alone")
        return None, "Finding knowledge by meaning failed: it was found by its words alone."
    return vectors.nearest(vector, model, RANKED, now), None


def _fused(rankings: list[list[int]]) -> list[int]:
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, chunk_id in enumerate(ranking, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (FUSION_K + rank)
    return sorted(scores, key=lambda chunk_id: (-scores[chunk_id], chunk_id))


def _passages(chunk_ids: list[int]) -> tuple[Passage, ...]:
    """The chunks' labels and texts, in the order of `chunk_ids` (one gone since: left out)."""
    if not chunk_ids:
        return ()
    rows = db.session.execute(
        select(KnowledgeChunk.id, KnowledgeChunk.label, KnowledgeChunk.text).where(
            KnowledgeChunk.id.in_(chunk_ids)
        )
    )
    found = {chunk_id: Passage(label, text) for chunk_id, label, text in rows}
    return tuple(found[chunk_id] for chunk_id in chunk_ids if chunk_id in found)

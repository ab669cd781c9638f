"""The owner's knowledge sources: added, listed, removed; files kept in the instance folder."""

from sqlalchemy import delete, select

from ..extensions import db
from ..models import KnowledgeChunk, KnowledgeSource, utcnow
from ..states import SourceState

FAQ = "FAQ"
MAX_QUESTION = 500  # characters: the question is the entry's name
MAX_ANSWER = 5000


def approximate_tokens(text: str) -> int:
    """About four characters a token, as OpenAI's and most tokenisers count English."""
    return (len(text) + 3) // 4


def faq_label(question: str) -> str:
    return f"{FAQ} › {question}"


def add_faq(question: str, answer: str, author: str) -> KnowledgeSource:
    """A new FAQ entry, or the entry with that question given this answer; ready at once (one
    chunk: the question and its answer). ValueError says what is wrong with the words."""
    question, answer = " ".join(question.split()), answer.replace("\r\n", "\n").strip()
    if not question or not answer:
        raise ValueError("An FAQ entry needs both a question and an answer.")
    if len(question) > MAX_QUESTION or len(answer) > MAX_ANSWER:
        raise ValueError(
            f"Keep the question under {MAX_QUESTION} characters and the answer under "
            f"{MAX_ANSWER}; put longer texts in as a document."
        )
    source = db.session.scalar(select(KnowledgeSource).where(KnowledgeSource.name == question))
    if source is not None and source.kind != "faq":
        raise ValueError(f"A source is already called '{question}'.")
    if source is None:
        source = KnowledgeSource(name=question, kind="faq", author=author)
        db.session.add(source)
    source.text, source.state, source.error, source.updated_at = (
        answer, SourceState.READY, None, utcnow()
    )  # fmt: skip
    whole = f"Q: {question}\nA: {answer}"
    source.chars, source.tokens = len(whole), approximate_tokens(whole)
    db.session.flush()
    db.session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.source_id == source.id))
    db.session.add(
        KnowledgeChunk(
            source_id=source.id,
            position=0,
            label=faq_label(question),
            text=whole,
            tokens=source.tokens,
        )
    )
    db.session.commit()
    return source

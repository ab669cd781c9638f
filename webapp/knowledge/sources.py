"""The owner's knowledge sources: added, listed, removed; files kept in the instance folder."""

from ..models import KnowledgeSource


def add_faq(question: str, answer: str, author: str) -> KnowledgeSource:
    """A new FAQ entry (or the answer of the entry with that question replaced), to be indexed."""
    raise NotImplementedError

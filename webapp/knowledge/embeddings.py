"""Embeddings of the chunks, computed by the worker through the OpenRouter key."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Progress:
    model: str  # the embedding model in force; empty: full-text only
    done: int  # chunks with an embedding by that model
    total: int  # chunks in all
    failing: str | None = None  # why the last attempt failed, in the owner's words
    failed_at: datetime | None = None


def progress() -> Progress:
    return Progress("", 0, 0)

"""The states a message, a reply's part, a turn, a trial and a trial cell can be in, by name.

Each is a `StrEnum`: stored as its plain word (the columns are strings, and SQL and templates
compare with them), spelled once here. The arrows are the only moves the code makes.
"""

from enum import StrEnum


class MessageState(StrEnum):
    """A customer's message: received → processing (a turn took it) → answered | failed |
    paused (a person answers), or ignored (nothing to answer: a reaction, an unsupported type)."""

    RECEIVED = "received"
    PROCESSING = "processing"
    ANSWERED = "answered"
    FAILED = "failed"
    PAUSED = "paused"
    IGNORED = "ignored"


class PartState(StrEnum):
    """A message going out (a reply's part, or a person's message): queued → sending → sent →
    delivered → read, or failed, or unknown (it reached WhatsApp but no answer came back, so it
    may have arrived: never sent again by itself)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNKNOWN = "unknown"


SENT = (PartState.SENT, PartState.DELIVERED, PartState.READ)  # it reached WhatsApp


class TurnState(StrEnum):
    """A customer's turn: open (at most one per customer) → answered | failed | paused."""

    OPEN = "open"
    ANSWERED = "answered"
    FAILED = "failed"
    PAUSED = "paused"


class TrialState(StrEnum):
    """A trial on the Compare page: running → done (every cell ended)."""

    RUNNING = "running"
    DONE = "done"


class CellState(StrEnum):
    """One model's answer to one question of a trial: pending → running → done | failed."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class SourceState(StrEnum):
    """A knowledge source: pending → reading (a worker holds it) → ready | failed."""

    PENDING = "pending"
    READING = "reading"
    READY = "ready"
    FAILED = "failed"

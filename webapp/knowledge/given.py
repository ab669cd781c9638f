"""The system message a model is given: the prompt, the knowledge, then what it is told.

Order matters for the providers' prompt caching: a cache only helps a prefix that is the
same byte for byte from one request to the next. The prompt and, while it is all sent, the
knowledge stay the same for hours; the told block carries the time of day and changes every
minute. So the stable part comes first and the told block after it, always. Anthropic and
Google models through OpenRouter cache only a part marked with `cache_control` (OpenRouter's
"Prompt Caching" page): for them the system message is sent as text parts, the mark on the
stable one. Other models (OpenAI's cache long prefixes by themselves) get plain text.
"""

from dataclasses import dataclass

from sqlalchemy import select

from ..extensions import db
from ..models import Contact
from . import retrieval, told
from .retrieval import Knowledge

MARKED_CACHE = ("anthropic/", "google/")  # models that cache only what is marked
INTRO = (
    "Use this knowledge to answer; if it does not cover the question, say so rather than "
    "guess. Each part starts with where it comes from."
)


def knowledge_text(knowledge: Knowledge) -> str:
    if not knowledge.passages:
        return ""
    parts = [f"### {passage.label}\n{passage.text.strip()}" for passage in knowledge.passages]
    return "\n\n".join([INTRO, *parts])


def marks_cache(model: str | None) -> bool:
    return bool(model) and model.startswith(MARKED_CACHE)


def system_content(prompt: str, knowledge: Knowledge, told_lines: list[str], model: str | None):
    """The system message's content: text, or text parts with the stable one marked."""
    stable = "\n\n".join(part for part in (prompt.strip(), knowledge_text(knowledge)) if part)
    changing = told.block(told_lines)
    if knowledge.whole and knowledge.passages and marks_cache(model):
        parts = [{"type": "text", "text": stable, "cache_control": {"type": "ephemeral"}}]
        return parts + ([{"type": "text", "text": changing}] if changing else [])
    return "\n\n".join(part for part in (stable, changing) if part)


def text_of(content) -> str:
    """The words of a message's content: its text, or its text parts (photos left out)."""
    if isinstance(content, str):
        return content
    texts = [part.get("text") for part in content or () if isinstance(part, dict)]
    return "\n".join(text for text in texts if isinstance(text, str))


def question_of(new, past: list[dict]) -> str:
    """What knowledge is looked up with: the exchange before (the customer's last message and
    the reply to it), then the new messages, so "and on Sundays?" finds what it follows."""
    before: list[str] = []
    if past and past[-1]["role"] == "assistant":
        before.append(text_of(past[-1]["content"]))
        if len(past) > 1 and past[-2]["role"] == "user":
            before.insert(0, text_of(past[-2]["content"]))
    elif past and past[-1]["role"] == "user":
        before.append(text_of(past[-1]["content"]))
    return "\n".join(part for part in (*before, text_of(new)) if part.strip())


def look_up(question: str, snap, origin=None, deadline=None) -> Knowledge:
    """`knowledge_for`; the question's embedding call, if any, is logged under `origin`."""
    knowledge = retrieval.knowledge_for(question, snap, origin=origin, deadline=deadline)
    db.session.commit()  # no transaction stays open while the model thinks
    return knowledge


def customer_name(contact_id: int | None) -> str | None:
    if contact_id is None:
        return None
    name = db.session.scalar(select(Contact.profile_name).where(Contact.id == contact_id))
    return name


@dataclass(frozen=True)
class Given:
    """A turn's messages for the model, and the knowledge among them (its labels are logged)."""

    messages: list[dict]
    knowledge: Knowledge


def for_turn(
    snap,
    prompt: str,
    new,
    past: list[dict],
    *,
    contact_id: int | None = None,
    model: str | None = None,
    use_knowledge: bool = True,
    origin=None,
    deadline=None,
) -> Given:
    """The system message (prompt, knowledge for the question, told block), the memory
    `past`, then the new user message; the question's look-up is logged under `origin`."""
    name = customer_name(contact_id)
    question = question_of(new, past)
    knowledge = look_up(question, snap, origin, deadline) if use_knowledge else Knowledge()
    system = {
        "role": "system",
        "content": system_content(prompt, knowledge, told.lines(snap, name), model),
    }
    return Given([system, *past, {"role": "user", "content": new}], knowledge)

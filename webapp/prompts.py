"""The system prompt, kept as versions: every save is a new one, the newest is in force."""

from sqlalchemy import select

from .extensions import db
from .knowledge import hours
from .models import PromptVersion

INITIAL_PROMPT = "You are a helpful support assistant. Answer briefly."
# A start for a small business's prompt: the owner replaces each [bracketed] part.
BUSINESS_TEMPLATE = "\n".join(
    (
        "You are the WhatsApp assistant of [business name]. You answer customers on behalf "
        "of the shop.",
        "",
        "What we sell: [e.g. sourdough bread, cakes to order, coffee to take away]",
        "Opening hours: [e.g. Tuesday to Saturday 7:00-17:00; closed Sunday and Monday]",
        "Prices: [e.g. a loaf $6, birthday cakes from $35; or where customers find the price list]",
        "Delivery: [e.g. free delivery within 5 km for orders over $30; otherwise pick-up at the "
        "shop]",
        "",
        "Tone: [e.g. friendly and short, like a person behind the counter]. Answer in the "
        "customer's language.",
        "",
        "When you are not sure, or the question is about something not written here: [e.g. say "
        "that you will ask the team and that someone replies the same day]. Never make up "
        "prices, opening hours or promises.",
    )
)


def business_template(business_name: str = "", opening_hours: str = "") -> str:
    """The template with the slots the settings already fill: the business name, and the
    opening hours as the Opening hours page has them, a day a part (the closed dates are
    left to what the model is told each time: in a saved prompt they would go stale)."""
    text = BUSINESS_TEMPLATE
    if business_name.strip():
        text = text.replace("[business name]", business_name.strip())
    try:
        found = hours.parse(opening_hours)
    except ValueError:  # an unreadable stored value: the slot stays for the owner to fill
        return text
    if found.set:
        slot = text[text.index("Opening hours: [") :].split("\n", 1)[0]
        week = found.describe()[: len(hours.DAYS)]  # closed dates go stale in a saved prompt
        text = text.replace(slot, "Opening hours: " + "; ".join(week))
    return text


def current() -> PromptVersion | None:
    return db.session.scalars(select(PromptVersion).order_by(PromptVersion.id.desc())).first()


_P = PromptVersion.__table__.c
CURRENT_TEXT = select(_P.text).order_by(_P.id.desc()).limit(1)


def current_text() -> str:
    text = db.session.scalar(CURRENT_TEXT)
    return INITIAL_PROMPT if text is None else text


def history(limit: int = 50) -> list[PromptVersion]:
    query = select(PromptVersion).order_by(PromptVersion.id.desc()).limit(limit)
    return list(db.session.scalars(query))


def save_version(
    text: str, author: str, restored_from: PromptVersion | None = None
) -> PromptVersion:
    version = PromptVersion(
        text=text,
        author=author,
        restored_from_id=restored_from.id if restored_from else None,
        note=f"restored version {restored_from.id}" if restored_from else "",
    )
    db.session.add(version)
    db.session.commit()
    return version


def restore(version_id: int, author: str) -> PromptVersion:
    old = db.session.get(PromptVersion, version_id)
    if old is None:
        raise LookupError(f"There is no prompt version {version_id}.")
    return save_version(old.text, author, restored_from=old)

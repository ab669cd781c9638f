"""The model table: which models the owner offers, the role of each, the fallback order.

Roles: `default` answers (exactly one); `fallback` rows are tried, in table order, when it
fails; `available` models may be asked by name (flows, trials) but are never a silent
fallback; `disabled` ones are not asked at all.
"""

import re

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from .extensions import db
from .models import AiModel

DEFAULT, FALLBACK, AVAILABLE, DISABLED = ROLES = ("default", "fallback", "available", "disabled")

# provider/name with an optional :variant (":free", ":nitro"), as OpenRouter spells its IDs.
MODEL_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*(:[a-z0-9][a-z0-9._-]*)?$")


class CatalogError(ValueError):
    """A change the model table refuses; the message says why."""


def check_model_id(model_id: str) -> str:
    model_id = model_id.strip()
    if not MODEL_ID.match(model_id):
        raise CatalogError(
            f"'{model_id}' is not a model ID. Use provider/name as on openrouter.ai/models, "
            "for example openai/gpt-4o-mini or meta-llama/llama-3.3-70b-instruct:free."
        )
    return model_id


def all_models() -> list[AiModel]:
    return list(db.session.scalars(select(AiModel).order_by(AiModel.position, AiModel.id)))


def find(model_id: str) -> AiModel:
    row = db.session.scalar(select(AiModel).where(AiModel.model_id == model_id.strip()))
    if row is None:
        raise CatalogError(f"'{model_id}' is not in the model table.")
    return row


def default_model() -> AiModel | None:
    return db.session.scalar(select(AiModel).where(AiModel.role == DEFAULT))


_M = AiModel.__table__.c
OFFERED = select(_M.model_id, _M.role).where(_M.role != DISABLED).order_by(_M.position, _M.id)


def offered() -> list[tuple[str, str]]:
    """(model ID, role) of every model that is not disabled, in table order."""
    return [tuple(row) for row in db.session.execute(OFFERED)]


def fallback_chain(rows: list[tuple[str, str]] | None = None) -> list[str]:
    """The default model first, then the `fallback` rows in table order; never `available`.
    `rows` is what `offered()` read, when the caller already has it."""
    rows = offered() if rows is None else rows
    return [m for m, role in rows if role == DEFAULT] + [m for m, role in rows if role == FALLBACK]


def usable(model_id: str) -> bool:
    """In the table and not disabled: flows and trials may ask this model."""
    role = db.session.scalar(select(_M.role).where(_M.model_id == model_id.strip()))
    return role is not None and role != DISABLED


def add(model_id: str, label: str = "") -> AiModel:
    """A new row is `available`: it becomes a fallback only when the owner says so."""
    model_id = check_model_id(model_id)
    if db.session.scalar(select(AiModel).where(AiModel.model_id == model_id)):
        raise CatalogError(f"'{model_id}' is already in the model table.")
    last = db.session.scalar(select(func.max(AiModel.position))) or 0
    row = AiModel(
        model_id=model_id, label=label.strip()[:200] or model_id, role=AVAILABLE, position=last + 1
    )
    db.session.add(row)
    db.session.commit()
    return row


def replace(model_id: str, new_id: str, label: str) -> AiModel:
    """Put `new_id` in the row of `model_id` (retired or misspelled): the same place in the
    table and the same role, so the default and the fallback order stay as the owner set them."""
    row, new_id = find(model_id), check_model_id(new_id)
    if db.session.scalar(select(AiModel.id).where(AiModel.model_id == new_id)):
        raise CatalogError(
            f"'{new_id}' is already in the model table: give that row this one's role, "
            f"then remove '{row.model_id}'."
        )
    row.model_id, row.label = new_id, label.strip()[:200] or new_id
    try:
        db.session.commit()
    except IntegrityError:  # the same ID added at the same moment
        db.session.rollback()
        raise CatalogError(f"'{new_id}' is already in the model table.") from None
    return row


def set_label(model_id: str, label: str) -> None:
    if not label.strip():
        raise CatalogError("The label cannot be empty.")
    find(model_id).label = label.strip()[:200]
    db.session.commit()


def make_default(model_id: str) -> str | None:
    """Make `model_id` the one default; the previous default becomes `available` (not a
    fallback: nobody said so). Returns the previous default's ID."""
    chosen = find(model_id)
    previous = default_model()
    if previous is chosen:
        return None
    # Read before the commit: reading it after would begin another transaction, which on
    # PostgreSQL holds a lock on the table until the caller's session ends.
    previous_id = previous.model_id if previous is not None else None
    db.session.execute(
        update(AiModel)
        .where(AiModel.role == DEFAULT, AiModel.id != chosen.id)
        .values(role=AVAILABLE)
    )
    db.session.execute(update(AiModel).where(AiModel.id == chosen.id).values(role=DEFAULT))
    try:
        db.session.commit()
    except IntegrityError:  # another admin chose a default at the same moment (PostgreSQL)
        db.session.rollback()
        raise CatalogError(
            "Another default was chosen at the same moment; look at the table and try again."
        ) from None
    return previous_id


def set_role(model_id: str, role: str) -> None:
    """Make a row a fallback, available or disabled; the default keeps its role until another
    model is made the default (a conditional update, so a concurrent change cannot slip by)."""
    if role not in (FALLBACK, AVAILABLE, DISABLED):
        raise CatalogError(f"'{role}' is not a role. Roles: fallback, available, disabled.")
    row = find(model_id)
    changed = db.session.execute(
        update(AiModel).where(AiModel.id == row.id, AiModel.role != DEFAULT).values(role=role)
    ).rowcount
    db.session.commit()
    if not changed:
        raise CatalogError(
            f"'{row.model_id}' is the default model, so it stays the default. "
            "Make another model the default first."
        )


def enable(model_id: str) -> str:
    """A disabled model comes back as `available`, never straight into the fallback chain;
    other rows keep their role. Returns the role it has now."""
    row = find(model_id)
    db.session.execute(
        update(AiModel).where(AiModel.id == row.id, AiModel.role == DISABLED).values(role=AVAILABLE)
    )
    db.session.commit()
    db.session.refresh(row)
    return row.role


def move(model_id: str, offset: int) -> None:
    """Move a model up (-1) or down (+1) the table, which is the fallback order."""
    rows = all_models()
    index = rows.index(find(model_id))
    target = min(max(index + offset, 0), len(rows) - 1)
    rows.insert(target, rows.pop(index))
    for position, row in enumerate(rows, start=1):
        row.position = position
    db.session.commit()


def remove(model_id: str) -> None:
    row = find(model_id)
    removed = db.session.execute(
        delete(AiModel).where(AiModel.id == row.id, AiModel.role != DEFAULT)
    ).rowcount
    db.session.commit()
    if not removed:
        raise CatalogError(
            f"'{row.model_id}' is the default model, so it cannot be removed. "
            "Make another model the default first."
        )

"""The model table: which models the owner offers, which one answers, and the fallback order."""

import re

from sqlalchemy import func, select

from .extensions import db
from .models import AiModel

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


def usable(model_id: str) -> bool:
    """Whether flows and trials may ask this model: it is in the table and enabled."""
    row = db.session.scalar(select(AiModel).where(AiModel.model_id == model_id.strip()))
    return row is not None and row.enabled


def default_model() -> AiModel | None:
    return db.session.scalar(select(AiModel).where(AiModel.is_default))


_M = AiModel.__table__.c
ENABLED = select(_M.model_id, _M.is_default).where(_M.enabled).order_by(_M.position, _M.id)


def fallback_chain() -> list[str]:
    """The default model first, then every other enabled model in table order."""
    rows = db.session.execute(ENABLED).all()
    return [m for m, default in rows if default] + [m for m, default in rows if not default]


def add(model_id: str, label: str = "") -> AiModel:
    model_id = check_model_id(model_id)
    if db.session.scalar(select(AiModel).where(AiModel.model_id == model_id)):
        raise CatalogError(f"'{model_id}' is already in the model table.")
    last = db.session.scalar(select(func.max(AiModel.position))) or 0
    row = AiModel(model_id=model_id, label=label.strip() or model_id, position=last + 1)
    db.session.add(row)
    db.session.commit()
    return row


def set_label(model_id: str, label: str) -> None:
    if not label.strip():
        raise CatalogError("The label cannot be empty.")
    find(model_id).label = label.strip()[:200]
    db.session.commit()


def make_default(model_id: str) -> None:
    """Exactly one default, and it is always enabled."""
    chosen = find(model_id)
    for row in all_models():
        row.is_default = row is chosen
    chosen.enabled = True
    db.session.commit()


def set_enabled(model_id: str, enabled: bool) -> None:
    row = find(model_id)
    if row.is_default and not enabled:
        raise CatalogError(
            f"'{row.model_id}' is the default model, so it cannot be disabled. "
            "Make another model the default first."
        )
    row.enabled = enabled
    db.session.commit()


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
    if row.is_default:
        raise CatalogError(
            f"'{row.model_id}' is the default model, so it cannot be removed. "
            "Make another model the default first."
        )
    db.session.delete(row)
    db.session.commit()

"""`GET /api/v1/models`: the models offered to flows, in the OpenAI list shape."""

from datetime import UTC, datetime

from sqlalchemy import select

from .. import catalog, catalog_data
from ..catalog_data import Listing
from ..extensions import db
from ..models import AiModel


def listed() -> dict:
    """Every model of the table that is not disabled, in table order, with what the catalog
    knows of it (context length, prices per token, input kinds); a model the catalog lacks
    is listed with its ID alone, its unknowns null."""
    offered = [model_id for model_id, _ in catalog.offered()]
    known = catalog_data.listings()
    added = {m: at for m, at in db.session.execute(select(AiModel.model_id, AiModel.created_at))}
    data = [
        _entry(model_id, catalog_data.lookup(known, model_id), added.get(model_id))
        for model_id in offered
    ]
    return {"object": "list", "data": data}


def _entry(model_id: str, listing: Listing | None, added: datetime | None) -> dict:
    return {
        "id": model_id,
        "object": "model",
        "created": _seconds(added),  # when it joined the table
        "owned_by": model_id.partition("/")[0],
        "name": listing.name if listing else model_id,
        "context_length": listing.context_length if listing else None,
        "pricing": {
            "prompt": _price(listing.prompt if listing else None),
            "completion": _price(listing.completion if listing else None),
        },
        "architecture": {"input_modalities": list(listing.inputs) if listing else []},
    }


def _seconds(at: datetime | None) -> int:
    """Unix seconds; SQLite gives back the stored UTC time without its zone."""
    if at is None:
        return 0
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp())


def _price(per_token: float | None) -> str | None:
    """Dollars per token as OpenRouter writes them: a decimal string, never 1.5e-07."""
    if per_token is None:
        return None
    return f"{per_token:.12f}".rstrip("0").rstrip(".") or "0"

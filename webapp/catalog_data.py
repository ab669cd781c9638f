"""What the provider's catalog (`GET {base}/models`) says about each model: context length,
prices, input kinds and whether it takes tools. The last catalog fetched is kept in
app_state; each process parses it once per fetch, so a turn that prices its answer costs one
small query, not a JSON parse."""

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select

from . import state
from .extensions import db
from .models import AppState

STATE_NAME = "catalog"
# OpenRouter's routing shortcuts: valid after any catalog ID, with the base model's prices.
# (":free" is not one of them: a free variant is a catalog entry of its own.)
ROUTING_VARIANTS = {"nitro", "floor", "online", "exacto", "thinking"}
INPUT_KINDS = ("text", "image", "audio")  # the kinds the Models page shows


@dataclass(frozen=True)
class Listing:
    """One catalog entry; prices in dollars per token (per request for `request`)."""

    model_id: str
    name: str
    context_length: int | None
    prompt: float | None
    completion: float | None
    request: float
    inputs: tuple[str, ...]
    slug: str = ""  # the canonical slug, which an answer may name instead of the ID
    tools: bool = False  # `supported_parameters` lists "tools": it can be offered tools

    def per_million(self, price: float | None) -> float | None:
        return None if price is None else price * 1_000_000

    @property
    def shown_inputs(self) -> list[str]:
        return [kind for kind in INPUT_KINDS if kind in self.inputs]


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None  # OpenRouter lists "-1" for a router's own price


def _entry(model: dict) -> dict:
    """The few fields kept of a catalog entry (an entry is about 2 kB; this is 150 bytes)."""
    pricing = model.get("pricing") if isinstance(model.get("pricing"), dict) else {}
    architecture = model.get("architecture")
    inputs = architecture.get("input_modalities") if isinstance(architecture, dict) else None
    context = model.get("context_length")
    parameters = model.get("supported_parameters")
    return {
        "name": str(model.get("name") or model["id"])[:200],
        "slug": str(model.get("canonical_slug") or ""),
        "context": context if isinstance(context, int) else None,
        "prompt": _number(pricing.get("prompt")),
        "completion": _number(pricing.get("completion")),
        "request": _number(pricing.get("request")) or 0.0,
        "inputs": [str(kind) for kind in inputs] if isinstance(inputs, list) else ["text"],
        "tools": isinstance(parameters, list) and "tools" in parameters,
    }


def store(models: list[dict]) -> dict[str, Listing]:
    """Keep a freshly fetched catalog; returns it parsed."""
    entries = {str(m["id"]): _entry(m) for m in models if isinstance(m.get("id"), str)}
    state.put(STATE_NAME, {"models": entries})
    return _parse(entries)


def _parse(entries: dict[str, dict]) -> dict[str, Listing]:
    return {
        model_id: Listing(
            model_id,
            e["name"],
            e["context"],
            e["prompt"],
            e["completion"],
            e["request"],
            tuple(e["inputs"]),
            e["slug"],
            bool(e.get("tools")),  # a catalog kept before tools were read: none known
        )
        for model_id, e in entries.items()
    }


_parsed: dict[str, tuple[object, dict[str, Listing]]] = {}  # database URL → (fetched at, catalog)


def listings() -> dict[str, Listing]:
    """The last catalog fetched (empty before the first check)."""
    fetched_at = db.session.scalar(select(AppState.updated_at).where(AppState.name == STATE_NAME))
    if fetched_at is None:
        return {}
    database = str(db.engine.url)
    cached = _parsed.get(database)
    if cached is None or cached[0] != fetched_at:
        cached = (fetched_at, _parse((state.get(STATE_NAME) or {}).get("models", {})))
        _parsed[database] = cached
    return cached[1]


def lookup(catalog: Mapping[str, Listing], model_id: str | None) -> Listing | None:
    """The listing of `model_id`, or of its base model when it ends in a routing shortcut
    (":nitro")."""
    if not model_id:
        return None
    if model_id in catalog:
        return catalog[model_id]
    base, _, variant = model_id.partition(":")
    return catalog.get(base) if variant in ROUTING_VARIANTS else None


def sees_images(catalog: Mapping[str, Listing], model_id: str) -> bool:
    """Whether the catalog lists the model as taking images (unknown: text only)."""
    listing = lookup(catalog, model_id)
    return listing is not None and "image" in listing.inputs


def supports_tools(catalog: Mapping[str, Listing], model_id: str) -> bool:
    """Whether the catalog lists the model as taking tools (unknown: it does not)."""
    listing = lookup(catalog, model_id)
    return listing is not None and listing.tools


def price(catalog: dict[str, Listing], model_id, prompt_tokens, completion_tokens) -> float | None:
    """Dollars for one request by the catalog's prices; None when a price or count is unknown."""
    listing = lookup(catalog, model_id) or _by_slug(catalog, model_id)
    if listing is None or prompt_tokens is None or completion_tokens is None:
        return None
    if listing.prompt is None or listing.completion is None:
        return None
    return prompt_tokens * listing.prompt + completion_tokens * listing.completion + listing.request


def _by_slug(catalog: dict[str, Listing], model_id: str | None) -> Listing | None:
    """An answer may name the model by its canonical slug ("anthropic/claude-4-sonnet-20250522"
    for "anthropic/claude-sonnet-4"); a free variant shares its slug but not its prices."""
    found = (
        listing
        for listing in catalog.values()
        if listing.slug == model_id and ":" not in listing.model_id
    )
    return next(found, None)


def search(catalog: dict[str, Listing], words: str, limit: int = 20) -> list[Listing]:
    """Catalog entries whose ID or name contains every word typed, IDs in alphabetical order."""
    terms = words.lower().split()
    if not terms:
        return []
    found = [
        listing
        for model_id, listing in sorted(catalog.items())
        if all(term in f"{model_id} {listing.name}".lower() for term in terms)
    ]
    return found[:limit]

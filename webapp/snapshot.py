"""The settings, prompt and model chain in force when a piece of work started, read once."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from . import catalog, catalog_data, customer_ids, prompts, settings
from .catalog_data import Listing
from .clients.openrouter import ChatResult, OpenRouterClient, routing_fields
from .clients.retry import Retry
from .clients.whatsapp import WhatsAppClient
from .extensions import db
from .requestlog import Origin


@dataclass(frozen=True)
class Snapshot:
    """The settings, prompt and model chain in force when the work started."""

    values: settings.Values
    prompt: str
    chain: tuple[str, ...]
    retry: Retry
    graph_timeout: float  # seconds for one Graph call (config GRAPH_TIMEOUT)
    catalog: Mapping[str, Listing] = field(default_factory=dict)  # prices, input kinds
    user_key: bytes = b""  # the install's key for customers' `user` ids
    offered: tuple[str, ...] = ()  # every model not disabled: the default first, then in order

    @classmethod
    def load(cls, config: Mapping, commit=True) -> "Snapshot":
        """Read everything now; `config` is the app's (retries and timeouts tests shorten).
        With `commit=False` the caller ends the transaction, after more work in it."""
        models = catalog.offered()
        chain = catalog.fallback_chain(models)
        snapshot = cls(
            settings.read(),
            prompts.current_text(),
            tuple(chain),
            Retry.from_config(config),
            config["GRAPH_TIMEOUT"],
            catalog_data.listings(),
            customer_ids.install_key(),
            tuple(dict.fromkeys([*chain[:1], *(m for m, _ in models)])),
        )
        if commit:
            db.session.commit()  # no connection is held while the work waits on the network
        return snapshot

    def __getitem__(self, name: str):
        return self.values[name]

    def openrouter(self) -> OpenRouterClient:
        return OpenRouterClient(
            api_key=str(self["openrouter_api_key"]),
            base_url=str(self["openrouter_base_url"]),
            timeout=float(self["request_timeout"]),
            app_url=str(self["public_url"]),  # the owner's address only, never a Host header
        )

    def routing(self, origin: Origin) -> dict:
        """Provider preferences and the customer's `user` id, for every chat request."""
        return routing_fields(
            str(self["provider_sort"]),
            str(self["provider_data_collection"]),
            customer_ids.user_id(self.user_key, origin.contact_id),
        )

    def priced(self, result: ChatResult, requested: str) -> ChatResult:
        """`result` with a cost: the answer's own `usage.cost`, else the catalog's prices for
        the model that answered (or, unknown to the catalog, the one asked)."""
        if result.cost is None:
            tokens = (result.prompt_tokens, result.completion_tokens)
            result.cost = catalog_data.price(self.catalog, result.model, *tokens)
            if result.cost is None:
                result.cost = catalog_data.price(self.catalog, requested, *tokens)
        return result

    def sees_images(self, model_id: str) -> bool:
        """Whether the catalog lists the model as taking images (unknown: text only)."""
        return catalog_data.sees_images(self.catalog, model_id)

    def supports_tools(self, model_id: str) -> bool:
        """Whether the catalog lists the model as taking tools (unknown: it does not)."""
        return catalog_data.supports_tools(self.catalog, model_id)

    def image_route(self) -> list[str]:
        """The models a photo goes to (`image_model`): the default chain's models that can see
        images, else the first offered model that can; none when off or no model can."""
        chosen = str(self["image_model"])
        if chosen != "auto":
            return [] if chosen == "off" else [chosen]
        route = [m for m in self.chain if self.sees_images(m)]
        return route or [m for m in self.offered if self.sees_images(m)][:1]

    def whatsapp(self) -> WhatsAppClient:
        return WhatsAppClient(
            access_token=str(self["whatsapp_access_token"]),
            phone_number_id=str(self["whatsapp_phone_number_id"]),
            base_url=str(self["whatsapp_api_base_url"]),
            timeout=self.graph_timeout,
        )

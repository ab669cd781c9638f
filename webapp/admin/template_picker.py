"""The template picker of a conversation's reply box, shown when the 24-hour window is closed."""

from dataclasses import dataclass, field

from ..extensions import db
from ..models import WhatsAppTemplate
from ..people import templates
from ..people.templates import Variable


@dataclass
class Picker:
    """The approved templates to choose from, the one chosen, what was typed into its blanks,
    what is wrong with it, and the message as the customer would see it."""

    offered: list[WhatsAppTemplate]
    chosen: WhatsAppTemplate | None = None
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    any_synced: bool = False

    @property
    def blanks(self) -> list[Variable]:
        return templates.variables(self.chosen) if self.chosen else []

    @property
    def preview(self) -> str:
        return templates.render(self.chosen, self.values) if self.chosen else ""


def picker_for(
    template_id: int | None, values: dict[str, str] | None = None, errors=None
) -> Picker:
    offered = templates.sendable()
    chosen = next((t for t in offered if t.id == template_id), None)
    any_synced = bool(offered) or db.session.query(WhatsAppTemplate.id).first() is not None
    return Picker(offered, chosen, values or {}, errors or {}, any_synced)

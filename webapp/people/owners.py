"""The team's numbers (`owner_numbers`), normalised by the one number normaliser."""

from .. import contacts


def team_numbers(snap) -> frozenset[str]:
    """The numbers of `owner_numbers`, as WhatsApp writes them (wa_id)."""
    stored = str(snap["owner_numbers"] or "")
    return frozenset(contacts.normalise_number(n) for n in stored.split(",") if n.strip())


def is_team(number: str | None, snap) -> bool:
    return bool(number) and contacts.normalise_number(number) in team_numbers(snap)

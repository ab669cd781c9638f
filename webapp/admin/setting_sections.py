"""The settings page's sections: each a form of its own that saves only its fields, and the
tests of the OpenRouter key and the WhatsApp token that sit beside those fields."""

import re

from .. import settings

# Which button tested what: the field the result sits next to, and the setting it tests.
TESTS = {"test-key": "openrouter_api_key", "test-whatsapp": "whatsapp_access_token"}


def names() -> list[str]:
    """The page's sections in order; a section some setting names beyond the usual four
    comes after them, so no setting is ever left off the page."""
    extra = [spec.section for spec in settings.SPECS.values()]
    return list(dict.fromkeys([*settings.SECTIONS, *extra]))


def slug(section: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", section.lower()).strip("-")


def by_slug(posted: str) -> str | None:
    return next((s for s in names() if slug(s) == posted), None)


def fields(editable: list[str]) -> dict[str, list[str]]:
    """The editable settings of each section, in the table's order."""
    return {s: [n for n in editable if settings.SPECS[n].section == s] for s in names()}

"""Characters that change how text reads without showing themselves, in text from strangers.

A bidi control (U+202E, say) in a WhatsApp profile name turns the phone number printed after
it around, or makes `invoice<U+202E>fdp.exe` read `invoiceexe.pdf`; a zero-width space hides
inside a word, a number or an address. Where the owner reads such text (names, threads, the
log) each one is shown as `<U+202E>`; where a name leaves Switchboard (a saved file's name, a
CSV cell) it is removed. One rule, `replace_hidden`, decides which characters these are.
"""

import re
import unicodedata
from collections.abc import Callable

from markupsafe import Markup, escape

BIDI_CONTROLS = "\u202a-\u202e\u2066-\u2069\u200e\u200f\u061c"
ZERO_WIDTH = "\u200b-\u200d\u2060-\u2064\ufeff\u180e"
HIDDEN = re.compile(f"[{BIDI_CONTROLS}{ZERO_WIDTH}]")
JOINERS = "\u200c\u200d"
# What a joiner joins where it does its work: letters and marks of other scripts than
# ASCII (Persian words, Indic half forms) and the symbols of an emoji sequence (a family,
# a flag). Between ASCII letters, spaces or digits it changes nothing visible and only hides.
JOINED = ("L", "M", "So", "Sk")


def _joins(text: str, at: int) -> bool:
    if at == 0 or at + 1 >= len(text):
        return False
    return all(
        ord(c) > 0x7F and unicodedata.category(c).startswith(JOINED)
        for c in (text[at - 1], text[at + 1])
    )


def replace_hidden(text: str, replacement: Callable[[str], str]) -> str:
    """`text` with each hidden character replaced by `replacement(character)`; a joiner that
    joins (see JOINED) is left in place."""

    def replace(match: re.Match) -> str:
        character = match.group()
        if character in JOINERS and _joins(text, match.start()):
            return character
        return replacement(character)

    return HIDDEN.sub(replace, text)


def code_of(character: str) -> str:
    return f"<U+{ord(character):04X}>"


def stripped(text: str | None) -> str:
    """For names that leave Switchboard: a download's file name, a CSV cell."""
    return replace_hidden(text or "", lambda character: "")


def marked(text: str | None) -> str:
    """For plain text the owner reads (the terminal, a page's title, a flash message)."""
    return replace_hidden(text or "", code_of)


def _marker(character: str) -> str:
    name = unicodedata.name(character, "hidden character").lower()
    return f'<span class="hidden-char" title="{name}">{escape(code_of(character))}</span>'


def visible(text: str | None) -> Markup:
    """For a page (the `visible` filter): the text escaped, each hidden character in a muted
    marker. Escaping first touches only ASCII, so the rule sees the same neighbours."""
    if text is None:
        return Markup("")
    return Markup(replace_hidden(str(escape(text)), _marker))  # noqa: S704 (escaped above)

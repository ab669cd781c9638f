"""How the admin writes money for the owner: one filter, so every page reads a cost the same way."""

from decimal import Decimal

from markupsafe import Markup

CENT = 0.01


def exact_dollars(value: float) -> str:
    """Every digit a cost has, without rounding or an exponent: $0.0000387."""
    return "$" + format(Decimal(repr(float(value))), "f")


def money(value: float | None, exact: bool = False) -> Markup | str:
    """A cost in dollars and cents. Under a cent it reads "< $0.01", never "$0.00" (which reads
    as free), with the exact figure on hover; `exact` spells it out beside it as well, for a
    page read on a phone, which cannot hover."""
    if value is None:
        return "—"
    if 0 < value < CENT:
        if exact:
            return Markup("&lt; $0.01 ({})").format(exact_dollars(value))
        return Markup('<span title="{}">&lt; $0.01</span>').format(exact_dollars(value))
    return f"${value:,.2f}"

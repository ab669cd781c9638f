"""An amount of dollars as the owner types it ("20", "$0.50"): one reading for the settings,
the flow keys' limits and the CLI."""

from decimal import Decimal, InvalidOperation

MOST = Decimal(1_000_000)
PLACES = Decimal("0.0001")  # a hundredth of a cent


def amount_of(typed: str) -> Decimal | None:
    """The amount, None for empty, or ValueError saying in plain words what is wrong: not a
    number (abc, 1e309, nan), below zero, past a million or finer than a hundredth of a cent."""
    text = typed.strip().removeprefix("$").strip()
    if not text:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite() or "e" in text.lower():
        raise ValueError(f"must be an amount in dollars such as 20 or 0.50, not '{typed.strip()}'")
    if not 0 <= amount <= MOST:
        raise ValueError(f"must be from 0 to {MOST:,} dollars, not {text}")
    if amount != amount.quantize(PLACES):
        raise ValueError(f"takes at most 4 decimals, not {text}")
    return amount


def plain(amount: Decimal) -> str:
    """The amount as stored: plain digits without trailing zeros ("20", "0.5")."""
    return format(amount.quantize(PLACES).normalize(), "f")

"""What the model is always told besides the prompt: the business, the date and time, the
opening hours, the customer's name; each line switched on or off by `always_tell`."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from ..display import times, zones
from . import hours as opening

TOLD = ("business", "date", "hours", "customer_name")
LABELS = {  # the `always_tell` checkboxes
    "business": "The business name",
    "date": "Today's date, weekday and time",
    "hours": "The opening hours, and whether you are open now",
    "customer_name": "The customer's WhatsApp name",
}


def owner_zone(snap) -> ZoneInfo:
    return zones.zone_info(str(snap["timezone"]))


def local_now(snap, now: datetime | None = None) -> datetime:
    """The moment (now, unless given; a moment without a zone is UTC) in the owner's zone."""
    return times.local(now or datetime.now(UTC), owner_zone(snap))


def switched_on(snap) -> set[str]:
    return {flag.strip() for flag in str(snap["always_tell"] or "").split(",") if flag.strip()}


def hours_of(snap) -> opening.Hours:
    """The opening hours set; none when the stored value no longer reads (never fails a turn)."""
    try:
        return opening.parse(str(snap["opening_hours"] or ""))
    except ValueError:
        return opening.Hours()


def is_closed(snap, now: datetime | None = None) -> bool:
    """Outside the opening hours now; never when no hours are set."""
    found = hours_of(snap)
    return found.set and not found.is_open(local_now(snap, now))


def lines(snap, customer_name: str | None = None, now: datetime | None = None) -> list[str]:
    """The facts to tell, one a line, in the order of TOLD; those switched off left out."""
    wanted, told = switched_on(snap), []
    if "business" in wanted and (name := str(snap["business_name"] or "").strip()):
        told.append(f"The business: {name}.")
    local = local_now(snap, now)
    if "date" in wanted:
        zone = zones.plain(local.tzinfo.key) if isinstance(local.tzinfo, ZoneInfo) else "UTC"
        told.append(f"Now: {local:%A %-d %B %Y}, {local:%H:%M} ({zone}).")
    found = hours_of(snap)
    if "hours" in wanted and found.set:
        told.append("Opening hours:")
        told.extend(f"  {line}" for line in found.describe(local.date()))
        told.append(f"Right now the business is {opening.right_now(found, local)}.")
    if "customer_name" in wanted and customer_name and customer_name.strip():
        told.append(f"The customer's WhatsApp name: {customer_name.strip()}.")
    return told


def block(told: list[str]) -> str:
    return "What you know right now:\n" + "\n".join(told) if told else ""

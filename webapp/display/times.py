"""The owner's time: moments written as the owner reads them, and the owner's days, in the
`timezone` setting. The database keeps every moment in UTC; only what is shown moves."""

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from flask import g, has_request_context

from .. import settings
from . import zones

MINUTE = "%Y-%m-%d %H:%M"
SECOND = "%Y-%m-%d %H:%M:%S"
ISO = "iso"  # ISO 8601 with the owner's offset, for machines: <time datetime>, the CSV


def zone() -> ZoneInfo:
    """The owner's zone in force; read once per request, since a page shows many moments."""
    if has_request_context() and "owner_zone" in g:
        return g.owner_zone
    found = zones.zone_info(str(settings.get("timezone")))
    if has_request_context():
        g.owner_zone = found
    return found


def zone_name() -> str:
    return zones.plain(zone().key)


def local(moment: datetime, in_zone: ZoneInfo | None = None) -> datetime:
    """A moment in the owner's zone (a moment without a zone is UTC, as the database keeps it)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(in_zone or zone())


def when(moment: datetime | str | None, fmt: str = MINUTE, in_zone: ZoneInfo | None = None) -> str:
    """The one way a moment is written for the owner: in their zone, as `fmt` (strftime, or
    ISO). Also takes the ISO text the app remembers events with; other text stays as it is."""
    if isinstance(moment, str):
        moment = _parsed(moment) or moment
    if not isinstance(moment, datetime):
        return moment or ""
    shown = local(moment, in_zone)
    return shown.isoformat(timespec="seconds") if fmt == ISO else shown.strftime(fmt)


def _parsed(text: str) -> datetime | None:
    try:  # earlier versions remembered events as "2026-01-10 12:00 UTC"
        return datetime.fromisoformat(text.removesuffix(" UTC"))
    except ValueError:
        return None


def today() -> date:
    return datetime.now(zone()).date()


def day_start(day: date) -> datetime:
    """The owner's midnight that starts `day`, in UTC, for comparing with stored moments."""
    return datetime.combine(day, time.min, tzinfo=zone()).astimezone(UTC)

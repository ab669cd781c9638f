"""Time zones by their IANA names (Europe/Amsterdam): which exist, the list the owner picks
from, and the zone the server's clock is set to."""

import difflib
import os
import zoneinfo
from functools import cache
from pathlib import Path

# The regions of the tz database's current names; its other names (US/Eastern, Etc/GMT+5,
# EST5EDT) are older spellings of the same zones: accepted when typed, not offered.
REGIONS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia",
           "Europe", "Indian", "Pacific")  # fmt: skip
UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "UCT",
                       "Universal", "Zulu"})  # fmt: skip
LOCALTIME, TIMEZONE_FILE = Path("/etc/localtime"), Path("/etc/timezone")


@cache
def known() -> frozenset[str]:
    """Every name zoneinfo can load here (the system's zone files, else the tzdata package)."""
    return frozenset(zoneinfo.available_timezones())


def is_zone(name: str) -> bool:
    return name in known()


def zone_info(name: str) -> zoneinfo.ZoneInfo:
    """The zone of that name; UTC for a name that is no zone (any more) here."""
    return zoneinfo.ZoneInfo(name if is_zone(name) else "UTC")


def plain(name: str) -> str:
    """UTC under its plainest name."""
    return "UTC" if name in UTC_NAMES else name


@cache
def offered() -> dict[str, tuple[str, ...]]:
    """The zones the settings page lists, by region, UTC first."""
    regions: dict[str, list[str]] = {}
    for name in sorted(known()):
        region, _, place = name.partition("/")
        if region in REGIONS and place:
            regions.setdefault(region, []).append(name)
    return {"UTC": ("UTC",), **{region: tuple(names) for region, names in regions.items()}}


def meant(typed: str) -> list[str]:
    """The zones a name that is none may have meant: "amsterdam" → Europe/Amsterdam."""
    place = typed.strip().replace(" ", "_").lower()
    by_place = sorted(n for n in known() if n.rsplit("/", 1)[-1].lower() == place)
    return by_place or difflib.get_close_matches(typed.strip(), sorted(known()), n=3)


def server_zone() -> str:
    """The zone the server's clock is set to: TZ, else the zone file /etc/localtime links to,
    else /etc/timezone; UTC when none of them names a zone."""
    for name in (_from_environment(), _from_localtime(), _from_timezone_file()):
        if name and is_zone(name):
            return plain(name)
    return "UTC"


def _from_environment() -> str:
    return os.environ.get("TZ", "").removeprefix(":").strip()


def _from_localtime() -> str:
    try:
        target = os.readlink(LOCALTIME)
    except OSError:  # no such file, or a copy of a zone file rather than a link to one
        return ""
    return target.partition("zoneinfo/")[2]


def _from_timezone_file() -> str:
    try:
        return TIMEZONE_FILE.read_text().strip()
    except OSError:
        return ""

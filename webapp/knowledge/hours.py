"""Opening hours: the `opening_hours` setting read, checked, described, and asked "open now?".

The setting is JSON, weekdays by their first three letters, each a list of [open, close]
spans in 24-hour time, and `closed` a list of dates (holidays):

    {"mon": [["09:00", "12:30"], ["13:30", "17:30"]], "sat": [["10:00", "14:00"]],
     "closed": ["2026-12-25"]}

A weekday not named is closed all day. A span may end at "24:00"; one that closes before it
opens ("22:00"-"02:00") runs past midnight into the next day. Empty: no hours are set, and
the business is never said to be closed.
"""

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = dict(zip(DAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                            "Saturday", "Sunday"), strict=True))  # fmt: skip
MAX_SPANS = 6  # a day; more is a typing mistake
MAX_CLOSED = 400


@dataclass(frozen=True)
class Hours:
    days: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    closed: tuple[date, ...] = ()

    @property
    def set(self) -> bool:
        return any(self.days.values()) or bool(self.closed)

    def is_open(self, now: datetime) -> bool:
        """Whether `now` (in the owner's zone) falls in a span: today's, or one of yesterday's
        that runs past midnight. A closed date has none of its own spans; the night of the day
        before still runs on into it."""
        return self.state(now)[0]

    def state(self, now: datetime) -> tuple[bool, datetime | None]:
        """Open or not at `now` (the owner's zone), and when that changes: the close when open,
        the next opening when closed (within a week and a day; None when nothing is set)."""
        at = now.replace(tzinfo=None, second=0, microsecond=0)
        for start, end in self._stretches(at.date() - timedelta(days=1), days=9):
            if at < start:
                return False, start
            if at < end:
                return True, end
        return False, None

    def _stretches(self, first: date, days: int) -> list[tuple[datetime, datetime]]:
        """The open stretches of `days` days from `first`, in order, spans that touch (one
        day's 24:00 and the next day's 00:00) joined into one."""
        found: list[tuple[datetime, datetime]] = []
        for offset in range(days):
            day = first + timedelta(days=offset)
            midnight = datetime.combine(day, time())
            for start, end in self._spans(day):
                opens = midnight + timedelta(minutes=_minutes(start))
                closes = midnight + timedelta(minutes=_end_minutes(start, end))
                if found and found[-1][1] >= opens:
                    found[-1] = (found[-1][0], max(found[-1][1], closes))
                else:
                    found.append((opens, closes))
        return found

    def _spans(self, day: date) -> list[tuple[str, str]]:
        if day in self.closed:
            return []
        return self.days.get(DAYS[day.weekday()], [])

    def describe(self, today: date | None = None) -> list[str]:
        """One line a weekday ("Monday: 09:00–12:30, 13:30–17:30", "Sunday: closed"), then
        the closed dates still to come (from `today`)."""
        lines = [f"{DAY_NAMES[day]}: {_spans_text(self.days.get(day, []))}" for day in DAYS]
        coming = [d for d in self.closed if today is None or d >= today]
        if coming:
            lines.append("Closed on: " + ", ".join(d.strftime("%a %d %b %Y") for d in coming))
        return lines

    def to_json(self) -> str:
        value: dict = {day: [list(span) for span in self.days[day]] for day in DAYS
                       if self.days.get(day)}  # fmt: skip
        if self.closed:
            value["closed"] = [d.isoformat() for d in self.closed]
        return json.dumps(value) if value else ""


def right_now(hours: Hours, now: datetime) -> str:
    """'open (closes 17:30)' or 'closed (opens Tuesday 09:00)' at `now`, in the owner's zone;
    empty when no hours are set."""
    if not hours.set:
        return ""
    is_open, change = hours.state(now)
    word = "open" if is_open else "closed"
    if change is None:
        return word
    at = change.strftime("%H:%M")
    if is_open and at == "00:00" and change.date() == now.date() + timedelta(days=1):
        at = "at midnight"
    elif change.date() != now.date():
        at = f"{DAY_NAMES[DAYS[change.weekday()]]} {at}"
    return f"{word} (closes {at})" if is_open else f"{word} (opens {at})"


def _spans_text(spans: list[tuple[str, str]]) -> str:
    return ", ".join(f"{start}–{end}" for start, end in spans) if spans else "closed"


def _minutes(at: time | str) -> int:
    if isinstance(at, str):
        hours, minutes = at.split(":")
        return int(hours) * 60 + int(minutes)
    return at.hour * 60 + at.minute


def _end_minutes(start: str, end: str) -> int:
    """The close in minutes after the opening day's midnight: past 1440 when it runs on."""
    close = _minutes(end)
    return close + 1440 if close <= _minutes(start) else close


def _clock(value, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: a time must be written like 09:00, not {value!r}.")
    text = value.strip()
    parts = text.split(":")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{where}: '{value}' is not a time like 09:00.")
    hours, minutes = int(parts[0]), int(parts[1])
    if not (0 <= hours <= 24 and 0 <= minutes < 60) or (hours == 24 and minutes):
        raise ValueError(f"{where}: '{value}' is not a time of day.")
    return f"{hours:02d}:{minutes:02d}"


def parse(value: str | dict | None) -> Hours:
    """The hours the setting's JSON says, or ValueError saying what is wrong in plain words."""
    if not value:
        return Hours()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ValueError("the opening hours are not valid JSON.") from None
    if not isinstance(value, dict):
        raise ValueError('the opening hours must be an object like {"mon": [["09:00","17:00"]]}.')
    days: dict[str, list[tuple[str, str]]] = {}
    for key, spans in value.items():
        day = str(key).strip().lower()[:3]
        if key == "closed":
            continue
        if day not in DAYS:
            raise ValueError(f"'{key}' is not a weekday (mon, tue, wed, thu, fri, sat, sun).")
        where = DAY_NAMES[day]
        if not isinstance(spans, list) or len(spans) > MAX_SPANS:
            raise ValueError(f"{where}: give a list of at most {MAX_SPANS} [open, close] spans.")
        cleaned = []
        for span in spans:
            if not isinstance(span, list | tuple) or len(span) != 2:
                raise ValueError(f'{where}: each span is [open, close], like ["09:00", "17:00"].')
            start, end = _clock(span[0], where), _clock(span[1], where)
            if start == "24:00":
                raise ValueError(f"{where}: a span cannot open at 24:00; write 00:00 the next day.")
            if start == end:
                raise ValueError(f"{where}: a span opens and closes at {start}.")
            cleaned.append((start, end))
        cleaned.sort(key=lambda span: _minutes(span[0]))
        for (s1, e1), (s2, _) in pairwise(cleaned):
            if _end_minutes(s1, e1) > _minutes(s2):
                raise ValueError(f"{where}: the spans {s1}–{e1} and {s2}… overlap.")
        days[day] = cleaned
    closed = value.get("closed", [])
    if not isinstance(closed, list) or len(closed) > MAX_CLOSED:
        raise ValueError(f"'closed' must be a list of at most {MAX_CLOSED} dates like 2026-12-25.")
    dates = set()
    for item in closed:
        try:
            dates.add(date.fromisoformat(str(item).strip()))
        except ValueError:
            raise ValueError(f"'{item}' is not a date like 2026-12-25.") from None
    return Hours(days, tuple(sorted(dates)))


def spans_of(text: str, where: str) -> list[list[str]]:
    """A day's spans as the hours page takes them: "09:00-12:30, 13:30-17:30"; empty (or
    "closed") for none. The times are checked by `parse`."""
    text = text.strip()
    if not text or text.lower() == "closed":
        return []
    spans = []
    for piece in text.replace(";", ",").split(","):
        times = piece.replace("–", "-").replace("—", "-").split("-")
        if len(times) != 2 or not all(t.strip() for t in times):
            raise ValueError(f"{where}: write each span as 09:00-17:30, not '{piece.strip()}'.")
        spans.append([t.strip() for t in times])
    return spans


def day_text(spans: list[tuple[str, str]]) -> str:
    return ", ".join(f"{start}-{end}" for start, end in spans)


def clean(value: str) -> str:
    """The setting as stored: checked, spans in order, the same JSON for the same hours."""
    return parse(value).to_json()

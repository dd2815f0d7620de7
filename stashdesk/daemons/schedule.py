"""Processing windows and the clock daemons sleep by.

A daemon's ``processing_windows`` option says when it may start new jobs, in a
form people type: windows separated by commas, each an optional set of days
and a time range in local time::

    Mon-Fri 01:00-07:00, Sat-Sun 00:00-24:00
    22:00-06:00                  (every night; a range past midnight ends the next day)
    Mon Wed Fri 09:00-17:00      (days may be listed; "weekdays", "weekends", "daily")

Empty means always. :class:`ProcessingWindows` answers "open now?" and "when
does the next window open?".

:class:`Clock` is what daemons read the time from: wall-clock time (what the
user's windows and "next check at" mean, and what keeps counting while the
machine is suspended) and monotonic time (what the loop's timers use, which
on Linux stops during suspend). Tests substitute one whose wall clock they
can jump.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from stashdesk.options import OptionError

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_ALIASES = {name.lower(): i for i, name in enumerate(DAY_NAMES)}
_DAY_ALIASES.update(
    {
        full: i
        for i, full in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    }
)
_DAY_GROUPS = {
    "daily": range(7),
    "everyday": range(7),
    "weekdays": range(5),
    "weekends": range(5, 7),
    "weekend": range(5, 7),
}
_TIME = re.compile(r"^(\d{1,2})(?::(\d{2}))?$")
EXAMPLE = "Mon-Fri 01:00-07:00, Sat-Sun 00:00-24:00"
DAY_MINUTES = 24 * 60


class Clock:
    """The time as daemons see it.

    Attributes:
        check_interval: longest stretch a sleeping daemon leaves the wall clock
            unread (after a suspend it notices within this long that its next
            check is past). Short enough to catch up promptly, long enough that
            an idle engine costs no CPU to speak of.
    """

    check_interval: float = 30.0

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


SYSTEM_CLOCK = Clock()


@dataclass(frozen=True)
class Window:
    """Days (0 = Monday) on which the window opens, and its start and end in minutes
    after midnight; an end at or before the start lies on the next day."""

    days: frozenset[int]
    start: int
    end: int

    @property
    def length(self) -> int:
        end = self.end if self.end > self.start else self.end + DAY_MINUTES
        return end - self.start


def _bad(item: str, why: str) -> OptionError:
    return OptionError(
        f"processing_windows: {item!r} is not a window: {why}. Write windows "
        f"like {EXAMPLE!r} (days are optional: without them, every day)"
    )


def _parse_minutes(text: str, item: str) -> int:
    match = _TIME.match(text)
    if not match:
        raise _bad(item, f"{text!r} is not a time (use HH:MM, e.g. 01:00)")
    hours, minutes = int(match.group(1)), int(match.group(2) or 0)
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise _bad(item, f"{text!r} is not a time of day (00:00 to 24:00)")
    return hours * 60 + minutes


def _parse_day(text: str, item: str) -> int:
    try:
        return _DAY_ALIASES[text.lower()]
    except KeyError:
        raise _bad(
            item,
            f"unknown day {text!r} (use {', '.join(DAY_NAMES)}, a range such as "
            f"Mon-Fri, weekdays, weekends or daily)",
        ) from None


def _parse_days(tokens: list[str], item: str) -> frozenset[int]:
    days: set[int] = set()
    for token in tokens:
        for part in filter(None, token.split("+")):
            lowered = part.lower()
            if lowered in _DAY_GROUPS:
                days.update(_DAY_GROUPS[lowered])
            elif "-" in part:
                first, _, last = part.partition("-")
                a, b = _parse_day(first, item), _parse_day(last, item)
                days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
            else:
                days.add(_parse_day(part, item))
    return frozenset(days)


def _parse_window(item: str) -> Window:
    tokens = item.split()
    times = tokens[-1]
    if "-" not in times:
        raise _bad(item, "it needs a time range such as 01:00-07:00 at its end")
    start_text, _, end_text = times.partition("-")
    start, end = _parse_minutes(start_text, item), _parse_minutes(end_text, item)
    if start == DAY_MINUTES:
        raise _bad(item, "a window cannot start at 24:00 (write 00:00)")
    if start == end:
        raise _bad(item, "it starts when it ends (for a whole day write 00:00-24:00)")
    days = _parse_days(tokens[:-1], item) if len(tokens) > 1 else frozenset(range(7))
    if not days:
        raise _bad(item, "it names no day")
    return Window(days, start, end)


@dataclass(frozen=True)
class ProcessingWindows:
    """Parsed ``processing_windows``: when a daemon may start new jobs."""

    text: str
    windows: tuple[Window, ...]

    @property
    def always(self) -> bool:
        return not self.windows

    def _intervals(self, now: datetime) -> list[tuple[datetime, datetime]]:
        """Every opening from yesterday to a week ahead, as local datetimes."""
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
        spans = []
        for offset in range(-1, 9):
            day = midnight + timedelta(days=offset)
            for window in self.windows:
                if day.weekday() in window.days:
                    begin = day + timedelta(minutes=window.start)
                    spans.append((begin, begin + timedelta(minutes=window.length)))
        return sorted(spans)

    def is_open(self, at: float) -> bool:
        if self.always:
            return True
        now = datetime.fromtimestamp(at)
        return any(begin <= now < end for begin, end in self._intervals(now))

    def next_open(self, at: float) -> float | None:
        """When the next window opens after ``at`` (None: always open, or never)."""
        if self.always:
            return None
        now = datetime.fromtimestamp(at)
        starts = [begin for begin, _end in self._intervals(now) if begin > now]
        return starts[0].timestamp() if starts else None

    def describe_next(self, at: float) -> tuple[float, str] | None:
        """(when, "01:00" or "Sat 01:00") of the next opening."""
        opens = self.next_open(at)
        if opens is None:
            return None
        when = datetime.fromtimestamp(opens)
        soon = opens - at < 24 * 3600  # then HH:MM alone names the next such time
        return opens, f"{when:%H:%M}" if soon else f"{DAY_NAMES[when.weekday()]} {when:%H:%M}"


@lru_cache(maxsize=64)
def parse_processing_windows(text: str) -> ProcessingWindows:
    """Parse the option's text; raises OptionError saying what to write instead."""
    text = (text or "").strip()
    items = [item.strip() for item in re.split(r"[,;]", text) if item.strip()]
    return ProcessingWindows(text, tuple(_parse_window(item) for item in items))


def check_processing_windows(value: str) -> None:
    parse_processing_windows(value)


def format_duration(seconds: float) -> str:
    """7 h 12 min, 3 min, 2 d 4 h: how long a machine slept."""
    minutes = int(round(seconds / 60))
    if minutes < 1:
        return f"{int(round(seconds))} s"
    days, rest = divmod(minutes, DAY_MINUTES)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours:
        parts.append(f"{hours} h")
    if minutes and not days:
        parts.append(f"{minutes} min")
    return " ".join(parts) or "0 min"

"""Times, durations and values written for people (no Qt here, so it is easy to test)."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from stashdesk import wording


def age(seconds: float) -> str:
    """How long ago something happened: "just now", "3 s ago", "2 min ago"."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        hours, rest = divmod(int(seconds), 3600)
        minutes = rest // 60
        return f"{hours} h {minutes} min ago" if minutes else f"{hours} h ago"
    days = int(seconds // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def duration(seconds: float | None) -> str:
    """A span of time: "0.4 s", "45 s", "4 min 32 s", "1 h 02 min"."""
    if seconds is None:
        return ""
    seconds = max(0.0, float(seconds))
    if seconds < 10 and not float(seconds).is_integer():
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        minutes, secs = divmod(whole, 60)
        return f"{minutes} min {secs:02d} s" if secs else f"{minutes} min"
    hours, rest = divmod(whole, 3600)
    return f"{hours} h {rest // 60:02d} min"


def countdown(seconds: float) -> str:
    """Time left before something happens: "in 4 min 32 s", "now"."""
    if seconds <= 0.5:
        return "now"
    return f"in {duration(round(seconds))}"


def timestamp(ts: float | None, *, now: float | None = None) -> str:
    """POSIX seconds as local time, short: "14:03:22" today, "05-01 14:03" this year,
    else "2023-05-01"."""
    if ts is None:
        return ""
    moment = datetime.fromtimestamp(ts)
    today = datetime.fromtimestamp(now if now is not None else time.time()).date()
    if moment.date() == today:
        return moment.strftime("%H:%M:%S")
    if moment.year == today.year:
        return moment.strftime("%m-%d %H:%M")
    return moment.strftime("%Y-%m-%d")


def clock(ts: float, *, now: float | None = None) -> str:
    """A time of day people plan by: "14:05" today, "Tue 01:00" within a week."""
    moment = datetime.fromtimestamp(ts)
    today = datetime.fromtimestamp(now if now is not None else time.time()).date()
    if moment.date() == today:
        return moment.strftime("%H:%M")
    if 0 < (moment.date() - today).days < 7:
        return moment.strftime("%a %H:%M")
    return moment.strftime("%Y-%m-%d %H:%M")


def full_timestamp(ts: float | None) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts).astimezone().strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def seconds_clock(seconds: float) -> str:
    """A position in a video: "1:23" or "1:02:03"."""
    whole = int(max(0.0, seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def plan_value(value: Any) -> str:
    """A plan change's current or proposed value, compact: tags joined, markers timed."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list):
        return ", ".join(plan_value(v) for v in value)
    if isinstance(value, dict):
        title = value.get("title") or value.get("name")
        if title is not None and "seconds" in value:
            span = seconds_clock(float(value["seconds"]))
            if value.get("end_seconds") is not None:
                span += "–" + seconds_clock(float(value["end_seconds"]))
            return f"{title} @ {span}"
        if title is not None:
            return str(title)
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """ "1 job", "100,000 jobs"."""
    return wording.plural(n, noun, plural)

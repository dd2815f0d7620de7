"""Times as the CLI's ``--json`` output and the engine API write them.

The database keeps POSIX seconds; people and scripts get ISO 8601 local time with
its UTC offset and milliseconds. ``from_iso`` reads them back (the window shows
times it received over the API).
"""

from __future__ import annotations

from datetime import datetime


def iso(ts: float | None) -> str | None:
    """POSIX seconds as ISO 8601 local time with its UTC offset."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


def from_iso(text: str | None) -> float | None:
    """The POSIX seconds of an ISO 8601 time written by ``iso`` (None stays None)."""
    if not text:
        return None
    return datetime.fromisoformat(text).timestamp()

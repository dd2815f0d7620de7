"""One row of the History timeline, as the store reads it and as the window shows it.

Qt-free and store-free, so both ends of the engine API share it: the store builds
rows from its tables, the ``history`` operation sends ``as_json()``, and the window
(local or remote) reads the answer back with ``from_json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stashdesk.timestamps import from_iso, iso

KINDS = ("status", "job", "error")


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One row of the History page.

    Attributes:
        kind: status | job | error.
        row_id: the row's id in its table (with ``kind``, the row's key).
        at: POSIX seconds (for a folded run: its newest row).
        text: the status message, "Launched job: reason", or the log line.
        detail: the job action (LAUNCHED...) or the log level; None for a status.
        job_type: the job's type where the row names a job that still exists.
        idle: a status of a daemon sleeping between passes (``phase`` sleeping).
        wake_at: when a sleeping daemon meant to check again (None: not known).
        repeated: how many idle rows this one stands for (1: itself only).
        first_at: the oldest of them (None: the row stands for itself).
    """

    kind: str
    row_id: int
    at: float
    daemon: str
    text: str
    detail: str | None
    job_id: str | None
    job_type: str | None
    idle: bool = False
    wake_at: float | None = None
    repeated: int = 1
    first_at: float | None = None

    @property
    def key(self) -> tuple[str, int]:
        return self.kind, self.row_id

    @property
    def cursor(self) -> tuple[float, int, str]:
        """Where the next page starts: pass it as ``after``."""
        return self.at, self.row_id, self.kind

    def as_json(self) -> dict[str, Any]:
        """The item of the ``history`` operation (times as ISO text)."""
        return {
            "kind": self.kind,
            "id": self.row_id,
            "daemon": self.daemon,
            "message": self.text,
            "detail": self.detail,
            "job_id": self.job_id,
            "job_type": self.job_type,
            "at": iso(self.at),
            "idle": self.idle,
            "wake_at": iso(self.wake_at),
            "repeated": self.repeated,
            "first_at": iso(self.first_at or self.at),
            "last_at": iso(self.at),
        }

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> TimelineEvent:
        at = from_iso(item["at"]) or 0.0
        return cls(
            kind=item["kind"],
            row_id=item["id"],
            at=at,
            daemon=item["daemon"],
            text=item["message"],
            detail=item.get("detail"),
            job_id=item.get("job_id"),
            job_type=item.get("job_type"),
            idle=bool(item.get("idle")),
            wake_at=from_iso(item.get("wake_at")),
            repeated=int(item.get("repeated") or 1),
            first_at=from_iso(item.get("first_at")) or at,
        )

"""The headless engine's journal of daemon statuses: what each daemon is doing, in the
log (stderr, so the service's journal, and ``stashdesk.log``), without flooding it.

A busy daemon may say what it is doing thousands of times a second (the status plan
wants every step shown); the window and the event stream get every one, the history
table keeps them, but a journal of a thousand lines a second is unreadable and its
writes held up the event loop. So each daemon gets at most one line per ``interval``:
a status whose job or phase differs from the last line's is written at once, others
wait, and the newest waiting one is written when the interval is over, with how many
it stands for. The last thing a daemon said always reaches the journal, within
``interval``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from stashdesk.events import DaemonStatusChanged

log = logging.getLogger("stashdesk")

INTERVAL = 1.0


@dataclass(slots=True)
class _DaemonLine:
    logged_at: float = float("-inf")
    job_id: str | None = None
    phase: str | None = None
    waiting: DaemonStatusChanged | None = None
    skipped: int = 0
    flush: asyncio.TimerHandle | None = field(default=None, repr=False)


class StatusJournal:
    """Writes daemon statuses to the log, at most one line per daemon per interval.

    Attributes:
        interval: seconds between two lines of one daemon while it stays on one job
            and phase.
        lines_written: how many status lines were logged (for tests and benchmarks).
    """

    def __init__(self, interval: float = INTERVAL, logger: logging.Logger = log) -> None:
        self.interval = interval
        self.lines_written = 0
        self._log = logger
        self._daemons: dict[str, _DaemonLine] = {}

    def __call__(self, event: DaemonStatusChanged) -> None:
        if event.message is None:
            return  # cleared (stopped): the daemon's own log says so
        line = self._daemons.setdefault(event.daemon, _DaemonLine())
        changed = (event.job_id, event.phase) != (line.job_id, line.phase)
        if changed or time.monotonic() - line.logged_at >= self.interval:
            self._flush(line)  # what waited comes first, with its count
            self._write(line, event, 0)
            return
        line.waiting = event
        line.skipped += 1
        if line.flush is None:
            delay = max(0.0, line.logged_at + self.interval - time.monotonic())
            line.flush = asyncio.get_running_loop().call_later(delay, self._flush, line)

    def close(self) -> None:
        """Write what is still waiting (the engine is stopping)."""
        for line in self._daemons.values():
            self._flush(line)

    def _flush(self, line: _DaemonLine) -> None:
        if line.flush is not None:
            line.flush.cancel()
            line.flush = None
        if line.waiting is not None:
            event, skipped = line.waiting, line.skipped
            line.waiting, line.skipped = None, 0
            self._write(line, event, skipped - 1)

    def _write(self, line: _DaemonLine, event: DaemonStatusChanged, earlier: int) -> None:
        line.logged_at, line.job_id, line.phase = time.monotonic(), event.job_id, event.phase
        job = f" [{event.job_type or 'job'} {event.job_id}]" if event.job_id else ""
        more = f" (and {earlier:,} earlier updates)" if earlier > 0 else ""
        self._log.info("[%s] %s%s%s", event.daemon, event.message, job, more)
        self.lines_written += 1

"""The headless journal: every daemon's newest status reaches the log, without a flood."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from stashdesk.events import DaemonStatusChanged
from stashdesk.status_journal import StatusJournal


def status(daemon: str, message: str, job_id: str | None = None, phase: str = "working"):
    return DaemonStatusChanged(
        daemon=daemon,
        message=message,
        job_id=job_id,
        job_type=None,
        phase=phase,
        wake_at=None,
        at=time.time(),
    )


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "stashdesk.test-journal"]


async def wait_until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.fixture
def journal(caplog: pytest.LogCaptureFixture) -> StatusJournal:
    caplog.set_level(logging.INFO, "stashdesk.test-journal")
    return StatusJournal(interval=0.2, logger=logging.getLogger("stashdesk.test-journal"))


async def test_a_burst_is_one_line_then_the_newest_with_a_count(journal, caplog) -> None:
    for n in range(1000):
        journal(status("sync", f"Processing page {n}"))
    assert lines(caplog) == ["[sync] Processing page 0"]
    await wait_until(lambda: len(lines(caplog)) == 2)
    assert lines(caplog)[1] == "[sync] Processing page 999 (and 998 earlier updates)"
    assert journal.lines_written == 2


async def test_a_new_job_or_phase_is_written_at_once(journal, caplog) -> None:
    journal(status("analysis", "Working"))
    journal(status("analysis", "Waiting on the analysis", job_id="j1", phase="waiting"))
    journal(status("analysis", "Sleeping", phase="sleeping"))
    journal(status("sync", "Syncing"))  # another daemon has its own pace
    assert lines(caplog) == [
        "[analysis] Working",
        "[analysis] Waiting on the analysis [job j1]",
        "[analysis] Sleeping",
        "[sync] Syncing",
    ]


async def test_cleared_statuses_are_not_written_and_close_writes_what_waits(
    journal, caplog
) -> None:
    journal(status("sync", "Page 1"))
    journal(status("sync", "Page 2"))
    journal(DaemonStatusChanged(daemon="sync", message=None))
    journal.close()
    assert lines(caplog) == ["[sync] Page 1", "[sync] Page 2"]
    await asyncio.sleep(0.3)  # the cancelled flush writes nothing more
    assert len(lines(caplog)) == 2


async def test_a_new_phase_first_writes_the_newest_status_that_waited(journal, caplog) -> None:
    for n in range(5):
        journal(status("sync", f"Page {n}"))
    journal(status("sync", "Sleeping", phase="sleeping"))
    assert lines(caplog) == [
        "[sync] Page 0",
        "[sync] Page 4 (and 3 earlier updates)",
        "[sync] Sleeping",
    ]

"""Daemons and time: processing windows, Run now, the next check, catch-up after a suspend.

The daemons read a ManualClock whose wall time the tests set and jump (as a
suspend or a clock change does) while its monotonic time runs normally.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

import pytest

import tests.fake_plugins  # registers test-tick and test-crash
from stashdesk.daemons.manager import DaemonNotRunning
from stashdesk.store.models import Daemon, DaemonJobAction, DaemonStatus, Job
from tests.engine_fixtures import ManualClock, wait_until

MONDAY_NOON = datetime(2025, 1, 6, 12, 0).timestamp()  # 6 January 2025 was a Monday
TUESDAY_1AM = datetime(2025, 1, 7, 1, 0).timestamp()


async def history(services, name: str = "test-tick") -> list[str]:
    await services.store.writer.flush_async()
    return await services.store.read(
        lambda: [
            r.message
            for r in DaemonStatus.select()
            .where(DaemonStatus.daemon == name)
            .order_by(DaemonStatus.id)
        ]
    )


async def jobs_of(services, name: str = "test-tick") -> list[Job]:
    await services.store.writer.flush_async()
    return await services.store.read(
        lambda: list(Job.select().where(Job.created_by == name).order_by(Job.created_at))
    )


def outside_window(status: str | None, opens_at: str, seconds: int) -> bool:
    """The status a daemon outside its windows shows (the seconds give or take one:
    real time passes between setting the clock and the status)."""
    match = re.fullmatch(
        rf"Outside the processing window, next window at {opens_at}, "
        rf"sleeping for ([\d,]+) seconds",
        status or "",
    )
    return bool(match) and abs(int(match.group(1).replace(",", "")) - seconds) <= 1


async def start_tick(services, clock: ManualClock, **config) -> object:
    services.manager.clock = clock
    await services.manager.set_config("test-tick", {"job_steps": 1, **config})
    await services.manager.start("test-tick")
    return services.manager.handle("test-tick")


async def test_outside_its_window_a_daemon_launches_nothing_and_says_when_it_resumes(
    services,
) -> None:
    clock = ManualClock(MONDAY_NOON)
    handle = await start_tick(services, clock, processing_windows="Mon-Fri 01:00-07:00")
    await wait_until(
        lambda: handle.instance and outside_window(handle.instance.status, "01:00", 46_800)
    )
    expected = handle.instance.status
    assert handle.instance.phase == "sleeping"
    assert handle.instance.wake_at == TUESDAY_1AM
    assert services.manager.next_check_at("test-tick") == TUESDAY_1AM
    await services.store.writer.flush_async()
    assert await jobs_of(services) == []
    assert handle.instance.passes == 0
    actions = await services.store.read(lambda: DaemonJobAction.select().count())
    assert actions == 0
    # what status --json shows comes from the row the writer keeps current
    row = await services.store.read(lambda: Daemon.get_by_id("test-tick"))
    assert (row.current_status, row.current_phase, row.wake_at) == (
        expected,
        "sleeping",
        TUESDAY_1AM,
    )

    # a job elsewhere finishing wakes it, but the window still holds it: no new history row
    before = await history(services)
    handle.instance.wake_up()
    await wait_until(lambda: not handle.instance._wake.is_set(), message="the wake-up seen")
    assert handle.instance.waiting_for_window
    assert await history(services) == before and await jobs_of(services) == []

    # the window opens (here: the clock reaches it) - it checks and launches at once
    clock.set(TUESDAY_1AM + 1)
    await wait_until(
        lambda: (
            handle.instance.passes >= 1
            and handle.instance.phase == "sleeping"
            and handle.instance.status.startswith("No test work")
        )
    )
    assert [j.status for j in await jobs_of(services)] == ["completed"]


async def test_run_now_runs_outside_the_window_and_only_that_pass(services) -> None:
    clock = ManualClock(MONDAY_NOON)
    handle = await start_tick(services, clock, processing_windows="Mon-Fri 01:00-07:00")
    await wait_until(lambda: handle.instance and handle.instance.waiting_for_window)
    answer = services.manager.run_now("test-tick")
    assert answer == {
        "name": "test-tick",
        "accepted": True,
        "busy": False,
        "message": "Test Tick checks now, ignoring its processing windows for that pass",
    }
    await wait_until(lambda: handle.instance.passes == 1)
    # after its Run now pass (and its short rest) it is back to waiting for the window
    await wait_until(
        lambda: (
            handle.instance.waiting_for_window
            and handle.instance.passes == 1
            and handle.instance.status.startswith("Outside the processing window")
        )
    )
    jobs = await jobs_of(services)
    assert [j.status for j in jobs] == ["completed"]
    messages = await history(services)
    first_wait = next(i for i, m in enumerate(messages) if outside_window(m, "01:00", 46_800))
    assert messages.index("Running 1 test steps") > first_wait


async def test_a_job_running_when_the_window_closes_finishes(services) -> None:
    monday_6am = datetime(2025, 1, 6, 6, 0).timestamp()
    clock = ManualClock(monday_6am)
    handle = await start_tick(
        services, clock, processing_windows="Mon-Fri 01:00-07:00", job_steps=15
    )
    await wait_until(lambda: handle.instance and handle.instance.phase == "waiting")
    clock.set(datetime(2025, 1, 6, 8, 0).timestamp())  # the window closes meanwhile
    await wait_until(lambda: handle.instance.waiting_for_window, timeout=10)
    jobs = await jobs_of(services)
    assert [(j.status, j.progress) for j in jobs] == [("completed", 100.0)]
    assert outside_window(handle.instance.status, "01:00", 61_200)


async def test_run_now_cuts_a_sleep_short_and_a_busy_daemon_checks_after_its_pass(services) -> None:
    handle = await start_tick(services, ManualClock(), job_interval_seconds=3600, job_steps=0)
    await wait_until(lambda: handle.instance and handle.instance.phase == "sleeping")
    assert abs(services.manager.next_check_at("test-tick") - (time.time() + 3600)) < 5
    started = time.monotonic()
    assert services.manager.run_now("test-tick")["message"] == "Test Tick checks now"
    await wait_until(lambda: handle.instance.passes == 2, timeout=2)
    assert time.monotonic() - started < 1

    await services.manager.set_config("test-tick", {"job_steps": 20})
    handle.instance.wake_up()
    await wait_until(lambda: handle.instance.phase == "waiting")
    answer = services.manager.run_now("test-tick")
    assert answer["busy"] and "checks again as soon as this pass ends" in answer["message"]
    assert services.manager.next_check_at("test-tick") is None  # busy: no next check time
    passes = handle.instance.passes
    await wait_until(lambda: handle.instance.passes == passes + 1, timeout=10)


async def test_run_now_on_a_stopped_daemon_says_to_start_it(services) -> None:
    with pytest.raises(DaemonNotRunning, match="not running: start it first"):
        services.manager.run_now("test-tick")
    assert services.manager.next_check_at("test-tick") is None


async def test_changing_the_windows_takes_effect_while_it_waits(services) -> None:
    clock = ManualClock(MONDAY_NOON)
    handle = await start_tick(services, clock, processing_windows="Mon-Fri 01:00-07:00")
    await wait_until(lambda: handle.instance and handle.instance.waiting_for_window)
    assert handle.instance.passes == 0
    # now the window is open at (fake) Monday noon: it checks without waiting for Tuesday
    await services.manager.set_config("test-tick", {"processing_windows": "Mon 11:00-13:00"})
    await wait_until(lambda: handle.instance.passes >= 1, timeout=2)
    await wait_until(lambda: handle.instance.status.startswith("No test work"))
    assert [j.status for j in await jobs_of(services)][:1] == ["completed"]


async def test_after_a_suspend_a_daemon_whose_check_is_past_checks_at_once(services) -> None:
    clock = ManualClock(check_interval=0.2)
    handle = await start_tick(services, clock, job_interval_seconds=3600, job_steps=0)
    await wait_until(lambda: handle.instance and handle.instance.phase == "sleeping")
    assert handle.instance.status == "No test work, sleeping for 3600 seconds"
    clock.jump(7 * 3600 + 12 * 60)  # the laptop slept overnight
    jumped = time.monotonic()
    await wait_until(lambda: handle.instance.passes == 2, timeout=2)
    assert time.monotonic() - jumped < 1.0
    messages = await history(services)
    assert "Resumed after 7 h 12 min asleep" in messages
    assert messages.index("Resumed after 7 h 12 min asleep") < len(messages) - 1
    assert (
        messages[messages.index("Resumed after 7 h 12 min asleep") + 1] == "Checking for test work"
    )


async def test_a_clock_set_back_does_not_stretch_a_sleep(services) -> None:
    clock = ManualClock(check_interval=0.05)
    handle = await start_tick(services, clock, job_interval_seconds=0.5, job_steps=0)
    await wait_until(lambda: handle.instance and handle.instance.phase == "sleeping")
    clock.jump(-3600)
    passes = handle.instance.passes
    await wait_until(lambda: handle.instance.passes > passes, timeout=2)
    assert "Resumed" not in " ".join(await history(services))


async def test_a_crashed_daemon_checks_next_when_it_restarts(engines) -> None:
    services = await engines.start(settings={"daemons.restart_backoff_initial": 2})
    tests.fake_plugins.CrashingDaemon.starts = 0
    await services.manager.set_config("test-crash", {"crashes": 1})
    crashed_at = time.time()
    await services.manager.start("test-crash")
    handle = services.manager.handle("test-crash")
    await wait_until(lambda: handle.state == "error")
    next_check = services.manager.next_check_at("test-crash")
    assert next_check is not None and abs(next_check - (crashed_at + 2)) < 1
    await services.store.writer.flush_async()
    row = await services.store.read(lambda: Daemon.get_by_id("test-crash"))
    assert (row.state, row.wake_at) == ("error", next_check)
    with pytest.raises(DaemonNotRunning, match="restarting after a crash"):
        services.manager.run_now("test-crash")
    await wait_until(
        lambda: handle.state == "running" and handle.instance.phase == "sleeping", timeout=5
    )
    assert services.manager.next_check_at("test-crash") == handle.instance.wake_at

"""The job runner: rows first, limits, progress, cancellation, start-up reconciliation."""

from __future__ import annotations

import asyncio
import time

import pytest

import tests.fake_plugins  # noqa: F401 - registers the TEST_* job types
from stashdesk.events import JobFinished, JobProgressed
from stashdesk.jobs.base import JobStatus
from stashdesk.jobs.runner import UnknownJobError
from stashdesk.store.models import Job
from tests.engine_fixtures import wait_until


async def row(services, job_id: str) -> Job:
    return await services.store.read(lambda: Job.get(Job.id == job_id))


async def test_a_job_is_a_row_before_it_is_a_task(services) -> None:
    seen_rows = []

    def on_created(event) -> None:
        # Synchronous DB read on purpose: the row must exist when the event fires.
        seen_rows.append(Job.get_or_none(Job.id == event.job_id))

    from stashdesk.events import JobCreated

    services.bus.listen(on_created, JobCreated)
    info = await services.runner.submit("TEST_STEPS", {"steps": 2}, created_by="tester")
    assert seen_rows and seen_rows[0] is not None and seen_rows[0].status == "pending"
    final = await services.runner.wait(info.id, timeout=5)
    assert final.status == JobStatus.COMPLETED
    stored = await row(services, info.id)
    assert (stored.status, stored.progress, stored.result) == (
        "completed",
        100.0,
        {"steps": 2, "resumed": False},
    )
    assert stored.created_by == "tester" and stored.started_at and stored.finished_at


async def test_unknown_job_type_is_refused(services) -> None:
    with pytest.raises(UnknownJobError):
        await services.runner.submit("NO_SUCH_TYPE")


async def test_failures_are_recorded_with_their_message(services) -> None:
    info = await services.runner.submit("TEST_STEPS", {"steps": 1, "fail": "disk full"})
    final = await services.runner.wait(info.id, timeout=5)
    assert final.status == "failed" and final.error == "disk full"
    assert (await row(services, info.id)).error == "disk full"


async def test_a_jobs_warnings_reach_the_log_of_the_daemon_that_launched_it(services) -> None:
    from stashdesk.events import DaemonLogged
    from stashdesk.store import history as history_store

    lines: list[DaemonLogged] = []
    services.bus.listen(lines.append, DaemonLogged)
    info = await services.runner.submit(
        "TEST_STEPS", {"steps": 1, "warn": "file 3 unreadable"}, created_by="test-tick"
    )
    await services.runner.wait(info.id, timeout=5)
    assert [(e.daemon, e.level, e.message) for e in lines] == [
        ("test-tick", "WARNING", "Test steps: file 3 unreadable")
    ]
    await services.store.writer.flush_async()
    stored = await services.store.read(lambda: history_store.log_page("test-tick", None, None, 10))
    assert [row[4] for row in stored] == ["Test steps: file 3 unreadable"]
    # A job nobody's daemon launched keeps its warnings in the engine's own log only.
    lines.clear()
    other = await services.runner.submit("TEST_STEPS", {"steps": 1, "warn": "x"}, created_by="cli")
    await services.runner.wait(other.id, timeout=5)
    assert lines == []


async def test_concurrency_limit_and_exclusive_types(engines) -> None:
    services = await engines.start(settings={"jobs.max_concurrent": 2})
    plain = [
        await services.runner.submit("TEST_STEPS", {"steps": 5, "delay": 0.05}) for _ in range(3)
    ]
    running = [j for j in services.runner.active_jobs() if j.status == "running"]
    assert len(running) == 2  # the third waits for a slot
    await asyncio.gather(*(services.runner.wait(j.id, 10) for j in plain))

    first = await services.runner.submit("TEST_EXCLUSIVE", {"steps": 5, "delay": 0.05})
    second = await services.runner.submit("TEST_EXCLUSIVE", {"steps": 1})
    assert services.runner.snapshot(second.id).status == "pending"
    done_second = await services.runner.wait(second.id, 10)
    done_first = await services.runner.get(first.id)
    assert done_first.finished_at <= done_second.started_at


async def test_progress_is_throttled_but_the_final_state_is_always_recorded(services) -> None:
    sub = services.bus.subscribe(JobProgressed, JobFinished)
    info = await services.runner.submit("TEST_STEPS", {"steps": 200, "delay": 0})
    await services.runner.wait(info.id, 10)
    events = sub.drain()
    progress = [e for e in events if isinstance(e, JobProgressed)]
    finished = [e for e in events if isinstance(e, JobFinished)]
    assert len(progress) < 50  # 200 reports, throttled to about one per 0.1 s
    assert finished[-1].status == "completed"
    stored = await row(services, info.id)
    assert stored.progress == 100.0 and stored.message == "Test steps finished"  # how it ended


async def test_cooperative_cancel(services) -> None:
    info = await services.runner.submit("TEST_STEPS", {"steps": 1000, "delay": 0.01})
    await wait_until(lambda: services.runner.snapshot(info.id).progress > 0)
    await services.runner.cancel(info.id, "Cancelled by the test")
    final = await services.runner.wait(info.id, 5)
    assert final.status == "cancelled" and final.error == "Cancelled by the test"
    assert (await row(services, info.id)).status == "cancelled"


async def test_cancel_of_a_pending_job_is_immediate(engines) -> None:
    services = await engines.start(settings={"jobs.max_concurrent": 1})
    blocker = await services.runner.submit("TEST_STEPS", {"steps": 50, "delay": 0.02})
    waiting = await services.runner.submit("TEST_STEPS", {"steps": 1})
    cancelled = await services.runner.cancel(waiting.id)
    assert cancelled.status == "cancelled"
    assert (await row(services, waiting.id)).status == "cancelled"
    await services.runner.cancel(blocker.id)


async def test_hard_cancel_after_the_grace_period(engines) -> None:
    services = await engines.start(settings={"jobs.cancel_grace_seconds": 1})
    info = await services.runner.submit("TEST_STUBBORN")
    await wait_until(lambda: services.runner.snapshot(info.id).status == "running")
    started = time.monotonic()
    await services.runner.cancel(info.id)
    assert services.runner.snapshot(info.id).status == "cancelling"
    final = await services.runner.wait(info.id, 5)
    assert final.status == "cancelled" and "stopped hard" in final.error
    assert 0.9 < time.monotonic() - started < 4


async def test_startup_requeues_pending_interrupts_running_and_resumes_resumable(engines) -> None:
    services = await engines.start()
    now = time.time()

    def leave_rows_like_a_killed_process() -> None:
        Job.create(
            id="left-pending",
            type="TEST_STEPS",
            status="pending",
            created_at=now,
            metadata={"steps": 1},
        )
        Job.create(
            id="left-running", type="TEST_STEPS", status="running", created_at=now, started_at=now
        )
        Job.create(
            id="left-resumable",
            type="TEST_RESUMABLE",
            status="running",
            created_at=now,
            started_at=now,
            metadata={"external_id": "ext-1"},
        )
        Job.create(
            id="left-cancelling",
            type="TEST_STEPS",
            status="cancelling",
            created_at=now,
            started_at=now,
        )

    await services.store.write(leave_rows_like_a_killed_process)
    await engines.engine.stop()

    services = await engines.start()
    pending = await services.runner.wait("left-pending", 5)
    resumed = await services.runner.wait("left-resumable", 5)
    assert pending.status == "completed"
    assert resumed.status == "completed" and resumed.result["resumed"] is True
    for job_id in ("left-running", "left-cancelling"):
        stored = await row(services, job_id)
        assert stored.status == "interrupted" and "stopped while" in stored.error
    assert (
        await services.store.read(
            lambda: Job.select().where(Job.status.in_(["running", "pending"])).count()
        )
        == 0
    )


async def test_shutdown_interrupts_running_jobs_and_hands_resumable_ones_over(engines) -> None:
    services = await engines.start()
    plain = await services.runner.submit("TEST_STEPS", {"steps": 10_000, "delay": 0.01})
    resumable = await services.runner.submit("TEST_RESUMABLE")
    await wait_until(
        lambda: (
            services.runner.snapshot(resumable.id) is not None
            and services.runner.snapshot(resumable.id).metadata.get("external_id")
        )
    )
    await engines.engine.stop()

    services = await engines.start(control=False)
    stored_plain = await row(services, plain.id)
    assert stored_plain.status == "interrupted"
    resumed = await services.runner.wait(resumable.id, 5)
    assert resumed.status == "completed" and resumed.result == {
        "resumed": True,
        "external_id": "ext-1",
    }


async def test_progress_reaches_subscribers_about_ten_times_a_second(services) -> None:
    sub = services.bus.subscribe(JobProgressed)
    info = await services.runner.submit("TEST_STEPS", {"steps": 150, "delay": 0.01})
    await services.runner.wait(info.id, 10)
    running = [e for e in sub.drain() if e.status == "running"]
    # ~1.5 s of steady progress: one event per 0.1 s, not one per database write (1 s)
    assert 8 <= len(running) <= 25


async def test_the_final_progress_and_message_are_always_published(services) -> None:
    sub = services.bus.subscribe(JobProgressed, JobFinished)
    info = await services.runner.submit("TEST_STEPS", {"steps": 50, "delay": 0})
    await services.runner.wait(info.id, 10)
    events = sub.drain()
    last_progress = [e for e in events if isinstance(e, JobProgressed)][-1]
    assert isinstance(events[-1], JobFinished)
    assert (last_progress.status, last_progress.progress, last_progress.message) == (
        "completed",
        100.0,
        "Test steps finished",
    )

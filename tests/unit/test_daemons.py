"""The daemon framework: the status path, lifecycle, errors, crashes, the manager."""

from __future__ import annotations

import time

import pytest

import tests.fake_plugins  # noqa: F401 - registers test-tick and test-crash
from stashdesk.events import DaemonStateChanged, DaemonStatusChanged, Notification
from stashdesk.options import OptionError
from stashdesk.store.models import Daemon, DaemonJobAction, DaemonLog, DaemonStatus
from tests.engine_fixtures import wait_until
from tests.fake_plugins import CrashingDaemon, TickDaemon


async def daemon_row(services, name: str) -> Daemon:
    await services.store.writer.flush_async()
    return await services.store.read(lambda: Daemon.get(Daemon.name == name))


async def history(services, name: str) -> list[tuple[str, str | None, str | None]]:
    await services.store.writer.flush_async()
    rows = await services.store.read(
        lambda: list(
            DaemonStatus.select().where(DaemonStatus.daemon == name).order_by(DaemonStatus.id)
        )
    )
    return [(r.message, r.job_id, r.job_type) for r in rows]


async def test_update_status_returns_without_suspending(services) -> None:
    daemon = TickDaemon(services)
    seen = []
    services.bus.listen(seen.append, DaemonStatusChanged)
    coroutine = daemon.update_status("Doing things", job_id="j1", job_type="SYNC")
    # A coroutine that finishes on its first step never awaited anything: no sleep,
    # no I/O, no waiting on the writer.
    with pytest.raises(StopIteration):
        coroutine.send(None)
    assert (daemon.status, daemon.job_id, daemon.job_type) == ("Doing things", "j1", "SYNC")
    assert seen[-1].message == "Doing things" and seen[-1].job_id == "j1"
    durations = []
    for i in range(2000):
        start = time.perf_counter()
        coroutine = daemon.update_status(f"status {i}")
        with pytest.raises(StopIteration):
            coroutine.send(None)
        durations.append(time.perf_counter() - start)
    assert sorted(durations)[len(durations) // 2] < 0.001


async def test_status_without_job_clears_job_fields_and_is_persisted(services) -> None:
    daemon = TickDaemon(services)
    await daemon.update_status("With job", job_id="j1", job_type="SYNC")
    await daemon.update_status("Without job")
    row = await daemon_row(services, daemon.name)
    assert (row.current_status, row.current_job_id, row.current_job_type) == (
        "Without job",
        None,
        None,
    )
    assert await history(services, daemon.name) == [
        ("With job", "j1", "SYNC"),
        ("Without job", None, None),
    ]


async def test_first_status_within_100_ms_of_start(services) -> None:
    sub = services.bus.subscribe(DaemonStatusChanged)
    started = time.monotonic()
    await services.manager.start("test-tick")
    event = await wait_until(lambda: next(iter(sub.drain()), None), timeout=2)
    assert time.monotonic() - started < 0.1
    assert event.daemon == "test-tick" and event.message == "Checking for test work"


async def test_status_clears_immediately_on_stop(services) -> None:
    await services.manager.set_config("test-tick", {"job_interval_seconds": 60})
    await services.manager.start("test-tick")
    handle = services.manager.handle("test-tick")
    await wait_until(lambda: handle.instance and handle.instance.phase == "sleeping")
    assert (
        await daemon_row(services, "test-tick")
    ).current_status == "No test work, sleeping for 60 seconds"
    started = time.monotonic()
    await services.manager.stop("test-tick")
    assert time.monotonic() - started < 1  # the 60 s sleep was cut short
    row = await daemon_row(services, "test-tick")
    assert (row.state, row.current_status, row.current_job_id) == ("stopped", None, None)


async def test_sequence_with_job_is_recorded_in_order(services) -> None:
    await services.manager.set_config("test-tick", {"job_steps": 2, "job_interval_seconds": 60})
    await services.manager.start("test-tick")
    handle = services.manager.handle("test-tick")
    await wait_until(lambda: handle.instance and handle.instance.phase == "sleeping")
    rows = await history(services, "test-tick")
    job_id = rows[1][1]
    assert job_id
    assert rows == [
        ("Checking for test work", None, None),
        ("Running 2 test steps", job_id, "TEST_STEPS"),
        ("Waiting for test steps to complete", job_id, "TEST_STEPS"),
        ("Test steps completed", None, None),
        ("No test work, sleeping for 60 seconds", None, None),
    ]
    actions = await services.store.read(
        lambda: [
            (a.job_id, a.action, a.reason)
            for a in DaemonJobAction.select().order_by(DaemonJobAction.id)
        ]
    )
    assert [a[:2] for a in actions] == [(job_id, "LAUNCHED"), (job_id, "FINISHED")]
    assert actions[1][2] == "Test steps finished"  # words, not the result's key=value


async def test_wait_for_job_keeps_heartbeat_fresh(services) -> None:
    await services.manager.set_config(
        "test-tick", {"job_steps": 80, "heartbeat_interval": 1, "job_interval_seconds": 60}
    )
    await services.manager.start("test-tick")
    handle = services.manager.handle("test-tick")
    await wait_until(lambda: handle.instance and handle.instance.phase == "waiting")
    first = (await daemon_row(services, "test-tick")).last_heartbeat
    await wait_until(lambda: handle.instance.phase == "sleeping", timeout=5)
    row = await daemon_row(services, "test-tick")
    assert row.last_heartbeat - first >= 0.9  # at least one heartbeat while waiting


async def test_a_failing_pass_is_reported_and_the_loop_goes_on(services) -> None:
    await services.manager.set_config("test-tick", {"fail_passes": 2, "job_interval_seconds": 0.05})
    await services.manager.start("test-tick")
    handle = services.manager.handle("test-tick")
    await wait_until(lambda: handle.instance and handle.instance.passes >= 3)
    messages = [m for m, _j, _t in await history(services, "test-tick")]
    assert "Error: RuntimeError: test failure 1 - retrying in 0.05 seconds" in messages
    assert handle.state == "running"
    logs = await services.store.read(lambda: [r.message for r in DaemonLog.select()])
    assert any("test failure 2" in m for m in logs)


async def test_a_crashing_daemon_goes_to_error_and_comes_back(engines) -> None:
    services = await engines.start(settings={"daemons.restart_backoff_initial": 1})
    CrashingDaemon.starts = 0
    await services.manager.set_config("test-crash", {"crashes": 2})
    states, notes = [], []
    services.bus.listen(lambda e: states.append((e.state, e.error)), DaemonStateChanged)
    services.bus.listen(notes.append, Notification)
    started = time.monotonic()
    await services.manager.start("test-crash")
    await wait_until(
        lambda: (
            CrashingDaemon.starts >= 3
            and services.manager.handle("test-crash").instance.status
            == "Nothing to crash on, sleeping for 0.1 seconds"
        ),
        timeout=10,
    )
    # back-off: 1 s after the first crash, 2 s after the second
    assert time.monotonic() - started >= 2.9
    assert states == [
        ("running", None),
        ("error", "RuntimeError: crash number 1"),
        ("running", None),
        ("error", "RuntimeError: crash number 2"),
        ("running", None),
    ]
    row = await daemon_row(services, "test-crash")
    assert row.state == "running" and row.last_error == "RuntimeError: crash number 2"
    assert [n.kind for n in notes] == ["daemon_crashed", "daemon_crashed", "daemon_recovered"]


async def test_manager_repairs_rows_left_running_by_a_hard_kill(engines) -> None:
    services = await engines.start()
    await services.store.write(
        lambda: (
            Daemon.update(
                state="running",
                current_status="Waiting for sync to complete",
                current_job_id="x",
                current_job_type="SYNC",
            )
            .where(Daemon.name == "test-tick")
            .execute()
        )
    )
    await engines.engine.stop()
    services = await engines.start()
    row = await daemon_row(services, "test-tick")
    assert (row.state, row.current_status, row.current_job_id) == ("stopped", None, None)


async def test_auto_start_starts_enabled_daemons_only(engines) -> None:
    services = await engines.start()
    await services.manager.set_enabled("test-tick", True, auto_start=True)
    await services.manager.set_enabled("test-crash", True, auto_start=False)
    await engines.engine.stop()
    services = await engines.start(auto_start=True)
    assert services.manager.handle("test-tick").running
    assert not services.manager.handle("test-crash").running


async def test_config_is_validated_before_it_is_saved(services) -> None:
    with pytest.raises(OptionError, match="at least"):
        await services.manager.set_config("test-tick", {"job_interval_seconds": -5})
    with pytest.raises(OptionError, match="has no setting"):
        await services.manager.set_config("test-tick", {"no_such_key": 1})
    row = await daemon_row(services, "test-tick")
    assert row.config["job_interval_seconds"] == 0.2
    await services.manager.set_config("test-tick", {"job_interval_seconds": "7"})
    assert (await daemon_row(services, "test-tick")).config["job_interval_seconds"] == 7.0
    await services.manager.reset_config("test-tick")
    assert (await daemon_row(services, "test-tick")).config == TickDaemon.default_config()


async def test_secrets_never_reach_status_or_logs(engines) -> None:
    services = await engines.start(settings={"stash.api_key": "top-secret-key"})
    daemon = TickDaemon(services)
    await daemon.update_status("Calling Stash with key top-secret-key")
    daemon.log("ERROR", "request failed: ApiKey top-secret-key rejected")
    messages = [m for m, _j, _t in await history(services, daemon.name)]
    logs = await services.store.read(lambda: [r.message for r in DaemonLog.select()])
    assert messages == ["Calling Stash with key ********"]
    assert logs == ["request failed: ApiKey ******** rejected"]


async def test_a_finished_job_wakes_the_daemons_that_wait_for_its_results(services) -> None:
    await services.manager.set_config("test-tick", {"job_interval_seconds": 600})
    await services.manager.start("test-tick")
    handle = services.manager.handle("test-tick")
    await wait_until(lambda: handle.instance and handle.instance.phase == "sleeping")
    assert handle.instance.passes == 1
    other = await services.runner.submit("TEST_STEPS", {"steps": 1}, created_by="tester")
    await services.runner.wait(other.id, 5)
    assert handle.instance.phase == "sleeping" and handle.instance.passes == 1  # not its kind
    job = await services.runner.submit("TEST_EXCLUSIVE", {"steps": 1}, created_by="tester")
    await services.runner.wait(job.id, 5)
    await wait_until(lambda: handle.instance.passes == 2, timeout=2)

"""Auto Stash Sync and Auto Stash Generation against the Stash stand-in: their status
sequences (asserted from the status history), restarts, and every way Stash can
misbehave."""

from __future__ import annotations

import asyncio

import pytest

from stashdesk.events import DaemonStatusChanged
from stashdesk.jobs import stash_follow
from stashdesk.store.models import DaemonJobAction, Job
from tests.engine_fixtures import wait_until
from tests.fake_plugins import TickDaemon
from tests.integration.stash_helpers import (
    history,
    local_scenes,
    logs,
    run_job,
    start_with_stash,
)

SYNC = "stash-sync"
GENERATION = "stash-generation"
STATUSES: dict[int, dict[str, list[str]]] = {}  # statuses seen on the bus, per engine


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch) -> None:
    monkeypatch.setattr(stash_follow, "POLL_SECONDS", 0.02)


def instance(services, name: str):
    return services.manager.handle(name).instance


async def start_daemon(services, name: str, **config) -> None:
    await services.manager.set_config(name, config)
    seen = STATUSES.setdefault(id(services), {}).setdefault(name, [])
    services.bus.listen(
        lambda e: e.daemon == name and e.message and seen.append(e.message), DaemonStatusChanged
    )
    await services.manager.start(name)


async def wait_for_status(services, name: str, predicate, timeout: float = 10.0) -> str:
    def check():
        daemon = instance(services, name)
        return daemon is not None and daemon.status and predicate(daemon.status) and daemon.status

    return await wait_until(check, timeout=timeout, message=f"{name} status")


async def actions(services, daemon: str) -> list[tuple[str, str]]:
    await services.store.writer.flush_async()
    return await services.store.read(
        lambda: [
            (a.job_id, a.action)
            for a in DaemonJobAction.select()
            .where(DaemonJobAction.daemon == daemon)
            .order_by(DaemonJobAction.id)
        ]
    )


# --- Auto Stash Sync ---------------------------------------------------------------------


async def test_sync_daemon_full_status_sequence(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    await start_daemon(services, SYNC, job_interval_seconds=60)
    await wait_for_status(services, SYNC, lambda s: s.startswith("No pending scenes"))
    assert await history(services, SYNC) == [
        ("Checking for scenes to sync from Stash", None, None),
        ("No pending scenes, sleeping for 60 seconds", None, None),
    ]

    stash_server.freeze_time("2026-03-01T10:00:00")
    for i in range(3):
        stash_server.add_scene(f"Scene {i}")
        stash_server.advance(1)
    instance(services, SYNC).wake_up()
    await wait_until(lambda: asleep_after_syncs(services, 1), timeout=10)
    rows = (await history(services, SYNC))[2:]
    job_id = rows[2][1]
    assert job_id
    assert rows == [
        ("Checking for scenes to sync from Stash", None, None),
        ("Found 3 scenes needing sync", None, None),
        ("Syncing 3 scenes from Stash", job_id, "SYNC"),
        ("Waiting for sync to complete", job_id, "SYNC"),
        ("Sync completed for 3 scenes", None, None),
        ("Checking for scenes to sync from Stash", None, None),
        ("No pending scenes, sleeping for 60 seconds", None, None),
    ]
    assert await actions(services, SYNC) == [(job_id, "LAUNCHED"), (job_id, "FINISHED")]
    assert len(await local_scenes(services)) == 3

    # an edit: the next pass syncs exactly that one scene
    stash_server.edit_scene(next(iter(stash_server.scenes)), title="Edited")
    instance(services, SYNC).wake_up()
    await wait_until(lambda: asleep_after_syncs(services, 2), timeout=10)
    messages = [m for m, _j, _t in await history(services, SYNC)]
    assert messages[-6:-2] == [
        "Found 1 scenes needing sync",
        "Syncing 1 scenes from Stash",
        "Waiting for sync to complete",
        "Sync completed for 1 scenes",
    ]


def asleep_after_syncs(services, count: int) -> bool:
    """The sync daemon is asleep again after reporting ``count`` completed syncs."""
    daemon = instance(services, SYNC)
    seen = STATUSES[id(services)][SYNC]
    completed = [m for m in seen if m.startswith("Sync completed")]
    return daemon is not None and daemon.phase == "sleeping" and len(completed) >= count


async def test_sync_daemon_after_a_restart_waits_for_its_own_sync(engines, stash_server) -> None:
    for i in range(4):
        stash_server.add_scene(f"Scene {i}")
    services = await start_with_stash(engines, stash_server)
    stash_server.slow(30, operation="FindScenes")  # the first sync hangs on its first page
    await start_daemon(services, SYNC, job_interval_seconds=60)
    await wait_for_status(services, SYNC, lambda s: s == "Waiting for sync to complete")
    job_id = instance(services, SYNC).job_id
    await engines.engine.stop()
    stash_server.clear_faults()

    services = await engines.start()
    await services.manager.start(SYNC)
    await wait_for_status(services, SYNC, lambda s: s.startswith("No pending scenes"))
    rows = await history(services, SYNC)
    after = rows[rows.index(("Syncing 4 scenes from Stash", job_id, "SYNC")) + 2 :]
    assert after == [
        ("Checking for scenes to sync from Stash", None, None),
        ("Waiting for sync to complete", job_id, "SYNC"),
        ("Sync completed for 4 scenes", None, None),
        ("Checking for scenes to sync from Stash", None, None),
        ("No pending scenes, sleeping for 60 seconds", None, None),
    ]
    jobs = await services.store.read(lambda: [(j.id, j.status) for j in Job.select()])
    assert jobs == [(job_id, "completed")]  # resumed, not launched again


async def test_a_failing_sync_job_is_reported_and_retried(engines, stash_server) -> None:
    for i in range(3):
        stash_server.add_scene(f"Scene {i}")
    services = await start_with_stash(engines, stash_server)
    stash_server.fail_http(500, operation="FindScenes")
    await start_daemon(services, SYNC, job_interval_seconds=0.5)
    status = await wait_for_status(services, SYNC, lambda s: s.startswith("Sync failed"))
    assert status == (
        f"Sync failed: Stash at {stash_server.url} answered HTTP 500: Internal "
        f"Server Error - retrying in 0.5 seconds"
    )
    failed = await services.store.read(lambda: Job.select().where(Job.status == "failed").get())
    assert "answered HTTP 500" in failed.error  # the job records the error
    assert (failed.id, "FAILED") in await actions(services, SYNC)
    assert any(
        level == "WARNING" and "Sync failed" in message
        for level, message in await logs(services, SYNC)
    )
    stash_server.clear_faults()
    await wait_for_status(services, SYNC, lambda s: s.startswith("No pending scenes"), 15)
    assert "Sync completed for 3 scenes" in [m for m, _j, _t in await history(services, SYNC)]


# --- Auto Stash Generation ------------------------------------------------------------------


async def synced(services, stash_server, count: int) -> list[str]:
    ids = [stash_server.add_scene(f"Scene {i}") for i in range(count)]
    assert (await run_job(services, "SYNC")).status == "completed"
    return ids


async def test_generation_daemon_full_status_sequence(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    ids = await synced(services, stash_server, 3)
    stash_server.job_script = [("RUNNING", 0.2), ("RUNNING", 0.6), ("FINISHED", 1.0)]
    await start_daemon(services, GENERATION, job_interval_seconds=60, scan_check_seconds=0.05)
    await wait_for_status(services, GENERATION, lambda s: s.startswith("All scenes generated"))
    rows = await history(services, GENERATION)
    job_id = rows[2][1]
    assert job_id
    assert rows == [
        ("Checking for running jobs", None, None),
        ("Checking for scenes needing generation", None, None),
        ("Starting metadata generation", job_id, "STASH_GENERATE"),
        ("Generating metadata for scenes", job_id, "STASH_GENERATE"),
        ("Metadata generation completed", None, None),
        ("Checking for running jobs", None, None),
        ("Checking for scenes needing generation", None, None),
        ("All scenes generated, sleeping for 60 seconds", None, None),
    ]
    assert all(s["generated"] for s in (await local_scenes(services)).values())
    sent = stash_server.requests_for("metadataGenerate")[0].variables["input"]
    assert sorted(sent["sceneIDs"]) == sorted(ids)
    assert await actions(services, GENERATION) == [(job_id, "LAUNCHED"), (job_id, "FINISHED")]


async def test_generation_daemon_waits_while_jobs_run(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    await synced(services, stash_server, 2)
    external = stash_server.add_external_job("Auto tagging...", status="RUNNING")
    await start_daemon(services, GENERATION, job_interval_seconds=0.3)
    await wait_for_status(services, GENERATION, lambda s: s.startswith("Found 1 running jobs"))
    assert (await history(services, GENERATION))[:2] == [
        ("Checking for running jobs", None, None),
        ("Found 1 running jobs, sleeping for 0.3 seconds", None, None),
    ]
    # a job of StashDesk's own counts too, and its Stash job is not counted twice
    scan = await services.runner.submit("STASH_SCAN", {"paths": ["/data"]})
    await wait_until(
        lambda: (services.runner.snapshot(scan.id) or scan).metadata.get("stash_job_id")
    )
    await wait_for_status(services, GENERATION, lambda s: s.startswith("Found 2 running jobs"))
    stash_server.set_job(external, status="FINISHED")
    await services.runner.cancel(scan.id)
    await wait_for_status(
        services, GENERATION, lambda s: s.startswith("Generating metadata for scenes")
    )
    await wait_until(lambda: stash_server.requests_for("metadataGenerate"))


async def test_generation_is_cancelled_when_a_scan_appears(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    await synced(services, stash_server, 2)
    await start_daemon(services, GENERATION, job_interval_seconds=0.3, scan_check_seconds=0.05)
    await wait_for_status(
        services, GENERATION, lambda s: s.startswith("Generating metadata for scenes")
    )
    generation = instance(services, GENERATION).job_id
    stash_id = await wait_until(
        lambda: (services.runner.snapshot(generation) or {}).metadata.get("stash_job_id")
    )
    stash_server.set_job(stash_id, status="RUNNING", progress=0.1)
    stash_server.add_external_job("Scanning...", status="READY")  # a library scan in Stash
    await wait_for_status(services, GENERATION, lambda s: s.startswith("Found 1 running jobs"))
    rows = await history(services, GENERATION)
    start = rows.index(("Generating metadata for scenes", generation, "STASH_GENERATE"))
    assert rows[start + 1 : start + 4] == [
        ("Cancelling generation due to 1 scan jobs", generation, "STASH_GENERATE"),
        ("Checking for running jobs", None, None),
        ("Found 1 running jobs, sleeping for 0.3 seconds", None, None),
    ]
    outcome = await services.runner.get(generation)
    assert outcome.status == "cancelled" and "scan" in outcome.error
    assert [r.variables for r in stash_server.requests_for("stopJob")] == [{"job_id": stash_id}]
    assert stash_server.jobs[stash_id].status == "CANCELLED"
    assert (generation, "CANCELLED") in await actions(services, GENERATION)
    assert not any(s["generated"] for s in (await local_scenes(services)).values())


async def test_a_local_scan_job_cancels_the_generation_too(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    await synced(services, stash_server, 1)
    await start_daemon(services, GENERATION, job_interval_seconds=60, scan_check_seconds=0.05)
    await wait_for_status(
        services, GENERATION, lambda s: s.startswith("Generating metadata for scenes")
    )
    generation = instance(services, GENERATION).job_id
    await services.runner.submit("STASH_SCAN", {"paths": ["/data/new"]})
    await wait_for_status(services, GENERATION, lambda s: s.startswith("Found 1 running jobs"))
    assert (
        "Cancelling generation due to 1 scan jobs",
        generation,
        "STASH_GENERATE",
    ) in await history(services, GENERATION)
    assert (await services.runner.get(generation)).status == "cancelled"


async def test_generation_daemon_after_a_restart_monitors_its_generation(
    engines, stash_server
) -> None:
    services = await start_with_stash(engines, stash_server)
    await synced(services, stash_server, 2)
    await start_daemon(services, GENERATION, job_interval_seconds=60, scan_check_seconds=0.05)
    await wait_for_status(
        services, GENERATION, lambda s: s.startswith("Generating metadata for scenes")
    )
    generation = instance(services, GENERATION).job_id
    stash_id = await wait_until(
        lambda: (services.runner.snapshot(generation) or {}).metadata.get("stash_job_id")
    )
    stash_server.set_job(stash_id, status="RUNNING", progress=0.5)
    await engines.engine.stop()

    services = await engines.start()
    await services.manager.start(GENERATION)
    await wait_for_status(
        services, GENERATION, lambda s: s.startswith("Generating metadata for scenes")
    )
    assert instance(services, GENERATION).job_id == generation
    stash_server.set_job(stash_id, status="FINISHED", progress=1.0)
    await wait_for_status(services, GENERATION, lambda s: s.startswith("All scenes generated"))
    assert stash_server.operations().count("metadataGenerate") == 1


async def test_a_stalled_generation_shows_in_the_daemon_status(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server, **{"stash.stalled_job_minutes": 0.01})
    await synced(services, stash_server, 1)
    await start_daemon(services, GENERATION, job_interval_seconds=60, scan_check_seconds=0.05)
    status = await wait_for_status(services, GENERATION, lambda s: "no progress" in s)
    assert status.startswith("Generating metadata for scenes - Stash job ")
    assert instance(services, GENERATION).job_type == "STASH_GENERATE"
    warnings = [m for level, m in await logs(services, GENERATION) if level == "WARNING"]
    own = [m for m in warnings if not m.startswith("Stash generate: ")]  # not its job's
    assert len(own) == 1 and "has made no progress for" in own[0]


async def test_wait_for_job_shows_a_stalled_stash_job(engines, stash_server) -> None:
    """Any daemon waiting with BaseDaemon.wait_for_job (e.g. the download processor on its
    STASH_SCAN) shows a stalled Stash job in its status."""
    services = await start_with_stash(engines, stash_server, **{"stash.stalled_job_minutes": 0.01})
    daemon = TickDaemon(services, {"heartbeat_interval": 1})
    scan = await services.runner.submit("STASH_SCAN", {"paths": ["/data"]})
    waiting = asyncio.ensure_future(
        daemon.wait_for_job(scan, "Waiting for metadata scan to complete")
    )
    await wait_until(lambda: daemon.status and "no progress" in daemon.status, timeout=5)
    assert daemon.status.startswith("Waiting for metadata scan to complete - Stash job ")
    assert daemon.job_id == scan.id and daemon.job_type == "STASH_SCAN"
    stash_id = services.runner.snapshot(scan.id).metadata["stash_job_id"]
    stash_server.set_job(stash_id, status="FINISHED", progress=1.0)
    outcome = await asyncio.wait_for(waiting, 5)
    assert outcome.status == "completed"


# --- when Stash misbehaves --------------------------------------------------------------------


def break_stash(stash_server, mode: str) -> str:
    """Make the stand-in misbehave; returns what the status must say."""
    url = stash_server.url
    if mode == "unreachable":
        stash_server.stop()
        return f"Stash unreachable at {url}: connection refused - retrying in"
    if mode == "401":
        stash_server.api_key = "the-right-key"
        return "Stash rejected the API key (HTTP 401) - set stash.api_key"
    if mode == "500":
        stash_server.fail_http(500)
        return f"Stash at {url} answered HTTP 500: Internal Server Error - retrying in"
    if mode == "slow":
        stash_server.slow(3)
        return f"Stash at {url} did not answer within 1 s"
    if mode == "malformed":
        stash_server.malformed("not_json")
        return f"Stash at {url} sent an answer that is not GraphQL JSON"
    if mode == "graphql":
        stash_server.fail_graphql("database is locked")
        return "Stash reported an error: database is locked - retrying in"
    raise AssertionError(mode)


def fix_stash(stash_server, mode: str) -> None:
    stash_server.clear_faults()
    stash_server.api_key = None
    if mode == "unreachable":
        stash_server.start()


MODES = ["unreachable", "401", "500", "slow", "malformed", "graphql"]


@pytest.mark.parametrize("daemon", [SYNC, GENERATION])
@pytest.mark.parametrize("mode", MODES)
async def test_daemons_survive_every_kind_of_stash_trouble(
    engines, stash_server, daemon: str, mode: str
) -> None:
    services = await start_with_stash(
        engines, stash_server, **{"stash.api_key": "a-wrong-key", "stash.timeout": 1}
    )
    if daemon == GENERATION:
        await synced(services, stash_server, 1)
        stash_server.job_script = [("FINISHED", 1.0)]
    else:
        stash_server.add_scene("Waiting to be synced")
    expected = break_stash(stash_server, mode)
    config = {"job_interval_seconds": 0.5}
    if daemon == GENERATION:
        config["scan_check_seconds"] = 0.05
    await start_daemon(services, daemon, **config)
    status = await wait_for_status(services, daemon, lambda s: "retrying in" in s, timeout=15)
    assert expected in status, status
    assert status.endswith("- retrying in 0.5 seconds")
    assert services.manager.handle(daemon).state == "running"  # never crashed
    assert any(
        level == "WARNING" and expected.split(" - retrying")[0] in message
        for level, message in await logs(services, daemon)
    )
    messages = [m for m, _j, _t in await history(services, daemon)]
    idle = ("No pending scenes", "All scenes generated")
    assert not any(m.startswith(idle) for m in messages)  # never "nothing to do"

    fix_stash(stash_server, mode)
    if mode == "401":
        await services.store.write(lambda: services.settings.set("stash.api_key", ""))
    await wait_for_status(services, daemon, lambda s: s.startswith(idle), timeout=15)
    messages = [m for m, _j, _t in await history(services, daemon)]
    done = "Sync completed for 1 scenes" if daemon == SYNC else "Metadata generation completed"
    assert done in messages  # resumed by itself and did the work

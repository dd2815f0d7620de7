"""Daemon health: every state reached against the stand-ins, read back through the
engine API's operations (what ``status --json``, the cards and the tray show), and the
way back to ``ok`` once the cause is fixed, without a restart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import tests.fake_plugins
from stashdesk.events import DaemonHealthChanged
from stashdesk.jobs import stash_follow
from tests.engine_fixtures import wait_until
from tests.integration.stash_helpers import start_with_stash
from tests.integration.test_stash_daemons import synced

SYNC = "stash-sync"


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch) -> None:
    monkeypatch.setattr(stash_follow, "POLL_SECONDS", 0.02)


async def health_of(engines, name: str) -> dict[str, Any]:
    rows = await engines.engine.ops.list_daemons()
    return next(r for r in rows if r["name"] == name)


async def wait_for_health(engines, name: str, health: str, timeout: float = 15.0) -> dict[str, Any]:
    row: dict[str, Any] = {}

    async def check() -> bool:
        nonlocal row
        row = await health_of(engines, name)
        return row["health"] == health

    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{name} never became {health}: {row}")
        await asyncio.sleep(0.02)
    return row


def record_health(services) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    services.bus.listen(lambda e: seen.append((e.daemon, e.health)), DaemonHealthChanged)
    return seen


async def test_a_rejected_key_is_retrying_then_ok_within_seconds_of_the_fix(
    engines, stash_server
) -> None:
    stash_server.api_key = "the-right-key"
    services = await start_with_stash(engines, stash_server, **{"stash.api_key": "wrong"})
    seen = record_health(services)
    # A long interval: only the settings change can make it check again quickly.
    await services.manager.set_config(SYNC, {"job_interval_seconds": 3600})
    await services.manager.start(SYNC)
    row = await wait_for_health(engines, SYNC, "retrying")
    assert row["state"] == "running"  # running, but not fine
    assert "rejected the API key" in row["health_reason"]
    assert row["health_setting"] == "stash.api_key"
    await engines.engine.ops.set_settings({"stash.api_key": "the-right-key"})
    row = await wait_for_health(engines, SYNC, "ok", timeout=5)
    assert row["health_reason"] is None
    assert seen[:3] == [(SYNC, "ok"), (SYNC, "retrying"), (SYNC, "ok")]


async def test_stash_down_is_retrying_and_recovers_when_it_is_back(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    await services.manager.set_config(SYNC, {"job_interval_seconds": 1})
    stash_server.stop()
    await services.manager.start(SYNC)
    row = await wait_for_health(engines, SYNC, "retrying")
    assert "unreachable" in row["health_reason"] and row["health_setting"] == "stash.url"
    stash_server.start()
    await wait_for_health(engines, SYNC, "ok", timeout=30)


async def test_qbittorrent_down_points_at_its_address(engines, tmp_path) -> None:
    from tests.cli_helpers import free_port

    services = await engines.start(
        settings={
            "qbittorrent.url": f"http://127.0.0.1:{free_port()}",
            "downloads.destination": str(tmp_path / "library"),
        }
    )
    await services.manager.start("download-processor")
    row = await wait_for_health(engines, "download-processor", "retrying")
    assert row["health_setting"] == "qbittorrent.url"
    assert "qBittorrent" in row["health_reason"]


async def test_a_crash_is_error_until_a_pass_succeeds(engines) -> None:
    tests.fake_plugins.CrashingDaemon.starts = 0
    services = await engines.start(settings={"daemons.restart_backoff_initial": 1})
    await services.manager.set_config("test-crash", {"crashes": 1})
    seen = record_health(services)
    await services.manager.start("test-crash")
    row = await wait_for_health(engines, "test-crash", "error")
    assert "Crashed: RuntimeError: crash number 1" in row["health_reason"]
    await wait_for_health(engines, "test-crash", "ok", timeout=10)
    assert [h for d, h in seen if d == "test-crash"][:3] == ["ok", "error", "ok"]
    await services.manager.stop("test-crash")
    assert (await health_of(engines, "test-crash"))["health"] == "stopped"


async def test_a_stash_job_that_stops_progressing_is_stalled(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server, **{"stash.stalled_job_minutes": 0.01})
    await synced(services, stash_server, 1)
    await services.manager.set_config(
        "stash-generation", {"job_interval_seconds": 60, "scan_check_seconds": 0.05}
    )
    await services.manager.start("stash-generation")
    handle = services.manager.handle("stash-generation")
    await wait_until(
        lambda: (
            handle.instance
            and handle.instance.job_id
            and services.runner.snapshot(handle.instance.job_id) is not None
            and services.runner.snapshot(handle.instance.job_id).metadata.get("stalled")
        ),
        timeout=10,
        message="the stalled warning",
    )
    services.manager.check_stalled(handle)  # the watchdog's look, without its 15 s wait
    row = await health_of(engines, "stash-generation")
    assert row["health"] == "stalled" and "no progress" in row["health_reason"]
    job = services.runner.snapshot(handle.instance.job_id)
    stash_server.set_job(job.metadata["stash_job_id"], status="FINISHED", progress=1.0)
    await wait_for_health(engines, "stash-generation", "ok", timeout=10)


async def test_a_daemon_silent_while_waiting_is_stalled(engines) -> None:
    services = await engines.start()
    await services.manager.set_config("test-tick", {"job_steps": 100000, "heartbeat_interval": 1})
    await services.manager.start("test-tick")
    handle = services.manager.handle("test-tick")
    await wait_until(
        lambda: handle.instance and handle.instance.phase == "waiting",
        timeout=10,
        message="waiting on its job",
    )
    later = max(handle.instance.status_at, handle.instance.heartbeat_at) + 120
    services.manager.check_stalled(handle, now=later)
    row = await health_of(engines, "test-tick")
    assert row["health"] == "stalled" and "No sign of life for" in row["health_reason"]
    services.manager.check_stalled(handle)  # heard from recently: fine again
    assert (await health_of(engines, "test-tick"))["health"] == "ok"

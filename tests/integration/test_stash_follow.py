"""Following Stash jobs: live over jobsSubscribe, polling when the socket is refused or
drops, back to live when it returns, and jobs Stash forgot resolved from its scenes."""

from __future__ import annotations

import pytest

from stashdesk.clients.stash_feed import StashJobFeed
from stashdesk.jobs import stash_follow
from tests.engine_fixtures import wait_until
from tests.integration.stash_helpers import job_row, start_with_stash


@pytest.fixture(autouse=True)
def quick_reconnects(monkeypatch) -> None:
    monkeypatch.setattr(StashJobFeed, "retry_seconds", 0.2)
    monkeypatch.setattr(StashJobFeed, "retry_max_seconds", 0.4)


def stash_job_of(services, job_id: str) -> str | None:
    snapshot = services.runner.snapshot(job_id)
    return snapshot.metadata.get("stash_job_id") if snapshot else None


async def started(
    services, stash_server, job_type: str = "STASH_SCAN", metadata: dict | None = None
) -> tuple[str, str]:
    job = await services.runner.submit(job_type, metadata or {"paths": ["/data"]})
    stash_id = await wait_until(
        lambda: stash_job_of(services, job.id), timeout=5, message="the Stash job id"
    )
    return job.id, stash_id


def progress(services, job_id: str) -> float | None:
    snapshot = services.runner.snapshot(job_id)
    return snapshot.progress if snapshot else None


def log_lines(info) -> list[str]:
    return [entry["message"] for entry in (info.result or {}).get("log", [])]


async def test_live_updates_arrive_without_polling(engines, stash_server) -> None:
    stash_server.api_key = "the-key"
    services = await start_with_stash(engines, stash_server, **{"stash.api_key": "the-key"})
    job_id, stash_id = await started(services, stash_server)
    await wait_until(lambda: stash_server.subscribers == 1, message="the subscription")
    polls = len(stash_server.requests_for("findJob"))
    for step in (0.25, 0.5, 0.75):
        stash_server.set_job(
            stash_id, status="RUNNING", progress=step, sub_tasks=[f"Scanning file {step}"]
        )
        await wait_until(lambda s=step: progress(services, job_id) == s * 100, timeout=2)
    assert services.runner.snapshot(job_id).message == "Scanning... - Scanning file 0.75"
    stash_server.set_job(stash_id, status="FINISHED", progress=1.0)
    outcome = await services.runner.wait(job_id, 5)
    assert outcome.status == "completed"
    # The initial findJob (and a catch-up after subscribing) at most: the rest came live.
    assert len(stash_server.requests_for("findJob")) - polls <= 1
    assert outcome.result["stash_updates"] >= 4 and outcome.result["stash_polls"] <= 3
    assert (
        f"Following Stash job {stash_id} live over Stash's WebSocket (jobsSubscribe)"
        in log_lines(outcome)
    )
    [upgrade] = stash_server.requests_for("websocket")[:1]
    assert upgrade.header("ApiKey") == "the-key" and upgrade.status == 101
    assert "the-key" not in str(outcome.result)


async def test_a_refused_socket_falls_back_to_polling(engines, stash_server, monkeypatch) -> None:
    monkeypatch.setattr(stash_follow, "POLL_SECONDS", 0.05)
    stash_server.refuse_websockets(400)  # e.g. a reverse proxy without WebSocket support
    stash_server.job_script = [
        ("RUNNING", 0.2),
        ("RUNNING", 0.5),
        ("RUNNING", 0.8),
        ("FINISHED", 1.0),
    ]  # one step per findJob
    services = await start_with_stash(engines, stash_server)
    job_id, _stash_id = await started(services, stash_server)
    outcome = await services.runner.wait(job_id, 10)
    assert outcome.status == "completed"
    assert outcome.result["stash_updates"] == 0 and outcome.result["stash_polls"] >= 4
    notes = log_lines(outcome)
    assert any(
        "WebSocket is unavailable (Stash refused the WebSocket upgrade (HTTP 400)): "
        "polling findJob" in n
        for n in notes
    ), notes
    assert stash_server.requests_for("websocket")[0].status == 400


async def test_a_socket_dropped_mid_job_polls_at_once_then_goes_live_again(
    engines, stash_server
) -> None:
    services = await start_with_stash(engines, stash_server)
    job_id, stash_id = await started(services, stash_server)
    await wait_until(lambda: stash_server.subscribers == 1, message="the subscription")
    stash_server.set_job(stash_id, status="RUNNING", progress=0.3)
    await wait_until(lambda: progress(services, job_id) == 30.0, timeout=2)

    stash_server.refuse_websockets(502)  # it cannot come back at once
    polls = len(stash_server.requests_for("findJob"))
    stash_server.drop_websockets()
    stash_server.set_job(stash_id, progress=0.6)  # sent while nobody listens: lost
    # The fallback polls at once (POLL_SECONDS is 1 s here): no 30 s safety-poll wait.
    await wait_until(
        lambda: progress(services, job_id) == 60.0,
        timeout=3,
        message="the progress through findJob",
    )
    assert len(stash_server.requests_for("findJob")) > polls

    await wait_until(
        lambda: 502 in [r.status for r in stash_server.requests_for("websocket")],
        timeout=5,
        message="a reconnect attempt while refused",
    )
    stash_server.allow_websockets()
    await wait_until(lambda: stash_server.subscribers == 1, timeout=5, message="reconnect")
    stash_server.set_job(stash_id, status="FINISHED", progress=1.0)
    outcome = await services.runner.wait(job_id, 5)
    assert outcome.status == "completed"
    notes = log_lines(outcome)
    dropped = next(i for i, n in enumerate(notes) if "WebSocket dropped" in n)
    again = next(i for i, n in enumerate(notes) if f"job {stash_id} again live" in n)
    assert dropped < again, notes


async def test_a_scan_gone_from_stashs_queue_is_resolved_from_its_scenes(
    engines, stash_server
) -> None:
    files = ["/data/new/One.mp4", "/data/new/Two.mkv"]
    services = await start_with_stash(engines, stash_server)
    job_id, stash_id = await started(
        services, stash_server, metadata={"paths": ["/data/new"], "expect_files": files}
    )
    await wait_until(lambda: stash_server.subscribers == 1, message="the subscription")
    for path in files:
        stash_server.add_scene(path=path)
    # Stash restarted meanwhile: the socket drops and the job is forgotten.
    with stash_server._lock:
        del stash_server.jobs[stash_id]
    stash_server.drop_websockets()
    outcome = await services.runner.wait(job_id, 10)
    assert outcome.status == "completed", outcome.error
    assert outcome.result["resolved_from"] == "scenes" and outcome.result["vanished"]
    assert outcome.result["scene_ids"] == sorted(stash_server.scenes, key=int)
    assert any("Stash no longer lists job" in n for n in log_lines(outcome))


async def test_a_scan_gone_whose_files_are_not_in_stash_fails_to_be_run_again(
    engines, stash_server
) -> None:
    services = await start_with_stash(engines, stash_server)
    job_id, stash_id = await started(
        services,
        stash_server,
        metadata={"paths": ["/data/new"], "expect_files": ["/data/new/One.mp4"]},
    )
    with stash_server._lock:
        del stash_server.jobs[stash_id]
    stash_server.drop_websockets()
    outcome = await services.runner.wait(job_id, 10)
    assert outcome.status == "failed"
    assert "1 of 1 new files are not in Stash (e.g. /data/new/One.mp4)" in outcome.error
    assert (await job_row(services, job_id)).error == outcome.error


async def test_an_identify_gone_from_the_queue_is_taken_as_finished(engines, stash_server) -> None:
    scene = stash_server.add_scene(path="/data/new/One.mp4")
    services = await start_with_stash(engines, stash_server)
    job_id, stash_id = await started(
        services, stash_server, "STASH_IDENTIFY", {"scene_ids": [scene]}
    )
    with stash_server._lock:
        del stash_server.jobs[stash_id]
    stash_server.drop_websockets()
    outcome = await services.runner.wait(job_id, 10)
    assert outcome.status == "completed"
    assert outcome.result["outcome"] == "unknown" and outcome.result["stash_status"] == "UNKNOWN"


async def test_with_the_websocket_switched_off_it_only_polls(
    engines, stash_server, monkeypatch
) -> None:
    monkeypatch.setattr(stash_follow, "POLL_SECONDS", 0.05)
    stash_server.job_script = [("FINISHED", 1.0)]
    services = await start_with_stash(engines, stash_server, **{"stash.websocket": False})
    # Not ``started``: polled this fast, the job may be over before its Stash id is seen.
    job = await services.runner.submit("STASH_SCAN", {"paths": ["/data"]})
    outcome = await services.runner.wait(job.id, 10)
    assert outcome.status == "completed"
    assert stash_server.requests_for("findJob")  # it polled
    assert stash_server.requests_for("websocket") == []
    assert any("stash.websocket is off" in n for n in log_lines(outcome))

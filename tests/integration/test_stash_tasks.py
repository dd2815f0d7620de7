"""STASH_SCAN and STASH_GENERATE against the Stash stand-in: mirroring Stash's job,
failure, cancellation (stopJob), re-attaching after a restart, stalled jobs, and the
generated flag."""

from __future__ import annotations

import logging

import pytest

from stashdesk.jobs import stash_follow
from stashdesk.store.models import Job, Scene
from tests.engine_fixtures import wait_until
from tests.integration.stash_helpers import job_row, local_scenes, run_job, start_with_stash


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch) -> None:
    monkeypatch.setattr(stash_follow, "POLL_SECONDS", 0.02)


def stash_job_of(services, job_id: str) -> str | None:
    snapshot = services.runner.snapshot(job_id)
    return snapshot.metadata.get("stash_job_id") if snapshot else None


async def started_stash_job(services, stash_server, job_id: str) -> str:
    stash_id = await wait_until(
        lambda: stash_job_of(services, job_id),
        timeout=5,
        message="the Stash job id in the job's metadata",
    )
    assert stash_id in stash_server.jobs
    return stash_id


async def test_scan_follows_stash_from_ready_to_running_to_finished(engines, stash_server) -> None:
    services = await start_with_stash(
        engines, stash_server, **{"downloads.stash_path": "/data/incoming"}
    )
    client = services.stash()
    original_find_job = client.find_job
    metadata_at_first_poll = []

    async def find_job(job_id):
        if not metadata_at_first_poll:
            row = await job_row(services, job.id)
            metadata_at_first_poll.append(dict(row.metadata))
        return await original_find_job(job_id)

    client.find_job = find_job
    job = await services.runner.submit("STASH_SCAN")
    stash_id = await started_stash_job(services, stash_server, job.id)
    # saved in the database before the first findJob
    await wait_until(lambda: metadata_at_first_poll)
    assert metadata_at_first_poll[0]["stash_job_id"] == stash_id
    assert stash_server.jobs[stash_id].input == {"paths": ["/data/incoming"]}
    await wait_until(
        lambda: "waiting in Stash's queue" in (services.runner.snapshot(job.id).message or ""),
        message="READY mirrored",
    )

    stash_server.set_job(
        stash_id,
        status="RUNNING",
        progress=0.25,
        description="Scanning...",
        sub_tasks=["Scanning /data/incoming/a.mp4"],
    )
    await wait_until(lambda: services.runner.snapshot(job.id).progress == 25.0)
    assert services.runner.snapshot(job.id).message == "Scanning... - Scanning /data/incoming/a.mp4"
    stash_server.set_job(stash_id, progress=0.5, sub_tasks=None)
    await wait_until(lambda: services.runner.snapshot(job.id).progress == 50.0)
    stash_server.set_job(stash_id, status="FINISHED", progress=1.0)
    outcome = await services.runner.wait(job.id, 5)
    assert outcome.status == "completed"
    assert outcome.result["stash_job_id"] == stash_id and outcome.result["reattached"] is False
    assert outcome.result["paths"] == ["/data/incoming"]
    assert stash_server.operations().count("metadataScan") == 1


async def test_scan_path_falls_back_to_the_destination_and_can_be_given(
    engines, stash_server
) -> None:
    stash_server.job_script = [("FINISHED", 1.0)]
    services = await start_with_stash(
        engines, stash_server, **{"downloads.destination": "/srv/library"}
    )
    assert (await run_job(services, "STASH_SCAN")).status == "completed"
    assert (await run_job(services, "STASH_SCAN", {"paths": ["/x", "/y"]})).status == "completed"
    inputs = [r.variables["input"] for r in stash_server.requests_for("metadataScan")]
    assert inputs == [{"paths": ["/srv/library"]}, {"paths": ["/x", "/y"]}]


async def test_scan_without_any_path_fails_with_the_setting_to_set(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    outcome = await run_job(services, "STASH_SCAN")
    assert outcome.status == "failed" and "downloads.stash_path" in outcome.error
    assert stash_server.requests_for("metadataScan") == []


async def test_a_failed_stash_job_fails_with_stashs_error(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    job = await services.runner.submit("STASH_SCAN", {"paths": ["/data"]})
    stash_id = await started_stash_job(services, stash_server, job.id)
    stash_server.set_job(stash_id, status="RUNNING", progress=0.1)
    await wait_until(lambda: services.runner.snapshot(job.id).progress == 10.0)
    stash_server.set_job(stash_id, status="FAILED", error="open /data/x.mp4: permission denied")
    outcome = await services.runner.wait(job.id, 5)
    assert outcome.status == "failed"
    assert outcome.error == (
        f"Stash's metadata scan (job {stash_id}) failed: open /data/x.mp4: permission denied"
    )
    assert (await job_row(services, job.id)).error == outcome.error


async def test_cancelling_a_running_job_sends_stop_job_and_waits_for_stash(
    engines, stash_server
) -> None:
    stash_server.stopping_observations = 3  # Stash takes a while to stop
    services = await start_with_stash(engines, stash_server)
    job = await services.runner.submit("STASH_GENERATE")
    stash_id = await started_stash_job(services, stash_server, job.id)
    stash_server.set_job(stash_id, status="RUNNING", progress=0.3)
    await wait_until(lambda: services.runner.snapshot(job.id).progress == 30.0)
    await services.runner.cancel(job.id, "Cancelled by the test")
    await wait_until(lambda: stash_server.jobs[stash_id].status == "STOPPING")
    assert services.runner.snapshot(job.id).status == "cancelling"  # still waiting for Stash
    outcome = await services.runner.wait(job.id, 5)
    assert outcome.status == "cancelled" and outcome.error == "Cancelled by the test"
    assert stash_server.jobs[stash_id].status == "CANCELLED"
    stops = stash_server.requests_for("stopJob")
    assert [r.variables for r in stops] == [{"job_id": stash_id}]
    # it kept polling until Stash said CANCELLED
    polls_after_stop = [r for r in stash_server.requests_for("findJob") if r.time >= stops[0].time]
    assert len(polls_after_stop) >= 4


async def test_cancelling_a_ready_job_is_immediate(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    job = await services.runner.submit("STASH_SCAN", {"paths": ["/data"]})
    stash_id = await started_stash_job(services, stash_server, job.id)
    await services.runner.cancel(job.id)
    outcome = await services.runner.wait(job.id, 5)
    assert outcome.status == "cancelled"
    assert stash_server.jobs[stash_id].status == "CANCELLED"
    assert len(stash_server.requests_for("stopJob")) == 1


async def test_a_job_cancelled_in_stash_is_cancelled_here(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    job = await services.runner.submit("STASH_SCAN", {"paths": ["/data"]})
    stash_id = await started_stash_job(services, stash_server, job.id)
    stash_server.set_job(stash_id, status="CANCELLED")
    outcome = await services.runner.wait(job.id, 5)
    assert outcome.status == "cancelled"
    assert outcome.error == f"Cancelled in Stash (job {stash_id})"
    assert stash_server.requests_for("stopJob") == []


async def test_a_restart_reattaches_to_the_running_stash_job(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    job = await services.runner.submit("STASH_SCAN", {"paths": ["/data"]})
    stash_id = await started_stash_job(services, stash_server, job.id)
    stash_server.set_job(stash_id, status="RUNNING", progress=0.4)
    await wait_until(lambda: services.runner.snapshot(job.id).progress == 40.0)
    await engines.engine.stop()
    assert stash_server.jobs[stash_id].status == "RUNNING"  # Stash's job runs on
    assert stash_server.requests_for("stopJob") == []

    services = await engines.start()
    await wait_until(lambda: (services.runner.snapshot(job.id) or job).status == "running")
    assert stash_job_of(services, job.id) == stash_id
    polls = len(stash_server.requests_for("findJob"))
    await wait_until(lambda: len(stash_server.requests_for("findJob")) > polls)
    stash_server.set_job(stash_id, status="FINISHED", progress=1.0)
    outcome = await services.runner.wait(job.id, 5)
    assert outcome.status == "completed"
    assert outcome.result["stash_job_id"] == stash_id and outcome.result["reattached"] is True
    assert stash_server.operations().count("metadataScan") == 1  # no second scan


async def test_a_stash_job_forgotten_during_a_restart_fails_clearly(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    job = await services.runner.submit("STASH_SCAN", {"paths": ["/data"]})
    stash_id = await started_stash_job(services, stash_server, job.id)
    await engines.engine.stop()
    del stash_server.jobs[stash_id]  # Stash restarted too, and forgot its queue
    services = await engines.start()
    outcome = await services.runner.wait(job.id, 5)
    assert outcome.status == "failed"
    assert f"Stash no longer knows its job {stash_id}" in outcome.error
    assert "run the metadata scan again" in outcome.error
    assert stash_server.operations().count("metadataScan") == 1


async def test_a_stalled_stash_job_is_reported_and_cleared_when_it_moves(
    engines, stash_server, caplog
) -> None:
    services = await start_with_stash(
        engines, stash_server, **{"stash.stalled_job_minutes": 0.01}
    )  # 0.6 s
    job = await services.runner.submit("STASH_SCAN", {"paths": ["/data"]})
    stash_id = await started_stash_job(services, stash_server, job.id)
    stash_server.set_job(stash_id, status="RUNNING", progress=0.4)
    with caplog.at_level(logging.WARNING):
        stalled = await wait_until(
            lambda: services.runner.snapshot(job.id).metadata.get("stalled"), timeout=5
        )
    assert stalled.startswith(f"Stash job {stash_id} (metadata scan) has made no progress for")
    assert "(RUNNING at 40%: Scanning...)" in stalled and "check Stash's task queue" in stalled
    assert services.runner.snapshot(job.id).message == stalled
    assert any(
        r.levelno == logging.WARNING and "has made no progress" in r.getMessage()
        for r in caplog.records
    )
    row = await job_row(services, job.id)
    assert row.metadata["stalled"] == stalled  # persisted: a restarted daemon sees it too

    stash_server.set_job(stash_id, progress=0.5)
    # One look at both: with a 0.6 s limit the job may count as stalled again a poll later.
    await wait_until(
        lambda: (
            not services.runner.snapshot(job.id).metadata.get("stalled")
            and services.runner.snapshot(job.id).message == "Scanning..."
        )
    )
    stash_server.set_job(stash_id, status="FINISHED", progress=1.0)
    assert (await services.runner.wait(job.id, 5)).status == "completed"


async def test_generate_sends_sensible_defaults_and_marks_its_scenes_generated(
    engines, stash_server
) -> None:
    ids = [stash_server.add_scene(f"S{i}") for i in range(3)]
    stash_server.job_script = [("RUNNING", 0.5), ("FINISHED", 1.0)]
    services = await start_with_stash(engines, stash_server)
    await run_job(services, "SYNC")
    outcome = await run_job(services, "STASH_GENERATE", {"scene_ids": ids[:2]})
    assert outcome.status == "completed"
    sent = stash_server.requests_for("metadataGenerate")[0].variables["input"]
    assert sent["sceneIDs"] == ids[:2]
    assert all(sent[k] for k in ("covers", "sprites", "previews", "phashes"))
    assert not sent["transcodes"] and not sent["overwrite"]
    local = await local_scenes(services)
    assert [i for i in ids if local[i]["generated"]] == ids[:2]
    assert outcome.result["scenes_marked_generated"] == 2


async def test_generate_without_ids_covers_scenes_synced_before_it_started(
    engines, stash_server
) -> None:
    stash_server.freeze_time("2026-03-01T10:00:00")
    before = [stash_server.add_scene(f"S{i}") for i in range(2)]
    services = await start_with_stash(engines, stash_server)
    await run_job(services, "SYNC")
    job = await services.runner.submit("STASH_GENERATE")
    stash_id = await started_stash_job(services, stash_server, job.id)
    stash_server.advance(5)
    during = stash_server.add_scene("Synced while generating")
    await run_job(services, "SYNC")
    stash_server.set_job(stash_id, status="FINISHED", progress=1.0)
    outcome = await services.runner.wait(job.id, 5)
    assert outcome.status == "completed"
    assert "sceneIDs" not in stash_server.jobs[stash_id].input
    local = await local_scenes(services)
    assert [i for i in [*before, during] if local[i]["generated"]] == before


async def test_a_scene_whose_files_change_needs_generating_again(engines, stash_server) -> None:
    stash_server.freeze_time("2026-03-01T10:00:00")
    first = stash_server.add_scene("First")
    second = stash_server.add_scene("Second")
    stash_server.job_script = [("FINISHED", 1.0)]
    services = await start_with_stash(engines, stash_server)
    await run_job(services, "SYNC")
    await run_job(services, "STASH_GENERATE", {"scene_ids": [first, second]})
    stash_server.advance(1)
    stash_server.edit_scene(first, path="/data/videos/replaced.mp4")
    stash_server.edit_scene(second, title="Only the title changed")
    await run_job(services, "SYNC")
    generated = await services.store.read(lambda: {s.id: s.generated for s in Scene.select()})
    assert generated == {first: False, second: True}


async def test_both_types_are_resumable_and_exclusive() -> None:
    from stashdesk.jobs.base import JOB_TYPES

    for kind in ("STASH_SCAN", "STASH_GENERATE", "SYNC"):
        assert JOB_TYPES[kind].resumable and JOB_TYPES[kind].exclusive


async def test_unreachable_stash_fails_the_job_with_the_reason(engines, stash_server) -> None:
    services = await start_with_stash(engines, stash_server)
    stash_server.stop()
    outcome = await run_job(services, "STASH_SCAN", {"paths": ["/data"]})
    assert outcome.status == "failed"
    assert outcome.error == f"Stash unreachable at {stash_server.url}: connection refused"
    assert await services.store.read(lambda: Job.get_by_id(outcome.id).error) == outcome.error

"""The ANALYSIS job against the video-tag stand-in on 127.0.0.1 and a real database."""

from __future__ import annotations

import time

import pytest

from stashdesk.analysis.tracking import scenes_needing_analysis
from stashdesk.clients.video_tags import VideoTagClient
from stashdesk.jobs.base import JobStatus
from stashdesk.store.models import Job, Plan
from tests.analysis_helpers import (
    analyse,
    analysis_rows,
    changes_of,
    plan_of,
    seed_entity,
    seed_scene,
)
from tests.engine_fixtures import wait_until


def video_settings(server, **extra) -> dict:
    return {"analysis.video_server_url": server.url, **extra}


async def seed(services, fn) -> None:
    await services.store.write(fn)


async def test_plan_from_video_tags_and_markers_with_path_map(engines, video_tag_server) -> None:
    services = await engines.start(
        settings=video_settings(
            video_tag_server,
            **{
                "analysis.path_map": ["/data=/mnt/media"],
                "analysis.frame_interval": 3.0,
                "analysis.threshold": 0.4,
            },
        )
    )

    def seed_scenes() -> None:
        seed_scene("1", paths=["/data/videos/one.mp4"], tags=["AI_TagMe", "Keep"])
        seed_scene(
            "2",
            paths=["/data/videos/two.mp4", "/data/videos/two-copy.mp4"],
            markers=[("Dancing_AI", 40.7)],
        )

    await seed(services, seed_scenes)
    video_tag_server.set_result(
        "/mnt/media/videos/one.mp4",
        {"actions": ["Kissing"]},
        {"actions": {"Kissing": [(0, 4), (30, 35)]}},
    )
    video_tag_server.set_result(
        "/mnt/media/videos/two.mp4",
        {"a": [("Dancing", 0.9), ("Rare", 0.2)]},
        {"a": {"Dancing": [(12.5, 20), (40, 50)], "Rare": [(5, 6)]}},
        with_confidence=True,
    )

    final = await analyse(services, ["1", "2"], plan_name="Videos of today")
    assert final.status == JobStatus.COMPLETED, final.error
    # the server saw the mapped path of each scene's primary file, with the settings
    assert sorted(video_tag_server.request_paths) == [
        "/mnt/media/videos/one.mp4",
        "/mnt/media/videos/two.mp4",
    ]
    body = video_tag_server.requests[0].body
    assert (
        body["frame_interval"],
        body["threshold"],
        body["return_confidence"],
        body["vr_video"],
    ) == (3.0, 0.4, True, False)

    plan = await plan_of(services, final.id)
    assert (plan.name, plan.status) == ("Videos of today", "draft")
    assert final.result["plan_id"] == plan.id and final.result["analysed"] == 2
    assert await changes_of(services, plan.id) == [
        ("1", "tags", "add", "Kissing_AI", 1.0),
        (
            "1",
            "markers",
            "add",
            {
                "title": "Kissing_AI",
                "seconds": 30.0,
                "end_seconds": 35.0,
                "primary_tag": "Kissing_AI",
            },
            1.0,
        ),
        ("1", "tags", "remove", "AI_TagMe", 1.0),
        ("1", "tags", "add", "AI_Tagged", 1.0),
        # Rare is below the 0.4 threshold; the marker at 40 s exists already
        ("2", "tags", "add", "Dancing_AI", 0.9),
        (
            "2",
            "markers",
            "add",
            {
                "title": "Dancing_AI",
                "seconds": 12.5,
                "end_seconds": 20.0,
                "primary_tag": "Dancing_AI",
            },
            0.9,
        ),
        ("2", "tags", "add", "AI_Tagged", 1.0),
    ]
    rows = await analysis_rows(services)
    assert {k: (r.status, r.attempts, r.job_id) for k, r in rows.items()} == {
        ("1", "video_tags"): ("analysed", 1, final.id),
        ("2", "video_tags"): ("analysed", 1, final.id),
    }
    job = await services.store.read(lambda: Job.get(Job.id == final.id))
    assert job.message == "Analysed 2 scenes; 7 changes proposed"
    assert job.metadata["plan_id"] == plan.id


async def test_a_failing_scene_does_not_fail_the_batch(engines, video_tag_server) -> None:
    services = await engines.start(settings=video_settings(video_tag_server))
    await seed(services, lambda: [seed_scene(i, tags=["AI_TagMe"]) for i in ("1", "2", "3")])
    video_tag_server.set_result("/data/videos/scene-1.mp4", {"c": ["Ok"]})
    video_tag_server.fail("/data/videos/scene-2.mp4", status=500, body={"detail": "model died"})
    video_tag_server.set_raw_result("/data/videos/scene-3.mp4", "<html>oops</html>")
    final = await analyse(services, ["1", "2", "3"])
    assert final.status == JobStatus.COMPLETED
    assert (final.result["analysed"], final.result["errored"]) == (1, 2)
    rows = await analysis_rows(services)
    assert rows[("1", "video_tags")].status == "analysed"
    assert rows[("2", "video_tags")].status == "errored"
    assert "HTTP 500" in rows[("2", "video_tags")].last_error
    assert "not JSON" in rows[("3", "video_tags")].last_error
    changes = await changes_of(services, final.result["plan_id"])
    assert [(s, a, v) for s, _f, a, v, _c in changes if s != "1"] == [
        ("2", "remove", "AI_TagMe"),
        ("2", "add", "AI_Errored"),
        ("3", "remove", "AI_TagMe"),
        ("3", "add", "AI_Errored"),
    ]


async def test_no_answer_in_time_is_that_scenes_failure(
    engines, video_tag_server, monkeypatch
) -> None:
    services = await engines.start(settings=video_settings(video_tag_server))
    await seed(services, lambda: [seed_scene(i) for i in ("1", "2")])
    video_tag_server.set_default({"c": ["Quick"]})
    video_tag_server.delay(3.0, path="/data/videos/scene-2.mp4")
    # analysis.server_timeout is at least 10 s in the product; a short one keeps this fast
    client = VideoTagClient(video_tag_server.url, timeout=0.5)
    monkeypatch.setattr(services, "video_tags", lambda *args: client)
    try:
        final = await analyse(services, ["1", "2"])
    finally:
        await client.aclose()
    assert final.status == JobStatus.COMPLETED
    rows = await analysis_rows(services)
    assert rows[("1", "video_tags")].status == "analysed"
    assert rows[("2", "video_tags")].status == "errored"
    assert "did not finish" in rows[("2", "video_tags")].last_error


async def test_unreachable_server_fails_the_job_and_keeps_the_partial_plan(
    engines, video_tag_server
) -> None:
    services = await engines.start(
        settings=video_settings(video_tag_server, **{"analysis.concurrency": 1})
    )
    await seed(services, lambda: [seed_scene(i) for i in ("1", "2", "3")])
    video_tag_server.set_default({"c": ["Seen"]})
    video_tag_server.hold("/data/videos/scene-2.mp4")
    info = await services.runner.submit(
        "ANALYSIS", {"scene_ids": ["1", "2", "3"], "plan_name": "Partial"}
    )
    await wait_until(lambda: video_tag_server.held == 1, 10, "scene 2 in flight")
    video_tag_server.stop()  # the server goes away mid-request
    final = await services.runner.wait(info.id, timeout=10)
    assert final.status == JobStatus.FAILED
    assert "unreachable" in final.error and "analysis.video_server_url" in final.error
    rows = await analysis_rows(services)
    assert list(rows) == [("1", "video_tags")]  # scenes 2 and 3 are not marked errored
    plan = await plan_of(services, info.id)
    assert plan.status == "draft"
    assert {c[0] for c in await changes_of(services, plan.id)} == {"1"}
    assert final.result["plan_id"] == plan.id


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_concurrency_is_bounded_by_the_setting(
    engines, video_tag_server, concurrency
) -> None:
    services = await engines.start(
        settings=video_settings(video_tag_server, **{"analysis.concurrency": concurrency})
    )
    ids = [str(i) for i in range(1, 8)]
    await seed(services, lambda: [seed_scene(i) for i in ids])
    video_tag_server.set_default({"c": ["Busy"]})
    video_tag_server.delay(0.15)
    final = await analyse(services, ids)
    assert final.status == JobStatus.COMPLETED and final.result["analysed"] == 7
    assert video_tag_server.max_in_flight == concurrency


async def test_concurrency_limit_is_shared_by_concurrent_jobs(engines, video_tag_server) -> None:
    services = await engines.start(
        settings=video_settings(video_tag_server, **{"analysis.concurrency": 2})
    )
    await seed(services, lambda: [seed_scene(str(i)) for i in range(1, 9)])
    video_tag_server.set_default({"c": ["Busy"]})
    video_tag_server.delay(0.15)
    first = await services.runner.submit("ANALYSIS", {"scene_ids": ["1", "2", "3", "4"]})
    second = await services.runner.submit("ANALYSIS", {"scene_ids": ["5", "6", "7", "8"]})
    for job in (first, second):
        assert (await services.runner.wait(job.id, 20)).status == JobStatus.COMPLETED
    assert video_tag_server.max_in_flight == 2


async def test_errored_scenes_are_retried_after_the_backoff_at_most_max_attempts(
    engines, video_tag_server
) -> None:
    services = await engines.start(
        settings=video_settings(
            video_tag_server, **{"analysis.retry_after_hours": 24, "analysis.max_attempts": 3}
        )
    )
    await seed(services, lambda: [seed_scene(i) for i in ("1", "2")])
    video_tag_server.set_default({"c": ["Fine"]})
    video_tag_server.fail("/data/videos/scene-2.mp4", status=503)

    def needing(at: float) -> list[str]:
        return scenes_needing_analysis(
            ["video_tags"], retry_after=24 * 3600, max_attempts=3, now=at
        )

    assert await services.store.read(lambda: needing(time.time())) == ["1", "2"]
    await analyse(services, ["1", "2"])
    now = time.time()
    assert await services.store.read(lambda: needing(now)) == []  # inside the back-off
    assert await services.store.read(lambda: needing(now + 24 * 3600 + 1)) == ["2"]
    for _ in range(2):
        await analyse(services, ["2"])
    rows = await analysis_rows(services)
    assert (rows[("2", "video_tags")].status, rows[("2", "video_tags")].attempts) == ("errored", 3)
    # three failed attempts: never again, however long ago
    assert await services.store.read(lambda: needing(now + 1000 * 24 * 3600)) == []
    # a retry that works marks the scene analysed
    video_tag_server.clear_failures()
    await analyse(services, ["2"])
    rows = await analysis_rows(services)
    assert (rows[("2", "video_tags")].status, rows[("2", "video_tags")].last_error) == (
        "analysed",
        None,
    )


async def test_cancel_stops_between_scenes_and_keeps_the_partial_plan(
    engines, video_tag_server
) -> None:
    services = await engines.start(
        settings=video_settings(video_tag_server, **{"analysis.concurrency": 1})
    )
    await seed(services, lambda: [seed_scene(i) for i in ("1", "2", "3")])
    video_tag_server.set_default({"c": ["Seen"]})
    video_tag_server.hold("/data/videos/scene-2.mp4")
    info = await services.runner.submit("ANALYSIS", {"scene_ids": ["1", "2", "3"]})
    await wait_until(lambda: video_tag_server.held == 1, 10, "scene 2 in flight")
    await services.runner.cancel(info.id)
    final = await services.runner.wait(info.id, timeout=10)
    assert final.status == JobStatus.CANCELLED
    plan = await plan_of(services, info.id)
    assert plan.status == "draft"
    assert {c[0] for c in await changes_of(services, plan.id)} == {"1"}
    assert list(await analysis_rows(services)) == [("1", "video_tags")]
    assert video_tag_server.request_paths == [
        "/data/videos/scene-1.mp4",
        "/data/videos/scene-2.mp4",
    ]
    video_tag_server.release()


async def test_a_restart_resumes_the_job_with_its_unanalysed_scenes(
    engines, video_tag_server
) -> None:
    services = await engines.start(
        settings=video_settings(video_tag_server, **{"analysis.concurrency": 1})
    )
    await seed(services, lambda: [seed_scene(i) for i in ("1", "2", "3")])
    video_tag_server.set_default({"c": ["Seen"]})
    video_tag_server.hold("/data/videos/scene-2.mp4")
    info = await services.runner.submit(
        "ANALYSIS", {"scene_ids": ["1", "2", "3"], "plan_name": "Resumed"}
    )
    await wait_until(lambda: video_tag_server.held == 1, 10, "scene 2 in flight")
    await engines.engine.stop()
    video_tag_server.release()
    services = await engines.start()
    final = await services.runner.wait(info.id, timeout=20)
    assert final.status == JobStatus.COMPLETED, final.error
    assert final.result["already_done"] == 1 and final.result["analysed"] == 2
    plans = await services.store.read(lambda: list(Plan.select()))
    assert [(p.name, p.status) for p in plans] == [("Resumed", "draft")]
    changes = await changes_of(services, plans[0].id)
    assert sorted(c[0] for c in changes if c[3] == "Seen_AI") == ["1", "2", "3"]
    # scene 1 was not sent again; scene 2 twice (its first request was cut off)
    assert video_tag_server.request_paths.count("/data/videos/scene-1.mp4") == 1
    assert video_tag_server.request_paths.count("/data/videos/scene-2.mp4") == 2


async def test_path_detector_uses_names_stash_knows(engines, video_tag_server) -> None:
    services = await engines.start(settings=video_settings(video_tag_server))

    def seed_all() -> None:
        seed_entity("performer", "Jane Doe", ["JD"])
        seed_entity("tag", "Outdoor")
        seed_entity("tag", "Art")
        seed_entity("studio", "Acme Films")
        seed_scene("1", paths=["/lib/Acme Films/jd_outdoor_party.mp4"], tags=["outdoor"])
        seed_scene("2", title="Nothing here", paths=["/lib/misc/cartoon.mp4"])

    await seed(services, seed_all)
    final = await analyse(services, ["1", "2", "404"], detectors=["path"])
    assert final.status == JobStatus.COMPLETED
    assert final.result["missing"] == 1
    assert video_tag_server.requests == []
    assert await changes_of(services, final.result["plan_id"]) == [
        ("1", "performers", "add", "Jane Doe", 0.8),
        ("1", "studio", "set", "Acme Films", 0.9),
    ]
    rows = await analysis_rows(services)
    assert sorted(rows) == [("1", "path"), ("2", "path")]


async def test_a_job_without_changes_creates_no_plan(engines, video_tag_server) -> None:
    services = await engines.start(settings=video_settings(video_tag_server))
    await seed(services, lambda: seed_scene("1", tags=["AI_Tagged"]))
    video_tag_server.set_default({})
    final = await analyse(services, ["1"])
    assert final.status == JobStatus.COMPLETED and final.result["plan_id"] is None
    assert await services.store.read(lambda: Plan.select().count()) == 0


async def test_bad_metadata_fails_with_a_clear_message(services) -> None:
    final = await analyse(services, ["1"], detectors=["telepathy"])
    assert final.status == JobStatus.FAILED and "telepathy" in final.error
    final = await analyse(services, [])
    assert final.status == JobStatus.FAILED and "no scenes" in final.error


async def test_failed_scenes_show_on_the_job_everywhere(engines, video_tag_server) -> None:
    """Completed, but amber: the row carries failures and a summary, the details list each
    scene with its reason, and the final message says how it ended."""
    services = await engines.start(settings=video_settings(video_tag_server))
    await seed(services, lambda: [seed_scene(i, tags=["AI_TagMe"]) for i in ("1", "2")])
    video_tag_server.set_result("/data/videos/scene-1.mp4", {"c": ["Ok"]})
    video_tag_server.fail("/data/videos/scene-2.mp4", status=500, body={"detail": "model died"})
    final = await analyse(services, ["1", "2"])
    assert final.status == JobStatus.COMPLETED
    row = await engines.engine.ops.get_job(final.id)
    assert (row["failures"], row["failure_summary"]) == (1, "1 of 2 failed")
    assert row["title"] == "Video analysis"
    [item] = row["failed_items"]
    assert item["item"].startswith("scene 2") and "HTTP 500" in item["reason"]
    assert row["message"].startswith("Analysed 1 scene;")
    assert row["message"].endswith(" - 1 of 2 failed")
    listed = await engines.engine.ops.list_jobs(limit=5)
    assert [j["failure_summary"] for j in listed["items"] if j["id"] == final.id] == [
        "1 of 2 failed"
    ]

"""kill -9 in the middle of an apply, then a restart: nothing is applied twice."""

from __future__ import annotations

from pathlib import Path

from tests.analysis_helpers import mirror_standin, seed_plan
from tests.cli_helpers import HeadlessProcess, query, run_cli
from tests.integration.test_plans_cli import in_db


def test_kill_9_between_the_stash_write_and_the_commit(tmp_path: Path, stash_server) -> None:
    data_dir = tmp_path / "data"
    scene = stash_server.add_scene("One", tags=["AI_TagMe", "Keep"])
    assert run_cli(data_dir, "config", "set", "stash.url", stash_server.url).returncode == 0

    def marker(title: str, seconds: float) -> dict:
        return {
            "scene_id": scene,
            "field": "markers",
            "status": "approved",
            "proposed_value": {
                "title": title,
                "seconds": seconds,
                "end_seconds": seconds + 5,
                "primary_tag": title,
            },
        }

    def tag(value: str, action: str = "add") -> dict:
        return {
            "scene_id": scene,
            "field": "tags",
            "action": action,
            "status": "approved",
            "proposed_value": value,
        }

    plan_id = in_db(
        data_dir,
        lambda: (
            mirror_standin(stash_server),
            seed_plan(
                "Crash",
                [
                    tag("Kissing_AI"),
                    tag("AI_TagMe", "remove"),
                    tag("AI_Tagged"),
                    marker("Kissing_AI", 10.0),
                    marker("Dancing_AI", 20.0),
                ],
            ),
        )[1],
    )
    # The first marker write reaches Stash, which answers only after 3 s; the engine is
    # killed meanwhile, so the marker exists in Stash but its change is not committed.
    stash_server.slow(3.0, operation="sceneMarkerCreate", times=1)

    first = HeadlessProcess(data_dir, tmp_path / "first.log")
    try:
        first.wait_for(lambda: "engine running" in first.log(), what="start-up")
        done = run_cli(data_dir, "plans", "apply", str(plan_id))
        assert done.returncode == 0, done.stderr
        job_id = done.stdout.strip()
        first.wait_for(
            lambda: stash_server.requests_for("sceneMarkerCreate"), what="the first marker write"
        )
    finally:
        first.kill9()
    created = stash_server.requests_for("sceneMarkerCreate")[0]
    deadline_wait(lambda: created.status is not None)  # Stash did write it, after the kill
    assert [m.title for m in stash_server.scene_markers(scene)] == ["Kissing_AI"]
    assert query(data_dir, "SELECT status FROM job WHERE id=?", (job_id,)) == [("running",)]
    assert [
        s
        for (s,) in query(
            data_dir, "SELECT status FROM plan_change WHERE plan_id=? ORDER BY id", (plan_id,)
        )
    ] == ["applied", "applied", "applied", "approved", "approved"]

    second = HeadlessProcess(data_dir, tmp_path / "second.log")
    try:
        second.wait_for(
            lambda: (
                query(data_dir, "SELECT status FROM job WHERE id=?", (job_id,)) == [("completed",)]
            ),
            what="the resumed apply",
        )
        log = second.log()
    finally:
        assert second.terminate() == 0
    assert "Traceback" not in log
    markers = [(m.title, m.seconds) for m in stash_server.scene_markers(scene)]
    assert markers == [("Kissing_AI", 10.0), ("Dancing_AI", 20.0)]  # no duplicate
    names = [t.name for t in stash_server.tags.values()]
    assert sorted(names) == sorted(set(names))  # no tag created twice
    assert sorted(stash_server.tags[t].name for t in stash_server.scenes[scene].tag_ids) == [
        "AI_Tagged",
        "Keep",
        "Kissing_AI",
    ]
    assert len(stash_server.scenes[scene].tag_ids) == len(set(stash_server.scenes[scene].tag_ids))
    rows = query(
        data_dir, "SELECT status, reason FROM plan_change WHERE plan_id=? ORDER BY id", (plan_id,)
    )
    assert [s for s, _r in rows] == ["applied"] * 5
    assert rows[3][1] == "the scene already had this marker"
    assert query(data_dir, "SELECT status FROM plan WHERE id=?", (plan_id,)) == [("applied",)]


def deadline_wait(predicate, timeout: float = 10.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_kill_9_during_video_analysis_resumes_the_same_job(
    tmp_path: Path, stash_server, video_tag_server
) -> None:
    data_dir = tmp_path / "data"
    scenes = [stash_server.add_scene(f"Scene {i}", tags=["AI_TagMe"]) for i in range(3)]
    for key, value in (
        ("stash.url", stash_server.url),
        ("analysis.video_server_url", video_tag_server.url),
        ("analysis.concurrency", "1"),
    ):
        assert run_cli(data_dir, "config", "set", key, value).returncode == 0
    assert run_cli(data_dir, "daemons", "enable", "video-analysis").returncode == 0
    in_db(data_dir, lambda: mirror_standin(stash_server))
    video_tag_server.set_default({"acts": ["Kissing"]})
    video_tag_server.hold("/data/videos/scene-2.mp4")

    first = HeadlessProcess(data_dir, tmp_path / "first.log")
    try:
        first.wait_for(lambda: video_tag_server.held == 1, what="scene 2 in flight")
    finally:
        first.kill9()
    video_tag_server.release()
    [(job_id, status)] = query(data_dir, "SELECT id, status FROM job WHERE type='ANALYSIS'")
    assert status == "running"

    second = HeadlessProcess(data_dir, tmp_path / "second.log")
    try:
        second.wait_for(
            lambda: (
                (
                    query(data_dir, "SELECT current_status FROM daemon WHERE name='video-analysis'")
                    or [("",)]
                )[0][0]
                == "No scenes to analyze, sleeping for 600 seconds"
            ),
            what="the daemon",
        )
    finally:
        assert second.terminate() == 0
    # the interrupted job was resumed, not launched again, and analysed each scene once
    assert query(data_dir, "SELECT id, status FROM job WHERE type='ANALYSIS'") == [
        (job_id, "completed")
    ]
    paths = [p for p in video_tag_server.request_paths if p]
    assert paths.count("/data/videos/scene-1.mp4") == 1
    assert paths.count("/data/videos/scene-3.mp4") == 1
    for scene in scenes:
        assert sorted(stash_server.tags[t].name for t in stash_server.scenes[scene].tag_ids) == [
            "AI_Tagged",
            "Kissing_AI",
        ]
    assert query(data_dir, "SELECT count(*), min(status) FROM plan") == [(1, "applied")]

"""Auto Video Analysis and Auto Plan Applier: status sequences, restarts, no fighting."""

from __future__ import annotations

from stashdesk.analysis.plans import ChangeSelector, approve_changes
from stashdesk.store.models import DaemonJobAction, DaemonLog, DaemonStatus, Job, Plan
from tests.analysis_helpers import mirror_standin, plan_changes, seed_plan
from tests.engine_fixtures import wait_until

BUSY_SERVERS = "Waiting for video analysis to complete - analysing"


async def history(services, name: str) -> list[tuple[str, str | None, str | None]]:
    """The daemon's statuses, without the busy-servers refreshes of the waiting one (and
    the plain waiting one they return to): they come every 2 s while a job runs, so how
    many there are depends on the machine."""
    await services.store.writer.flush_async()
    rows = await services.store.read(
        lambda: list(
            DaemonStatus.select().where(DaemonStatus.daemon == name).order_by(DaemonStatus.id)
        )
    )
    kept: list[tuple[str, str | None, str | None]] = []
    for row in rows:
        item = (row.message, row.job_id, row.job_type)
        if row.message.startswith(BUSY_SERVERS) or (kept and kept[-1] == item):
            continue
        kept.append(item)
    return kept


async def jobs(services, job_type: str) -> list[Job]:
    return await services.store.read(
        lambda: list(Job.select().where(Job.type == job_type).order_by(Job.created_at))
    )


def status_of(services, name: str) -> str:
    instance = services.manager.handle(name).instance
    return (instance.status or "") if instance is not None else ""


def tag_names(server, scene_id) -> list[str]:
    return sorted(server.tags[t].name for t in server.scenes[scene_id].tag_ids)


async def start_engine(engines, stash_server, video_tag_server, **settings):
    return await engines.start(
        settings={
            "stash.url": stash_server.url,
            "analysis.video_server_url": video_tag_server.url,
            **settings,
        }
    )


# --- Auto Video Analysis ---------------------------------------------------------------------


async def test_video_analysis_status_sequence_and_auto_apply(
    engines, stash_server, video_tag_server
) -> None:
    scenes = [stash_server.add_scene(f"Scene {i}", tags=["AI_TagMe"]) for i in range(3)]
    services = await start_engine(engines, stash_server, video_tag_server)
    await services.store.write(lambda: mirror_standin(stash_server))
    video_tag_server.set_default({"acts": ["Kissing"]}, {"acts": {"Kissing": [(10, 12)]}})
    await services.manager.set_config("video-analysis", {"batch_size": 2})
    await services.manager.start("video-analysis")
    await wait_until(
        lambda: status_of(services, "video-analysis").startswith("No scenes"),
        20,
        "the daemon to finish",
    )
    analyses = await jobs(services, "ANALYSIS")
    applies = await jobs(services, "APPLY_PLAN")
    assert [j.status for j in analyses + applies] == ["completed"] * 4
    plans = {j.id: j.result["plan_id"] for j in analyses}
    a1, a2 = (j.id for j in analyses)
    p1, p2 = plans[a1], plans[a2]
    j1, j2 = (j.id for j in applies)
    assert [j.metadata for j in applies] == [
        {"plan_id": p1, "auto_approve": True},
        {"plan_id": p2, "auto_approve": True},
    ]
    assert await history(services, "video-analysis") == [
        ("Checking for scenes needing video analysis", None, None),
        ("Found 3 scenes needing analysis", None, None),
        ("Processing batch 1 of 2 (2 scenes)", None, None),
        ("Analyzing video tags for 2 scenes", a1, "ANALYSIS"),
        ("Waiting for video analysis to complete", a1, "ANALYSIS"),
        (f"Applying analysis plan {p1}", j1, "APPLY_PLAN"),
        ("Processing batch 2 of 2 (1 scenes)", None, None),
        ("Analyzing video tags for 1 scenes", a2, "ANALYSIS"),
        ("Waiting for video analysis to complete", a2, "ANALYSIS"),
        (f"Applying analysis plan {p2}", j2, "APPLY_PLAN"),
        ("Checking for scenes needing video analysis", None, None),
        ("No scenes to analyze, sleeping for 600 seconds", None, None),
    ]
    for scene in scenes:
        assert tag_names(stash_server, scene) == ["AI_Tagged", "Kissing_AI"]
        assert [m.title for m in stash_server.scene_markers(scene)] == ["Kissing_AI"]
    plan_rows = await services.store.read(lambda: list(Plan.select().order_by(Plan.id)))
    assert [p.status for p in plan_rows] == ["applied", "applied"]
    assert all(p.name.startswith("Auto Video Analysis - ") for p in plan_rows)
    actions = await services.store.read(
        lambda: [
            (a.job_id, a.action)
            for a in DaemonJobAction.select()
            .where(DaemonJobAction.daemon == "video-analysis")
            .order_by(DaemonJobAction.id)
        ]
    )
    assert [a for a in actions if a[1] == "LAUNCHED"] == [
        (a1, "LAUNCHED"),
        (j1, "LAUNCHED"),
        (a2, "LAUNCHED"),
        (j2, "LAUNCHED"),
    ]
    assert {a for a in actions if a[1] == "FINISHED"} == {
        (a1, "FINISHED"),
        (j1, "FINISHED"),
        (a2, "FINISHED"),
        (j2, "FINISHED"),
    }


async def test_video_analysis_leaves_plans_for_review_without_auto_apply(
    engines, stash_server, video_tag_server
) -> None:
    scene = stash_server.add_scene("One")
    services = await start_engine(engines, stash_server, video_tag_server)
    await services.store.write(lambda: mirror_standin(stash_server))
    video_tag_server.set_default({"acts": ["Kissing"]})
    await services.manager.set_config("video-analysis", {"auto_apply_plans": False})
    await services.manager.start("video-analysis")
    await wait_until(lambda: status_of(services, "video-analysis").startswith("No scenes"), 20)
    assert await jobs(services, "APPLY_PLAN") == []
    plan = await services.store.read(lambda: Plan.get())
    assert plan.status == "draft" and tag_names(stash_server, scene) == []
    assert not any(
        m.startswith("Applying") for m, _j, _t in await history(services, "video-analysis")
    )


async def test_errored_scenes_are_retried_by_the_daemon_after_the_backoff(
    engines, stash_server, video_tag_server
) -> None:
    scene = stash_server.add_scene("One", tags=["AI_TagMe"])
    services = await start_engine(
        engines,
        stash_server,
        video_tag_server,
        **{"analysis.retry_after_hours": 0, "analysis.max_attempts": 2},
    )
    await services.store.write(lambda: mirror_standin(stash_server))
    video_tag_server.fail(status=500)
    await services.manager.set_config("video-analysis", {"auto_apply_plans": False})
    await services.manager.start("video-analysis")
    # no back-off: tried again at once, and given up after analysis.max_attempts
    await wait_until(lambda: status_of(services, "video-analysis").startswith("No scenes"), 20)
    assert len([p for p in video_tag_server.request_paths if p]) == 2  # (not the pings)
    assert [j.metadata["scene_ids"] for j in await jobs(services, "ANALYSIS")] == [[scene], [scene]]
    await services.manager.stop("video-analysis")


async def test_video_analysis_never_analyses_a_scene_twice_at_once(
    engines, stash_server, video_tag_server
) -> None:
    ids = [stash_server.add_scene(f"Scene {i}") for i in range(3)]
    services = await start_engine(engines, stash_server, video_tag_server)
    await services.store.write(lambda: mirror_standin(stash_server))
    video_tag_server.set_default({"acts": ["Kissing"]})
    video_tag_server.hold("/data/videos/scene-1.mp4")
    by_hand = await services.runner.submit("ANALYSIS", {"scene_ids": ids[:2]}, created_by="cli")
    await wait_until(lambda: video_tag_server.held == 1, 10)
    await services.manager.set_config("video-analysis", {"auto_apply_plans": False})
    await services.manager.start("video-analysis")
    await wait_until(lambda: status_of(services, "video-analysis").startswith("No scenes"), 20)
    daemon_jobs = [j for j in await jobs(services, "ANALYSIS") if j.created_by == "video-analysis"]
    assert [j.metadata["scene_ids"] for j in daemon_jobs] == [[ids[2]]]
    assert ("Found 1 scenes needing analysis", None, None) in await history(
        services, "video-analysis"
    )
    video_tag_server.release()
    assert (await services.runner.wait(by_hand.id, 10)).status == "completed"


async def test_after_a_restart_the_daemon_waits_for_its_resumed_job(
    engines, stash_server, video_tag_server
) -> None:
    ids = [stash_server.add_scene(f"Scene {i}", tags=["AI_TagMe"]) for i in range(2)]
    services = await start_engine(
        engines, stash_server, video_tag_server, **{"analysis.concurrency": 1}
    )
    await services.store.write(lambda: mirror_standin(stash_server))
    video_tag_server.set_default({"acts": ["Kissing"]})
    video_tag_server.hold("/data/videos/scene-2.mp4")
    await services.manager.set_enabled("video-analysis", True)
    await services.manager.start("video-analysis")
    await wait_until(lambda: video_tag_server.held == 1, 20, "scene 2 in flight")
    [first] = await jobs(services, "ANALYSIS")
    await engines.engine.stop()
    video_tag_server.release()

    services = await engines.start(auto_start=True)
    await wait_until(lambda: status_of(services, "video-analysis").startswith("No scenes"), 20)
    analyses = await jobs(services, "ANALYSIS")
    assert [(j.id, j.status) for j in analyses] == [(first.id, "completed")]  # resumed, once
    [apply] = await jobs(services, "APPLY_PLAN")
    plan_id = apply.metadata["plan_id"]
    after_restart = (await history(services, "video-analysis"))[5:]
    assert after_restart == [
        ("Checking for scenes needing video analysis", None, None),
        ("Waiting for video analysis to complete", first.id, "ANALYSIS"),
        (f"Applying analysis plan {plan_id}", apply.id, "APPLY_PLAN"),
        ("No scenes to analyze, sleeping for 600 seconds", None, None),
    ]
    for scene in ids:
        assert tag_names(stash_server, scene) == ["AI_Tagged", "Kissing_AI"]


# --- Auto Plan Applier --------------------------------------------------------------------------


def change(scene_id, value, status="approved") -> dict:
    return {"scene_id": scene_id, "field": "tags", "proposed_value": value, "status": status}


async def test_plan_applier_status_sequence_and_later_approvals(engines, stash_server) -> None:
    scene = stash_server.add_scene("One")
    services = await engines.start(settings={"stash.url": stash_server.url})
    await services.store.write(lambda: mirror_standin(stash_server))

    def seed() -> tuple[int, int, int]:
        return (
            seed_plan(
                "Auto Video Analysis - A",
                [change(scene, "A1"), change(scene, "A2"), change(scene, "A3", "pending")],
            ),
            seed_plan("Manual plan", [change(scene, "M1")]),
            seed_plan("Other", [change(scene, "O1")]),
        )

    auto, manual, other = await services.store.write(seed)
    await services.manager.set_config(
        "plan-applier",
        {"plan_prefix_filter": ["Auto Video Analysis", "Manual"], "job_interval_seconds": 600},
    )
    await services.manager.start("plan-applier")
    await wait_until(lambda: status_of(services, "plan-applier").startswith("No plans"), 20)
    j1, j2 = (j.id for j in await jobs(services, "APPLY_PLAN"))
    prefixes = "Auto Video Analysis, Manual"
    assert await history(services, "plan-applier") == [
        ("Checking for plans to apply", None, None),
        ("Found 3 plans in DRAFT/REVIEWING status", None, None),
        (f"Filtering 3 plans by prefix: {prefixes}", None, None),
        ("Processing plan: Auto Video Analysis - A", None, None),
        (f"Plan {auto} has 2 changes to apply", None, None),
        (f"Applying plan {auto}: Auto Video Analysis - A", j1, "APPLY_PLAN"),
        (f"Waiting for plan {auto} to complete", j1, "APPLY_PLAN"),
        ("Processing plan: Manual plan", None, None),
        (f"Plan {manual} has 1 changes to apply", None, None),
        (f"Applying plan {manual}: Manual plan", j2, "APPLY_PLAN"),
        (f"Waiting for plan {manual} to complete", j2, "APPLY_PLAN"),
        ("Checking for plans to apply", None, None),
        ("Found 2 plans in DRAFT/REVIEWING status", None, None),
        (f"Filtering 2 plans by prefix: {prefixes}", None, None),
        ("No plans to process, sleeping for 600 seconds", None, None),
    ]
    assert tag_names(stash_server, scene) == ["A1", "A2", "M1"]
    # approved after the plan was first seen: applied on a later pass
    await services.store.write(lambda: approve_changes(auto, ChangeSelector(field="tags")))
    seen = len(await history(services, "plan-applier"))
    services.manager.handle("plan-applier").instance.wake_up()
    await wait_until(lambda: tag_names(stash_server, scene) == ["A1", "A2", "A3", "M1"], 20)
    await wait_until(lambda: status_of(services, "plan-applier").startswith("No plans"), 20)
    later = [m for m, _j, _t in (await history(services, "plan-applier"))[seen:]]
    assert f"Plan {auto} has 1 changes to apply" in later
    statuses = await services.store.read(lambda: {p.id: p.status for p in Plan.select()})
    assert statuses == {auto: "applied", manual: "applied", other: "draft"}


async def test_plan_applier_retries_a_failed_apply_after_a_backoff(engines, stash_server) -> None:
    scene = stash_server.add_scene("One")
    services = await engines.start(settings={"stash.url": stash_server.url})
    await services.store.write(lambda: mirror_standin(stash_server))
    plan_id = await services.store.write(lambda: seed_plan("P", [change(scene, "T1")]))
    stash_server.fail_http(502, times=1, operation="bulkSceneUpdate")  # then Stash is back
    await services.manager.set_config("plan-applier", {"job_interval_seconds": 1})
    await services.manager.start("plan-applier")
    await wait_until(lambda: tag_names(stash_server, scene) == ["T1"], 20, "the retry")
    await wait_until(lambda: not services.runner.active_jobs(), 10, "the job to end")
    applies = await jobs(services, "APPLY_PLAN")
    assert [j.status for j in applies] == ["failed", "completed"]
    failed = applies[0]
    assert "HTTP 502" in failed.error
    messages = await history(services, "plan-applier")
    failure = next(m for m in messages if m[0].startswith(f"Applying plan {plan_id} failed"))
    assert failure[1:] == (failed.id, "APPLY_PLAN")
    assert failure[0].endswith("retrying in 1 seconds")
    waiting = "No plans to process (1 waiting to retry after a failed apply)"
    assert (f"{waiting}, sleeping for 1 seconds", None, None) in messages
    logs = await services.store.read(
        lambda: [
            (r.level, r.message)
            for r in DaemonLog.select().where(DaemonLog.daemon == "plan-applier")
        ]
    )
    assert any(level == "WARNING" and "HTTP 502" in text for level, text in logs)
    await wait_until(lambda: status_of(services, "plan-applier").startswith("No plans"), 20)
    rows = await services.store.read(lambda: plan_changes(plan_id))
    assert [r.status for r in rows] == ["applied"]
    await services.manager.stop("plan-applier")


async def test_plan_applier_leaves_plans_being_applied_alone(
    engines, stash_server, video_tag_server
) -> None:
    scene = stash_server.add_scene("One")
    services = await start_engine(engines, stash_server, video_tag_server)

    def seed() -> tuple[int, int]:
        return (
            seed_plan("Busy", [change(scene, "B1")]),
            seed_plan(
                "Auto Video Analysis - X",
                [change(scene, "V1", "pending")],
                metadata={"created_by": "video-analysis"},
            ),
        )

    busy, owned = await services.store.write(seed)
    stash_server.slow(2.0, operation="bulkSceneUpdate", times=1)
    by_hand = await services.runner.submit("APPLY_PLAN", {"plan_id": busy}, created_by="cli")
    await wait_until(lambda: stash_server.requests_for("bulkSceneUpdate"), 10)
    # the video-analysis daemon applies its own plans (after the running apply: exclusive)
    await services.manager.start("video-analysis")
    await services.manager.set_config("plan-applier", {"auto_approve_all_changes": True})
    await services.manager.start("plan-applier")
    await wait_until(lambda: status_of(services, "plan-applier").startswith("No plans"), 20)
    assert ("Found 2 plans in DRAFT/REVIEWING status", None, None) in await history(
        services, "plan-applier"
    )
    assert (await services.runner.wait(by_hand.id, 10)).status == "completed"
    await wait_until(lambda: status_of(services, "video-analysis").startswith("No scenes"), 10)
    assert tag_names(stash_server, scene) == ["B1", "V1"]
    applies = await jobs(services, "APPLY_PLAN")
    assert [(j.created_by, j.metadata["plan_id"], j.status) for j in applies] == [
        ("cli", busy, "completed"),
        ("video-analysis", owned, "completed"),
    ]
    await services.manager.stop("video-analysis")
    await services.manager.stop("plan-applier")


async def test_an_unreachable_video_server_fails_the_pass_without_launching_jobs(
    engines, stash_server, video_tag_server
) -> None:
    stash_server.add_scene("One")
    services = await start_engine(engines, stash_server, video_tag_server)
    await services.store.write(lambda: mirror_standin(stash_server))
    video_tag_server.stop()
    await services.manager.start("video-analysis")
    await wait_until(lambda: "retrying in" in status_of(services, "video-analysis"), 20)
    status = status_of(services, "video-analysis")
    assert status.startswith(f"Video-tag server unreachable at {video_tag_server.url}")
    assert await jobs(services, "ANALYSIS") == []
    logs = await services.store.read(
        lambda: [
            (r.level, r.message)
            for r in DaemonLog.select().where(DaemonLog.daemon == "video-analysis")
        ]
    )
    assert logs and logs[0][0] == "WARNING" and "unreachable" in logs[0][1]
    await services.manager.stop("video-analysis")

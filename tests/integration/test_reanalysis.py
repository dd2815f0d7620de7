"""When a scene is analysed (again): model or setting changes, requests, AI_TagMe, VR.

The Auto Video Analysis daemon runs against the video-tag stand-in (with a model
identity) and, for VR, a SYNC from the Stash stand-in; each step counts what the
server was really asked.
"""

from __future__ import annotations

import asyncio
import time

from stashdesk.analysis.provenance import list_requests, load_current_producer, server_models
from stashdesk.analysis.tracking import scenes_needing_analysis
from stashdesk.daemons.video_analysis import analyse_again
from stashdesk.jobs.base import JobStatus
from stashdesk.store.models import DaemonStatus, SceneAnalysis
from tests.analysis_helpers import analyse, analysis_rows, seed_scene
from tests.standins.video_tag_server import DEFAULT_MODELS

DAEMON = "video-analysis"
IDLE = "No scenes to analyze"


def asked(server) -> list[str]:
    return sorted(p for p in server.request_paths if p)  # (not the pings)


async def idle_passes(services) -> int:
    await services.store.writer.flush_async()
    return await services.store.read(
        lambda: (
            DaemonStatus.select()
            .where((DaemonStatus.daemon == DAEMON) & DaemonStatus.message.startswith(IDLE))
            .count()
        )
    )


async def next_idle_pass(services, *, wake: bool = True, timeout: float = 20) -> None:
    """Wake the daemon (or let it start) and wait until it has gone idle once more."""
    before = await idle_passes(services)
    if wake:
        services.manager.handle(DAEMON).instance.wake_up()
    deadline = time.monotonic() + timeout
    while await idle_passes(services) <= before:
        if time.monotonic() > deadline:
            raise AssertionError("the daemon did not finish a pass")
        await asyncio.sleep(0.02)


def due(services, server) -> list[str]:
    """Scenes the daemon would take now (blocking: through Store.read)."""
    current = load_current_producer(services.settings, [server.url])
    return scenes_needing_analysis(["video_tags"], retry_after=0, max_attempts=3, current=current)


async def set_setting(services, key, value) -> None:
    await services.store.write(lambda: services.settings.set(key, value))


async def start(engines, video_tag_server, **settings):
    services = await engines.start(
        settings={"analysis.video_server_url": video_tag_server.url, **settings}
    )
    await services.manager.set_config(DAEMON, {"auto_apply_plans": False})
    return services


async def test_scenes_are_analysed_again_only_after_a_model_or_setting_change(
    engines, video_tag_server
) -> None:
    video_tag_server.set_model(DEFAULT_MODELS)
    video_tag_server.set_default({"acts": ["Kissing"]}, {"acts": {"Kissing": [(10, 12)]}})
    services = await start(engines, video_tag_server)
    await services.store.write(lambda: [seed_scene(i) for i in ("1", "2")])
    paths = ["/data/videos/scene-1.mp4", "/data/videos/scene-2.mp4"]
    await services.manager.start(DAEMON)
    await next_idle_pass(services, wake=False)
    assert asked(video_tag_server) == paths
    rows = await analysis_rows(services)
    row = rows[("1", "video_tags")]
    assert (row.frame_interval, row.threshold, row.vr_video, row.server_url) == (
        2.0,
        0.3,
        False,
        video_tag_server.url,
    )
    assert [m["name"] for m in row.models] == ["actions_vit_b", "scenes_vit_b"]
    seen = await services.store.read(server_models)
    assert row.model_key == seen[video_tag_server.url]["key"] and row.model_key

    await next_idle_pass(services)  # nothing changed: nothing is sent
    assert asked(video_tag_server) == paths

    await set_setting(services, "analysis.frame_interval", 1.0)  # a setting changed
    await next_idle_pass(services)
    assert asked(video_tag_server) == sorted(paths * 2)
    analysed = [r for r in video_tag_server.requests if r.path]
    assert {r.body["frame_interval"] for r in analysed[-2:]} == {1.0}

    upgraded = [{**m, "version": 2.1} for m in DEFAULT_MODELS]  # the server's model changed
    video_tag_server.set_model(upgraded)
    await next_idle_pass(services)  # the pass's probe sees it, then both are due
    assert asked(video_tag_server) == sorted(paths * 3)
    rows = await analysis_rows(services)
    assert {m["version"] for m in rows[("2", "video_tags")].models} == {2.1}

    await next_idle_pass(services)  # and then they are current again
    assert asked(video_tag_server) == sorted(paths * 3)

    await set_setting(services, "analysis.reanalyse_on_change", False)
    await set_setting(services, "analysis.threshold", 0.5)
    await next_idle_pass(services)
    assert asked(video_tag_server) == sorted(paths * 3)

    # "Analyse again": only that scene, whatever the option
    outcome = await analyse_again(services, ["2", "404"], requested_by="window")
    assert (outcome["requested"], outcome["unknown"], outcome["daemon"]) == (["2"], ["404"], True)
    await next_idle_pass(services, wake=False)
    assert asked(video_tag_server) == sorted(paths * 3 + paths[1:])
    await next_idle_pass(services)
    assert asked(video_tag_server) == sorted(paths * 3 + paths[1:])
    await services.manager.stop(DAEMON)


async def test_the_model_reported_in_answers_alone_is_enough(engines, video_tag_server) -> None:
    """Without asking /v3/current_ai_models/, the model named in the answers is enough."""
    video_tag_server.set_model(DEFAULT_MODELS)
    video_tag_server.set_default({"acts": ["Kissing"]})
    services = await start(engines, video_tag_server)
    await services.store.write(lambda: [seed_scene(i) for i in ("1", "2")])
    assert (await analyse(services, ["1"])).status == JobStatus.COMPLETED
    assert video_tag_server.url in await services.store.read(server_models)
    video_tag_server.set_model([{**DEFAULT_MODELS[0], "identifier": 3001}])
    # a new scene analysed with the new model makes scene 1 due (no probe needed)
    assert (await analyse(services, ["2"])).status == JobStatus.COMPLETED
    assert await services.store.read(lambda: due(services, video_tag_server)) == ["1"]


async def test_tagged_mode_takes_only_ai_tagme_scenes_and_still_redoes_changed_ones(
    engines, video_tag_server
) -> None:
    video_tag_server.set_default({"acts": ["Kissing"]})
    services = await start(engines, video_tag_server)

    def seed() -> None:
        seed_scene("1", tags=["AI_TagMe"])
        seed_scene("2")
        seed_scene("3", tags=["ai_tagme"])

    await services.store.write(seed)
    assert (await analyse(services, ["2"])).status == JobStatus.COMPLETED  # earlier, "new"
    await set_setting(services, "analysis.select", "tagged")
    await services.manager.start(DAEMON)
    await next_idle_pass(services, wake=False)
    assert asked(video_tag_server) == [
        "/data/videos/scene-1.mp4",
        "/data/videos/scene-2.mp4",
        "/data/videos/scene-3.mp4",
    ]
    await services.store.write(lambda: seed_scene("4"))  # synced later, no AI_TagMe
    await next_idle_pass(services)
    assert "/data/videos/scene-4.mp4" not in asked(video_tag_server)
    # a setting change makes every scene analysed before due, tagged or not
    await set_setting(services, "analysis.threshold", 0.4)
    await next_idle_pass(services)
    assert asked(video_tag_server).count("/data/videos/scene-2.mp4") == 2
    assert "/data/videos/scene-4.mp4" not in asked(video_tag_server)
    await services.manager.stop(DAEMON)


async def test_vr_scenes_are_sent_with_vr_video(engines, stash_server, video_tag_server) -> None:
    stash_server.ui_config["vrTag"] = "VR"
    vr = stash_server.add_scene("Headset", "/data/videos/vr.mp4", tags=["vr"])
    flat = stash_server.add_scene("Flat", "/data/videos/flat.mp4", tags=["Other"])
    video_tag_server.set_default({"acts": ["Kissing"]})
    services = await engines.start(
        settings={"stash.url": stash_server.url, "analysis.video_server_url": video_tag_server.url}
    )
    sync = await services.runner.submit("SYNC", {"full_resync": True})
    synced = await services.runner.wait(sync.id, 20)
    assert synced.status == JobStatus.COMPLETED and synced.result["vr_tag"] == "VR"
    assert (await analyse(services, [vr, flat])).status == JobStatus.COMPLETED
    sent = {r.body["path"]: r.body["vr_video"] for r in video_tag_server.requests}
    assert sent == {"/data/videos/vr.mp4": True, "/data/videos/flat.mp4": False}
    rows = await analysis_rows(services)
    assert (rows[(vr, "video_tags")].vr_video, rows[(flat, "video_tags")].vr_video) == (True, False)

    # the VR tag comes off in Stash: after the next sync that scene is due again
    stash_server.edit_scene(vr, tags=[])
    sync = await services.runner.submit("SYNC", {})
    await services.runner.wait(sync.id, 20)
    assert await services.store.read(lambda: due(services, video_tag_server)) == [vr]


async def test_a_request_is_kept_until_the_scene_is_analysed(engines, video_tag_server) -> None:
    video_tag_server.set_default({"acts": ["Kissing"]})
    services = await start(engines, video_tag_server)
    await services.store.write(lambda: [seed_scene(i) for i in ("1", "2")])
    assert (await analyse(services, ["1", "2"])).status == JobStatus.COMPLETED
    # no daemon running: a job is launched for the requested scene at once
    outcome = await analyse_again(services, ["1"], requested_by="cli")
    assert outcome["daemon"] is False and outcome["job_id"]
    final = await services.runner.wait(outcome["job_id"], 20)
    assert final.status == JobStatus.COMPLETED and final.result["analysed"] == 1
    assert asked(video_tag_server).count("/data/videos/scene-1.mp4") == 2
    assert final.created_by == "cli"
    remaining = await services.store.read(lambda: SceneAnalysis.select().count())
    assert remaining == 2
    assert await services.store.read(list_requests) == []

"""Stash -> SYNC -> Auto Video Analysis (video tags + path) -> APPLY_PLAN -> Stash -> SYNC."""

from __future__ import annotations

from stashdesk.store.models import Plan
from tests.engine_fixtures import wait_until


async def run_job(services, job_type: str, metadata: dict):
    info = await services.runner.submit(job_type, metadata)
    final = await services.runner.wait(info.id, timeout=30)
    assert final.status == "completed", final.error
    return final


async def test_synced_scenes_are_analysed_and_tagged_in_stash(
    engines, stash_server, video_tag_server
) -> None:
    stash_server.add_tag("Outdoor", aliases=["Open Air"])
    stash_server.add_performer("Jane Doe")
    first = stash_server.add_scene(
        None, "/data/videos/Jane Doe/open-air fun.mp4", tags=["AI_TagMe"]
    )
    second = stash_server.add_scene("Indoors", "/data/videos/plain.mp4", tags=["AI_TagMe"])
    video_tag_server.set_default({"acts": ["Kissing"]}, {"acts": {"Kissing": [(0, 3), (10, 12)]}})
    services = await engines.start(
        settings={
            "stash.url": stash_server.url,
            "analysis.video_server_url": video_tag_server.url,
            "analysis.path_map": ["/data=/mnt/ai"],
        }
    )
    await run_job(services, "SYNC", {"full_resync": True})

    await services.manager.set_config("video-analysis", {"detectors": ["video_tags", "path"]})
    await services.manager.start("video-analysis")
    handle = services.manager.handle("video-analysis")
    await wait_until(
        lambda: (
            handle.instance is not None and (handle.instance.status or "").startswith("No scenes")
        ),
        30,
    )
    await services.manager.stop("video-analysis")

    analysed = sorted(p for p in video_tag_server.request_paths if p)  # (not the ping)
    assert analysed == ["/mnt/ai/videos/Jane Doe/open-air fun.mp4", "/mnt/ai/videos/plain.mp4"]

    def names(scene_id: str, attr: str, table: dict) -> list[str]:
        return sorted(table[i].name for i in getattr(stash_server.scenes[scene_id], attr))

    assert names(first, "tag_ids", stash_server.tags) == ["AI_Tagged", "Kissing_AI", "Outdoor"]
    assert names(first, "performer_ids", stash_server.performers) == ["Jane Doe"]
    assert names(second, "tag_ids", stash_server.tags) == ["AI_Tagged", "Kissing_AI"]
    for scene in (first, second):
        assert [(m.title, m.seconds) for m in stash_server.scene_markers(scene)] == [
            ("Kissing_AI", 10.0)
        ]
    plans = await services.store.read(lambda: [p.status for p in Plan.select()])
    assert plans == ["applied"]

    # The next sync brings the applied changes home; analysing again proposes nothing.
    await run_job(services, "SYNC", {})
    again = await run_job(
        services, "ANALYSIS", {"scene_ids": [first, second], "detectors": ["path"]}
    )
    assert again.result["plan_id"] is None and again.result["analysed"] == 2

"""The daemons hand work to each other: a finished job wakes the daemon that needs its
results instead of leaving it asleep for its whole interval."""

from __future__ import annotations

from stashdesk.events import DaemonStatusChanged
from tests.engine_fixtures import wait_until


async def test_a_sync_wakes_analysis_and_generation(
    engines, stash_server, video_tag_server
) -> None:
    for i in range(3):
        stash_server.add_scene(f"Scene {i}", path=f"/library/scene-{i}.mp4")
    video_tag_server.set_default({"acts": ["Dancing"]}, {})
    services = await engines.start(
        settings={"stash.url": stash_server.url, "analysis.video_server_url": video_tag_server.url}
    )
    seen: list[tuple[str, str | None]] = []
    services.bus.listen(lambda e: seen.append((e.daemon, e.message)), DaemonStatusChanged)
    await services.manager.set_config("video-analysis", {"auto_apply_plans": False})
    for name in ("video-analysis", "stash-generation"):
        await services.manager.start(name)
    asleep = [
        ("video-analysis", "No scenes to analyze, sleeping for 600 seconds"),
        ("stash-generation", "All scenes generated, sleeping for 3600 seconds"),
    ]
    await wait_until(lambda: all(s in seen for s in asleep), 10, "both daemons asleep")

    await services.manager.start("stash-sync")
    woken = [
        ("video-analysis", "Found 3 scenes needing analysis"),
        ("stash-generation", "Starting metadata generation"),
    ]
    # both intervals are far longer than this wait: only the wake-up can explain these
    await wait_until(lambda: all(s in seen for s in woken), 10, "both daemons woken")
    analysis = [m for d, m in seen if d == "video-analysis"]
    woke = analysis.index(asleep[0][1])
    assert analysis[woke + 1 : woke + 3] == [
        "Checking for scenes needing video analysis",
        "Found 3 scenes needing analysis",
    ]

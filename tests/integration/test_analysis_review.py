"""Rules and mapping through a real ANALYSIS job, then the review data, covers and apply.

Stash stand-in -> SYNC (titles, studios, durations, covers' addresses) -> rules and
mapping in the database -> ANALYSIS against the video-tag stand-in -> plan, notes,
review grouped by scene -> covers fetched with the API key -> APPLY_PLAN.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from stashdesk.analysis.covers import scene_cover, scene_covers
from stashdesk.analysis.plans import ChangeSelector
from stashdesk.analysis.review import plan_review, review, review_scene, review_tag
from stashdesk.analysis.tag_mapping import ignore_tag, set_mapping
from stashdesk.analysis.tag_rules import set_rule
from stashdesk.jobs.base import JobStatus
from stashdesk.store.models import PlanNote
from tests.analysis_helpers import analyse, changes_of
from tests.standins.stash_server import default_cover

API_KEY = "secret-key-123"


async def synced_engine(engines, stash_server, video_tag_server, **settings):
    stash_server.api_key = API_KEY
    services = await engines.start(
        settings={
            "stash.url": stash_server.url,
            "stash.api_key": API_KEY,
            "analysis.video_server_url": video_tag_server.url,
            **settings,
        }
    )
    info = await services.runner.submit("SYNC", {"full_resync": True})
    assert (await services.runner.wait(info.id, 20)).status == JobStatus.COMPLETED
    return services


def seed_library(stash_server) -> tuple[str, str]:
    stash_server.add_tag("Kitchen", aliases=["Cuisine"])
    first = stash_server.add_scene(
        "Breakfast",
        "/data/videos/breakfast.mp4",
        duration=600,
        studio="Acme",
        tags=["AI_TagMe", "Morning"],
    )
    second = stash_server.add_scene("Swim", "/data/videos/swim.mp4", duration=300)
    return first, second


def answers(video_tag_server) -> None:
    video_tag_server.set_result(
        "/data/videos/breakfast.mp4",
        {"locations": [("Cuisine", 0.9), ("Pool", 0.7)], "shots": [("Closeup", 0.95)]},
        {
            "locations": {"Cuisine": [(10, 20), (251, 281)], "Pool": [(40, 40)]},
            "shots": {"Closeup": [(5, 6)]},
        },
        with_confidence=True,
    )
    video_tag_server.set_result(
        "/data/videos/swim.mp4",
        {"locations": [("Pool", 0.8)]},
        {"locations": {"Pool": [(30, 60), (66, 70), (200, 202)]}},
        with_confidence=True,
    )


async def test_rules_and_mapping_make_the_plan_and_its_notes(
    engines, stash_server, video_tag_server
) -> None:
    first, second = seed_library(stash_server)
    services = await synced_engine(
        engines, stash_server, video_tag_server, **{"analysis.tag_policy": "map"}
    )
    answers(video_tag_server)

    def configure() -> None:
        ignore_tag("Closeup")
        set_mapping("Pool", "Swimming Pool")
        set_rule(None, min_marker_seconds=6)
        set_rule("Pool", min_on_screen="5%", merge_gap_seconds=5, max_markers=1)

    await services.store.write(configure)
    final = await analyse(services, [first, second])
    assert final.status == JobStatus.COMPLETED, final.error
    assert final.result["left_out"] == 4
    plan_id = final.result["plan_id"]
    marker = {"title": "Kitchen", "primary_tag": "Kitchen"}
    assert await changes_of(services, plan_id) == [
        # Cuisine is Kitchen's alias; Pool covers 2 s (under 5 % of 600 s = 30 s)
        (first, "tags", "add", "Kitchen", 0.9),
        (first, "markers", "add", {**marker, "seconds": 10.0, "end_seconds": 20.0}, 0.9),
        (first, "markers", "add", {**marker, "seconds": 251.0, "end_seconds": 281.0}, 0.9),
        (first, "tags", "remove", "AI_TagMe", 1.0),
        (first, "tags", "add", "AI_Tagged", 1.0),
        # Pool: 30-60 and 66-70 merge (4 s apart); 200-202 is under 6 s; one marker at most
        (second, "tags", "add", "Swimming Pool", 0.8),
        (
            second,
            "markers",
            "add",
            {
                "title": "Swimming Pool",
                "seconds": 30.0,
                "end_seconds": 70.0,
                "primary_tag": "Swimming Pool",
            },
            0.8,
        ),
        (second, "tags", "add", "AI_Tagged", 1.0),
    ]
    stored = await services.store.read(
        lambda: [
            (n.scene_id, n.ai_tag, n.rule, n.message)
            for n in PlanNote.select().where(PlanNote.plan == plan_id).order_by(PlanNote.id)
        ]
    )
    assert sorted(stored) == sorted(
        [
            (
                first,
                "Pool",
                "min_on_screen",
                "Pool: 2 s on screen (0.3 % of the video), under the 5 % minimum",
            ),
            (
                first,
                "Pool",
                "min_marker_seconds",
                "Pool: 1 marker shorter than 6 s left out (at 0:40)",
            ),
            (first, "Closeup", "mapping", "Closeup: ignored by the tag mapping"),
            (
                second,
                "Pool",
                "min_marker_seconds",
                "Pool: 1 marker shorter than 6 s left out (at 3:20)",
            ),
        ]
    )


async def test_review_grouped_by_scene_with_covers_and_stash_links(
    engines, stash_server, video_tag_server
) -> None:
    first, second = seed_library(stash_server)
    services = await synced_engine(engines, stash_server, video_tag_server)
    answers(video_tag_server)
    final = await analyse(services, [first, second])
    plan_id = final.result["plan_id"]
    covers = Path(services.data_dir) / "covers"

    view = await services.store.read(
        lambda: plan_review(plan_id, stash_url=stash_server.url, covers_dir=covers)
    )
    assert view["scene_count"] == 2 and [s["scene_id"] for s in view["scenes"]] == [first, second]
    scene = view["scenes"][0]
    assert (scene["title"], scene["studio"], scene["duration"], scene["tags"]) == (
        "Breakfast",
        "Acme",
        600.0,
        ["AI_TagMe", "Morning"],
    )
    assert scene["cover_url"].startswith(f"{stash_server.url}/scene/{first}/screenshot?t=")
    assert scene["cover_path"] is None  # not fetched yet
    assert scene["url"] == f"{stash_server.url}/scenes/{first}"
    markers = [c for c in scene["changes"] if c["field"] == "markers"]
    assert [(m["start"], m["end"], m["url"], m["label"]) for m in markers] == [
        (5.0, 6.0, f"{stash_server.url}/scenes/{first}?t=5", "Closeup_AI @ 0:05-0:06"),
        (10.0, 20.0, f"{stash_server.url}/scenes/{first}?t=10", "Cuisine_AI @ 0:10-0:20"),
        (40.0, 40.0, f"{stash_server.url}/scenes/{first}?t=40", "Pool_AI @ 0:40-0:40"),
        (251.0, 281.0, f"{stash_server.url}/scenes/{first}?t=251", "Cuisine_AI @ 4:11-4:41"),
    ]
    assert scene["counts"]["pending"] == len(scene["changes"]) == 9  # 3 tags, 4 markers,
    # AI_TagMe out, AI_Tagged in
    assert {t["tag"]: (t["tags"], t["markers"]) for t in view["tags"]}["Pool_AI"] == (2, 4)

    # covers: fetched with the API key, cached on disk, not fetched twice
    fetched = await scene_covers(services, [first, second])
    assert [(c["cached"], c["error"]) for c in fetched] == [(False, None), (False, None)]
    images = await asyncio.to_thread(lambda: [Path(c["path"]).read_bytes() for c in fetched])
    assert images[0].startswith(b"\x89PNG") and images[0] != images[1]
    assert images == [default_cover(first), default_cover(second)]
    cover_requests = [r for r in stash_server.requests if "/screenshot" in r.path]
    assert len(cover_requests) == 2 and all(r.header("ApiKey") == API_KEY for r in cover_requests)
    again = await scene_cover(services, first)
    assert again == {**fetched[0], "cached": True}
    assert len([r for r in stash_server.requests if "/screenshot" in r.path]) == 2
    view = await services.store.read(
        lambda: plan_review(
            plan_id, stash_url=stash_server.url, covers_dir=covers, scene_ids=[first]
        )
    )
    assert view["scenes"][0]["cover_path"] == fetched[0]["path"]

    # review by tag, by scene, by filter: the counts come back with each step
    zero = dict.fromkeys(("pending", "approved", "rejected", "applied", "skipped", "failed"), 0)
    by_tag = await services.store.write(lambda: review_tag(plan_id, "pool_ai", "reject"))
    assert by_tag["changed"] == 6  # Pool_AI: the tag and its markers (1 + 1, 1 + 3)
    assert by_tag["scenes"] == {
        first: {**zero, "pending": 7, "rejected": 2},
        second: {**zero, "pending": 1, "rejected": 4},
    }
    # a rejected change is still open to review: approving the scene takes it too
    by_scene = await services.store.write(lambda: review_scene(plan_id, first, "approve"))
    assert by_scene["changed"] == 9
    assert by_scene["plan"] == {**zero, "approved": 9, "pending": 1, "rejected": 4}
    filtered = await services.store.write(
        lambda: review(
            plan_id,
            "approve",
            ChangeSelector(scene_ids=(second,), field="tags", min_confidence=0.9),
        )
    )
    assert filtered["changed"] == 1 and filtered["scenes"][second]["approved"] == 1


async def test_a_cover_stash_refuses_says_why(engines, stash_server, video_tag_server) -> None:
    first, _second = seed_library(stash_server)
    services = await synced_engine(engines, stash_server, video_tag_server)
    stash_server.api_key = "rotated"
    result = await scene_cover(services, first)
    assert result["path"] is None and "stash.api_key" in result["error"]

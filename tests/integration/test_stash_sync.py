"""The SYNC job against the Stash stand-in: what is stored, watermark, paging, zones."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from stashdesk.jobs.sync import count_pending_scenes, newer_than, shift_stash_time
from stashdesk.store.models import (
    Performer,
    Scene,
    SceneFile,
    SceneMarker,
    ScenePerformer,
    SceneTag,
    Studio,
    Tag,
)
from tests.engine_fixtures import wait_until
from tests.integration.stash_helpers import (
    hook_find_scenes,
    local_scenes,
    run_job,
    start_with_stash,
    watermark,
)


def seed(
    stash_server, count: int, start: str = "2026-03-01T10:00:00", step: float = 1.0, **fields
) -> list[str]:
    """``count`` scenes, each updated ``step`` seconds after the previous one."""
    stash_server.freeze_time(start)
    ids = []
    for i in range(count):
        ids.append(stash_server.add_scene(f"Scene {i + 1}", **fields))
        stash_server.advance(step)
    return ids


def stash_titles(stash_server) -> dict[str, str | None]:
    return {s.id: s.title for s in stash_server.scenes.values()}


async def test_sync_stores_scenes_with_files_tags_performers_studio_and_markers(
    engines, stash_server
) -> None:
    stash_server.freeze_time("2026-03-01T10:00:00")
    first = stash_server.add_scene(
        "First",
        path=["/data/a.mp4", "/data/a-alt.mkv"],
        details="Details",
        date="2025-12-31",
        rating100=80,
        organized=True,
        tags=["Outdoor", "HD"],
        performers=["Ann", "Bea"],
        studio="Acme",
        markers=[
            ("Intro", 12.5, "Outdoor"),
            {"title": "Later", "seconds": 60, "primary_tag": "HD", "end_seconds": 90},
        ],
    )
    stash_server.advance(5)
    second = stash_server.add_scene("Second", size=123, duration=42.0, width=640, height=360)
    stash_server.add_tag("Unused tag", aliases=["spare"])
    services = await start_with_stash(engines, stash_server)

    outcome = await run_job(services, "SYNC")
    assert outcome.status == "completed", outcome.error
    result = outcome.result
    assert (
        result["created"],
        result["updated"],
        result["unchanged"],
        result["removed"],
        result["failed"],
        result["synced"],
    ) == (2, 0, 0, 0, 0, 2)
    assert result["duration"] >= 0 and result["full_resync"] is False

    def read():
        scene = Scene.get_by_id(first)
        return {
            "scene": (
                scene.title,
                scene.details,
                scene.date,
                scene.rating100,
                scene.organized,
                scene.created_at,
                scene.updated_at,
                scene.removed,
                scene.generated,
            ),
            "epoch": scene.updated_at_epoch,
            "studio": Studio.get_by_id(scene.studio_id).name,
            "files": [
                (f.path, f.size, f.duration, f.width, f.height)
                for f in SceneFile.select().where(SceneFile.scene == first).order_by(SceneFile.path)
            ],
            "tags": sorted(
                Tag.get_by_id(t.tag_id).name
                for t in SceneTag.select().where(SceneTag.scene == first)
            ),
            "performers": sorted(
                Performer.get_by_id(p.performer_id).name
                for p in ScenePerformer.select().where(ScenePerformer.scene == first)
            ),
            "markers": sorted(
                (m.title, m.seconds, m.end_seconds, Tag.get_by_id(m.primary_tag_id).name)
                for m in SceneMarker.select().where(SceneMarker.scene == first)
            ),
            "second_file": [
                (f.size, f.duration, f.width, f.height)
                for f in SceneFile.select().where(SceneFile.scene == second)
            ],
            "all_tags": {t.name: t.aliases for t in Tag.select()},
        }

    stored = await services.store.read(read)
    assert stored["scene"] == (
        "First",
        "Details",
        "2025-12-31",
        80,
        True,
        "2026-03-01T10:00:00+05:30",
        "2026-03-01T10:00:00+05:30",
        False,
        False,
    )
    assert stored["epoch"] == datetime(2026, 3, 1, 4, 30, tzinfo=UTC).timestamp()
    assert stored["studio"] == "Acme"
    assert stored["files"] == [
        ("/data/a-alt.mkv", 1_000_000_000, 1800.0, 1920, 1080),
        ("/data/a.mp4", 1_000_000_000, 1800.0, 1920, 1080),
    ]
    assert stored["tags"] == ["HD", "Outdoor"] and stored["performers"] == ["Ann", "Bea"]
    assert stored["markers"] == [("Intro", 12.5, None, "Outdoor"), ("Later", 60.0, 90.0, "HD")]
    assert stored["second_file"] == [(123, 42.0, 640, 360)]
    assert stored["all_tags"]["Unused tag"] == ["spare"]  # Stash's own tags come along too
    # the watermark is the newest updated_at exactly as Stash wrote it
    assert await watermark(services) == "2026-03-01T10:00:05+05:30"
    assert result["watermark"] == "2026-03-01T10:00:05+05:30"


async def test_a_second_sync_is_idempotent_and_reports_progress(engines, stash_server) -> None:
    seed(stash_server, 7)
    services = await start_with_stash(engines, stash_server)
    first = await run_job(services, "SYNC", {"page_size": 3})
    assert first.result["created"] == 7
    hook_find_scenes(services, lambda call: asyncio.sleep(0.1))
    job = await services.runner.submit("SYNC", {"page_size": 3, "full_resync": True})
    seen = set()
    while (snapshot := services.runner.snapshot(job.id)) is not None:
        seen.add((round(snapshot.progress, 1), snapshot.message))
        await asyncio.sleep(0.005)
    second = await services.runner.wait(job.id, 10)
    assert (
        second.result["created"],
        second.result["updated"],
        second.result["unchanged"],
        second.result["synced"],
    ) == (0, 0, 7, 0)
    assert second.message == "Checked 7 scenes: 0 new, 0 changed"  # how it ended
    assert (28.6, "Synced 2/7 scenes") in seen  # page 1 up to its last second
    assert (57.1, "Synced 4/7 scenes") in seen
    # the incremental sync re-reads only the watermark's second
    third = await run_job(services, "SYNC", {"page_size": 3})
    assert (third.result["unchanged"], third.result["synced"]) == (1, 0)


async def test_edits_during_a_sync_are_not_skipped(engines, stash_server) -> None:
    """Offset paging would skip a scene when an earlier one moves to the end; keyset
    paging must not, and every edit must be in the local copy after the sync."""
    ids = seed(stash_server, 9)
    services = await start_with_stash(engines, stash_server)

    def edit_between_pages(call: int) -> None:
        if call == 1:  # page 1 (scenes 1-3) is in hand, not yet stored
            stash_server.advance(1)
            stash_server.edit_scene(ids[0], title="Scene 1 edited during the sync")
            stash_server.edit_scene(ids[4], title="Scene 5 edited during the sync")
            stash_server.add_scene("Added during the sync")
            stash_server.delete_scene(ids[6])

    sent = hook_find_scenes(services, edit_between_pages)
    outcome = await run_job(services, "SYNC", {"page_size": 3})
    assert outcome.status == "completed", outcome.error
    local = await local_scenes(services)
    titles = {i: s["title"] for i, s in local.items()}
    assert {i: t for i, t in titles.items() if i in stash_server.scenes} == stash_titles(
        stash_server
    )
    assert set(stash_server.scenes) <= set(local)
    # nothing is left for the next sync to find, and no request used offsets
    assert await count_pending_scenes(services) == 0
    assert all(r.variables["filter"]["page"] == 1 for r in stash_server.requests_for("FindScenes"))
    assert len(sent) >= 4


async def test_an_edit_in_the_same_second_as_the_watermark_is_synced(engines, stash_server) -> None:
    ids = seed(stash_server, 3)
    stash_server.advance(-1)  # the clock stays in the second of the newest scene
    services = await start_with_stash(engines, stash_server)
    await run_job(services, "SYNC")
    mark = await watermark(services)
    assert mark == stash_server.scenes[ids[2]].updated_at
    assert await count_pending_scenes(services) == 0

    stash_server.edit_scene(ids[2], title="Edited in the same second")
    stash_server.add_scene("Created in the same second")
    assert stash_server.scenes[ids[2]].updated_at == mark  # nothing newer than the watermark
    assert await count_pending_scenes(services) == 2
    before = len(stash_server.requests)
    outcome = await run_job(services, "SYNC")
    assert (outcome.result["created"], outcome.result["updated"], outcome.result["unchanged"]) == (
        1,
        1,
        0,
    )
    assert (await local_scenes(services))[ids[2]]["title"] == "Edited in the same second"
    assert await count_pending_scenes(services) == 0
    # the first page asked for the watermark's second too: > W OR = W
    first_filter = next(
        r for r in stash_server.requests[before:] if r.operation_name == "FindScenes"
    ).variables["scene_filter"]
    assert first_filter["updated_at"] == {"value": mark, "modifier": "GREATER_THAN"}
    assert first_filter["OR"]["updated_at"] == {"value": mark, "modifier": "EQUALS"}


async def test_many_scenes_in_one_second_are_paged_by_id(engines, stash_server) -> None:
    stash_server.freeze_time("2026-03-01T10:00:00")
    ids = [stash_server.add_scene(f"Bulk {i}") for i in range(8)]  # one second, 8 scenes
    stash_server.advance(1)
    later = stash_server.add_scene("Later")
    services = await start_with_stash(engines, stash_server)
    outcome = await run_job(services, "SYNC", {"page_size": 3})
    assert outcome.result["created"] == 9
    assert set(await local_scenes(services)) == {*ids, later}


@pytest.mark.parametrize(
    "zone", ["+05:30", "-03:00", "UTC", "Asia/Kolkata", "America/New_York", "Europe/Berlin"]
)
async def test_incremental_sync_in_any_server_zone(engines, stash_server, zone: str) -> None:
    stash_server.tz = zone
    ids = seed(stash_server, 4, start="2026-07-01T23:59:58")  # crosses midnight local time
    services = await start_with_stash(engines, stash_server)
    await run_job(services, "SYNC", {"page_size": 2})
    mark = await watermark(services)
    assert mark == stash_server.scenes[ids[-1]].updated_at  # as Stash wrote it, in its zone
    assert mark.endswith("Z") if zone == "UTC" else not mark.endswith("Z")

    stash_server.advance(7)
    stash_server.edit_scene(ids[1], title="Edited")
    assert await count_pending_scenes(services) == 1
    outcome = await run_job(services, "SYNC", {"page_size": 2})
    assert outcome.result["updated"] == 1 and outcome.result["created"] == 0
    assert (await local_scenes(services))[ids[1]]["title"] == "Edited"
    assert await watermark(services) == stash_server.scenes[ids[1]].updated_at


async def test_dst_spring_forward_loses_nothing(engines, stash_server) -> None:
    stash_server.tz = "America/New_York"
    stash_server.freeze_time("2026-03-08T01:59:59")  # EST; the next second is 03:00 EDT
    first = stash_server.add_scene("Before the change")
    services = await start_with_stash(engines, stash_server)
    await run_job(services, "SYNC")
    assert await watermark(services) == "2026-03-08T01:59:59-05:00"
    stash_server.advance(1)
    stash_server.edit_scene(first, title="After the change")
    assert stash_server.scenes[first].updated_at == "2026-03-08T03:00:00-04:00"
    assert await count_pending_scenes(services) == 1
    await run_job(services, "SYNC")
    assert (await local_scenes(services))[first]["title"] == "After the change"


async def test_dst_fall_back_edits_in_the_repeated_hour_are_not_lost(engines, stash_server) -> None:
    """After the clocks go back, an hour of local wall time repeats: an edit in that hour
    sorts *before* a watermark written just before the change. The next sync (triggered
    by any later edit) sees the smaller offset and reads that hour again."""
    stash_server.tz = "America/New_York"
    stash_server.freeze_time("2026-11-01T01:50:00")  # EDT (-04:00), first pass of 01:xx
    a = stash_server.add_scene("A")
    b = stash_server.add_scene("B")
    services = await start_with_stash(engines, stash_server)
    await run_job(services, "SYNC")
    assert await watermark(services) == "2026-11-01T01:50:00-04:00"

    stash_server.advance(30 * 60)  # 01:20 EST, the repeated hour
    stash_server.edit_scene(b, title="B edited in the repeated hour")
    assert stash_server.scenes[b].updated_at == "2026-11-01T01:20:00-05:00"
    stash_server.advance(50 * 60)  # 02:10 EST
    c = stash_server.add_scene("C")
    assert await count_pending_scenes(services) == 1  # C; B's text sorts before the watermark
    outcome = await run_job(services, "SYNC")
    assert outcome.status == "completed"
    local = await local_scenes(services)
    assert local[b]["title"] == "B edited in the repeated hour"
    assert c in local and local[a]["title"] == "A"
    assert await watermark(services) == "2026-11-01T02:10:00-05:00"


def test_shift_stash_time_keeps_the_offset_and_style() -> None:
    assert shift_stash_time("2026-03-01T00:00:00+05:30", -1) == "2026-02-28T23:59:59+05:30"
    assert shift_stash_time("2026-03-01T00:00:00Z", -1) == "2026-02-28T23:59:59Z"
    assert shift_stash_time("2026-11-01T01:50:00-04:00", -3601) == "2026-11-01T00:49:59-04:00"
    assert shift_stash_time("not a time", -1) is None


async def test_full_resync_marks_scenes_stash_no_longer_has_as_removed(
    engines, stash_server
) -> None:
    ids = seed(stash_server, 5)
    services = await start_with_stash(engines, stash_server)
    await run_job(services, "SYNC", {"page_size": 2})
    stash_server.delete_scene(ids[1])
    incremental = await run_job(services, "SYNC", {"page_size": 2})
    assert incremental.result["removed"] == 0  # an incremental sync cannot see deletions
    assert not (await local_scenes(services))[ids[1]]["removed"]

    full = await run_job(services, "SYNC", {"page_size": 2, "full_resync": True})
    assert full.status == "completed"
    assert (full.result["removed"], full.result["unchanged"], full.result["created"]) == (1, 4, 0)
    local = await local_scenes(services)
    assert [i for i, s in local.items() if s["removed"]] == [ids[1]]
    removed_at = await services.store.read(lambda: Scene.get_by_id(ids[1]).removed_at)
    assert removed_at is not None
    again = await run_job(services, "SYNC", {"full_resync": True})
    assert again.result["removed"] == 0  # already marked


async def test_a_sync_is_cancellable_between_pages_and_keeps_what_it_stored(
    engines, stash_server
) -> None:
    ids = seed(stash_server, 10)
    services = await start_with_stash(engines, stash_server)
    job = {}

    async def cancel_after_first_page(call: int) -> None:
        if call == 1:
            await services.runner.cancel(job["id"], "Cancelled by the test")

    hook_find_scenes(services, cancel_after_first_page)
    info = await services.runner.submit("SYNC", {"page_size": 3})
    job["id"] = info.id
    outcome = await services.runner.wait(info.id, 20)
    assert outcome.status == "cancelled" and outcome.error == "Cancelled by the test"
    stored = await local_scenes(services)
    assert 0 < len(stored) < 10
    mark = await watermark(services)
    assert mark == max(s["updated_at"] for s in stored.values())

    services.stash().find_scenes = type(services.stash()).find_scenes.__get__(services.stash())
    rest = await run_job(services, "SYNC", {"page_size": 3})
    assert rest.status == "completed"
    assert set(await local_scenes(services)) == set(ids)
    assert rest.result["created"] == 10 - len(stored)


async def test_stash_failing_mid_sync_fails_the_job_and_the_next_sync_resumes(
    engines, stash_server
) -> None:
    ids = seed(stash_server, 8)
    services = await start_with_stash(engines, stash_server)

    def break_stash(call: int) -> None:
        if call == 1:
            stash_server.fail_http(500, operation="FindScenes")

    hook_find_scenes(services, break_stash)
    outcome = await run_job(services, "SYNC", {"page_size": 3})
    assert outcome.status == "failed"
    assert "answered HTTP 500" in outcome.error
    assert len(await local_scenes(services)) == 2  # page 1 minus its last second
    stash_server.clear_faults()
    rest = await run_job(services, "SYNC", {"page_size": 3})
    assert rest.status == "completed" and set(await local_scenes(services)) == set(ids)


async def test_sync_job_waits_in_line_behind_another_sync(engines, stash_server) -> None:
    seed(stash_server, 3)
    services = await start_with_stash(engines, stash_server)
    first = await services.runner.submit("SYNC")
    second = await services.runner.submit("SYNC")
    assert services.runner.snapshot(second.id).status == "pending"  # SYNC is exclusive
    await wait_until(lambda: services.runner.snapshot(second.id) is None, timeout=20)
    assert (await services.runner.get(first.id)).status == "completed"
    assert (await services.runner.get(second.id)).result["synced"] == 0


async def test_the_watermark_never_comes_from_the_local_clock(engines, stash_server) -> None:
    # Stash's clock is a day behind ours: a watermark from the local clock would skip
    # every edit Stash makes during the next day.
    stash_server.freeze_time(datetime.now(UTC) - timedelta(days=1))
    first = stash_server.add_scene("Yesterday")
    services = await start_with_stash(engines, stash_server)
    await run_job(services, "SYNC")
    stash_server.advance(60)
    stash_server.edit_scene(first, title="Still yesterday")
    assert await count_pending_scenes(services) == 1
    await run_job(services, "SYNC")
    assert (await local_scenes(services))[first]["title"] == "Still yesterday"


async def test_an_idle_check_after_a_bulk_import_costs_one_small_request(
    engines, stash_server
) -> None:
    """Once the watermark's second is over on Stash's clock (its Date header) and was read
    whole, nothing new can land in it: checks are one count, and syncs start after it."""
    stash_server.freeze_time("2026-03-01T10:00:00")
    stash_server.add_scene("Before the import")
    stash_server.advance(1)
    bulk = [stash_server.add_scene(f"Imported {i}") for i in range(700)]  # one second
    stash_server.advance(120)  # the first sync runs two minutes after the import
    services = await start_with_stash(engines, stash_server)
    outcome = await run_job(services, "SYNC", {"page_size": 250})
    assert outcome.result["created"] == 701

    async def check(pending: int) -> list[dict]:
        before = len(stash_server.requests)
        assert await count_pending_scenes(services) == pending
        return [r.variables for r in stash_server.requests[before:]]

    for _ in range(3):
        sent = await check(0)
        assert sent == [{"scene_filter": newer_than(await watermark(services))}]
    stash_server.advance(5)
    stash_server.edit_scene(bulk[3], title="Edited after the import")
    assert len(await check(1)) == 1
    again = await run_job(services, "SYNC", {"page_size": 250})
    # the bulk second was not read again: only the edited scene came back
    assert (again.result["updated"], again.result["unchanged"]) == (1, 0)
    mark = await watermark(services)
    assert mark == stash_server.scenes[bulk[3]].updated_at
    # read while its second was still current: re-read until it is over, then settled
    assert len(await check(0)) == 2
    stash_server.advance(10)
    assert len(await check(0)) == 2  # this re-read happened after the second: it settles
    assert len(await check(0)) == 1
    stash_server.edit_scene(bulk[5], title="Another edit")
    assert len(await check(1)) == 1

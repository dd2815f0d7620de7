"""After an import: Stash's Identify and Auto Tag on exactly the new scenes, and a scan
that failed (or could not reach Stash) retried on the next pass. Real qbittorrent-nox and
the Stash stand-in (which creates scenes for the videos a finished scan finds)."""

from __future__ import annotations

import os
from pathlib import Path

from stashdesk.jobs.base import JobInfo
from stashdesk.store.models import Job
from tests.engine_fixtures import wait_until
from tests.integration.downloads_helpers import in_thread, make_pack, settings_for, statuses
from tests.standins.qbittorrent_harness import QBittorrentProcess

DAEMON = "download-processor"
STASH_LIBRARY = "/data/library"


async def start(engines, qbittorrent, stash_server, library: Path, **config):
    stash_server.library_map = {STASH_LIBRARY: library}
    services = await engines.start(
        settings=settings_for(
            qbittorrent,
            library,
            **{"stash.url": stash_server.url, "downloads.stash_path": STASH_LIBRARY},
        )
    )
    await services.manager.set_config(DAEMON, {"job_interval_seconds": 300, **config})
    return services


def daemon_status(services) -> str:
    instance = services.manager.handle(DAEMON).instance
    return (instance.status or "") if instance is not None else ""


async def jobs(services) -> list[JobInfo]:
    return await services.store.read(
        lambda: [JobInfo.from_row(j) for j in Job.select().order_by(Job.created_at)]
    )


async def test_identify_and_auto_tag_run_on_exactly_the_new_scenes_in_order(
    engines, qbittorrent: QBittorrentProcess, stash_server, downloads: Path, library: Path
) -> None:
    old = stash_server.add_scene("Already there", path=f"{STASH_LIBRARY}/Old/old.mp4")
    stash_server.stash_boxes = [
        {"endpoint": "https://stashdb.org/graphql", "api_key": "box-key", "name": "StashDB"},
        {"endpoint": "https://pmvstash.org/graphql", "api_key": "k2", "name": "PMVStash"},
    ]
    stash_server.identify_defaults = {
        "sources": [],
        "options": {
            "fieldOptions": [{"field": "title", "strategy": "MERGE", "createMissing": None}],
            "setCoverImage": True,
            "setOrganized": False,
            "includeMalePerformers": True,
            "skipMultipleMatches": True,
            "skipMultipleMatchTag": None,
            "skipSingleNamePerformers": True,
            "skipSingleNamePerformerTag": None,
        },
    }
    stash_server.job_script = [("RUNNING", 0.5), ("FINISHED", 1.0)]
    services = await start(
        engines,
        qbittorrent,
        stash_server,
        library,
        identify_after_import=True,
        auto_tag_after_import=True,
        identify_sources=["StashDB", "builtin_autotag"],
        identify_field_strategies={"performers": {"strategy": "merge", "createMissing": True}},
    )
    qbittorrent.add_completed_torrent(
        make_pack(
            downloads,
            "Pack",
            {"a.mp4": os.urandom(20_000), "b.mkv": os.urandom(20_000), "cover.jpg": b"j" * 100},
        )
    )
    await services.manager.start(DAEMON)
    await wait_until(lambda: daemon_status(services).startswith("No new downloads"), 30)

    process, scan, identify, auto_tag = await jobs(services)
    assert [j.type for j in (process, scan, identify, auto_tag)] == [
        "PROCESS_DOWNLOADS",
        "STASH_SCAN",
        "STASH_IDENTIFY",
        "STASH_AUTO_TAG",
    ]
    assert all(j.status == "completed" for j in (scan, identify, auto_tag))
    new_ids = sorted(set(stash_server.scenes) - {old}, key=int)
    assert len(new_ids) == 2 and identify.metadata["scene_ids"] == new_ids
    history = await statuses(services, DAEMON)
    assert history[3:] == [
        ("Waiting for download processing to complete", process.id, "PROCESS_DOWNLOADS"),
        ("Triggering Stash metadata scan", scan.id, "STASH_SCAN"),
        ("Waiting for metadata scan to complete", scan.id, "STASH_SCAN"),
        ("Looking up 2 new files in Stash", None, None),
        ("Identifying 2 new scenes", identify.id, "STASH_IDENTIFY"),
        ("Waiting for identify to complete", identify.id, "STASH_IDENTIFY"),
        ("Auto-tagging 2 new scenes", auto_tag.id, "STASH_AUTO_TAG"),
        ("Waiting for auto tag to complete", auto_tag.id, "STASH_AUTO_TAG"),
        ("Checking qBittorrent for new downloads", None, None),
        ("No new downloads, sleeping for 300 seconds", None, None),
    ]
    by_kind = {j.kind: j for j in stash_server.jobs.values()}
    sent = by_kind["identify"].input
    assert sent["sceneIDs"] == new_ids and "paths" not in sent
    assert sent["sources"] == [
        {"source": {"stash_box_endpoint": "https://stashdb.org/graphql"}},
        {"source": {"scraper_id": "builtin_autotag"}},
    ]
    # Stash's saved defaults stay, only the field named in the config changes.
    options = sent["options"]
    assert options["setCoverImage"] is True and options["skipMultipleMatches"] is True
    assert options["fieldOptions"] == [
        {"field": "title", "strategy": "MERGE"},
        {"field": "performers", "strategy": "MERGE", "createMissing": True},
    ]
    assert by_kind["autotag"].input == {
        "paths": [f"{STASH_LIBRARY}/Pack"],
        "performers": ["*"],
        "studios": ["*"],
        "tags": ["*"],
    }
    assert "box-key" not in str(identify.result)  # Stash's stash-box keys are never read


async def test_identify_without_sources_uses_every_stash_box_then_the_auto_tagger(
    engines, qbittorrent: QBittorrentProcess, stash_server, downloads: Path, library: Path
) -> None:
    stash_server.stash_boxes = [
        {"endpoint": "https://stashdb.org/graphql", "api_key": "x", "name": "StashDB"}
    ]
    stash_server.job_script = [("FINISHED", 1.0)]
    services = await start(engines, qbittorrent, stash_server, library, identify_after_import=True)
    qbittorrent.add_completed_torrent(make_pack(downloads, "Pack", {"a.mp4": b"v" * 9000}))
    await services.manager.start(DAEMON)
    await wait_until(lambda: daemon_status(services).startswith("No new downloads"), 30)
    [identify] = [j for j in stash_server.jobs.values() if j.kind == "identify"]
    assert identify.input["sources"] == [
        {"source": {"stash_box_endpoint": "https://stashdb.org/graphql"}},
        {"source": {"scraper_id": "builtin_autotag"}},
    ]
    assert "options" not in identify.input  # nothing saved in Stash, nothing set here
    assert [j.kind for j in stash_server.jobs.values()] == ["scan", "identify"]


async def test_a_failed_scan_is_retried_on_the_next_pass(
    engines, qbittorrent: QBittorrentProcess, stash_server, downloads: Path, library: Path
) -> None:
    stash_server.job_script = [("FINISHED", 1.0)]
    services = await start(engines, qbittorrent, stash_server, library, job_interval_seconds=1)
    stash_server.fail_graphql("scan failed to start", operation="metadataScan", times=1)
    qbittorrent.add_completed_torrent(make_pack(downloads, "Pack", {"a.mp4": b"v" * 9000}))
    await services.manager.start(DAEMON)
    await wait_until(
        lambda: (
            len(
                [
                    j
                    for j in stash_server.jobs.values()
                    if j.kind == "scan" and j.status == "FINISHED"
                ]
            )
            == 1
        ),
        30,
        "the scan, run again",
    )
    await wait_until(lambda: daemon_status(services).startswith("No new downloads"), 30)

    process, failed, retried = await jobs(services)
    assert (failed.type, failed.status) == ("STASH_SCAN", "failed")
    assert "scan failed to start" in failed.error
    assert (retried.type, retried.status) == ("STASH_SCAN", "completed")
    assert retried.metadata["covers"] == [process.id]
    assert retried.metadata["paths"] == failed.metadata["paths"] == [f"{STASH_LIBRARY}/Pack"]
    messages = [m for m, _j, _t in await statuses(services, DAEMON)]
    failure = next(i for i, m in enumerate(messages) if m.startswith("Stash metadata scan failed"))
    assert "retried on the next pass, sleeping for 1 seconds" in messages[failure]
    assert messages[failure + 1 : failure + 3] == [
        "Triggering Stash metadata scan",
        "Waiting for metadata scan to complete",
    ]
    assert stash_server.operations().count("metadataScan") == 2


async def test_a_scan_that_cannot_reach_stash_is_retried_once_stash_is_back(
    engines, qbittorrent: QBittorrentProcess, stash_server, downloads: Path, library: Path
) -> None:
    stash_server.job_script = [("FINISHED", 1.0)]
    services = await start(engines, qbittorrent, stash_server, library, job_interval_seconds=1)
    await in_thread(stash_server.stop)
    qbittorrent.add_completed_torrent(make_pack(downloads, "Pack", {"a.mp4": b"v" * 9000}))
    await services.manager.start(DAEMON)
    await wait_until(
        lambda: "Stash unreachable" in daemon_status(services), 30, "the failed scan in the status"
    )
    assert (library / "Pack" / "a.mp4").exists()  # placed; only Stash's scan is owed
    idle = await wait_until(
        lambda: (s := daemon_status(services)).startswith("No new downloads") and s,
        30,
        "an idle pass while Stash is away",
    )
    assert "Stash metadata scan failed" in idle and "retried on the next pass" in idle
    await in_thread(stash_server.start)
    await wait_until(
        lambda: any(
            j.kind == "scan" and j.status == "FINISHED" for j in stash_server.jobs.values()
        ),
        30,
        "the retried scan",
    )
    await wait_until(
        lambda: daemon_status(services) == "No new downloads, sleeping for 1 seconds",
        30,
        "the note gone once scanned",
    )
    [scene] = stash_server.scenes.values()
    assert scene.files[0].path == f"{STASH_LIBRARY}/Pack/a.mp4"

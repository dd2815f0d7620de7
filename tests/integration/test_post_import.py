"""Torrent post-import actions and how files got into the library, against a real
qbittorrent-nox: the done category, removal after a ratio or seeding time (never before
the files are placed), copies across filesystems reported as such, a destination too full
refused without a partial file, and sample videos skipped."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from stashdesk.downloads.report import describe_downloads, describe_torrent
from stashdesk.jobs.base import JobStatus
from tests.engine_fixtures import wait_until
from tests.integration.downloads_helpers import (
    in_thread,
    make_pack,
    run_process_job,
    settings_for,
    tags,
    tree,
)
from tests.standins.qbittorrent_harness import QBittorrentProcess

DAEMON = "download-processor"


@pytest.fixture
def other_filesystem(downloads: Path):
    """A library folder on another filesystem than the downloads (/dev/shm, a tmpfs)."""
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        pytest.skip("needs a writable /dev/shm (a tmpfs) for a second filesystem")
    folder = Path(tempfile.mkdtemp(prefix="stashdesk-test-", dir="/dev/shm"))
    try:
        if os.stat(folder).st_dev == os.stat(downloads).st_dev:
            pytest.skip("/dev/shm is on the same filesystem as the downloads here")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


async def run_daemon_until_idle(services, **config) -> None:
    await services.manager.set_config(
        DAEMON, {"job_interval_seconds": 300, "scan_after_processing": False, **config}
    )
    await services.manager.start(DAEMON)
    await wait_until(
        lambda: (
            (d := services.manager.handle(DAEMON).instance) is not None
            and (d.status or "").startswith("No new downloads")
        ),
        30,
        "an idle daemon",
    )
    await services.manager.stop(DAEMON)


async def test_placed_torrents_move_to_the_done_category_only_after_placing(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, library: Path
) -> None:
    services = await engines.start(
        settings=settings_for(qbittorrent, library, **{"qbittorrent.done_category": "stash-done"})
    )
    placed = qbittorrent.add_completed_torrent(make_pack(downloads, "Placed"))
    missing = qbittorrent.add_missing_torrent(make_pack(downloads, "Missing"), mode="deleted")
    job = await run_process_job(services)
    assert job.status == JobStatus.COMPLETED, job.error
    info = qbittorrent.torrent(placed)
    assert info["category"] == "stash-done" and tags(qbittorrent, placed) == ["synced"]
    assert (library / "Placed" / "movie.mkv").exists()
    assert qbittorrent.torrent(missing)["category"] == "stash"  # not placed: not moved
    [entry] = [t for t in job.result["torrents"] if t["hash"] == placed]
    assert entry["post_import"] == ["moved to category stash-done"]
    assert entry["summary"].endswith("; moved to category stash-done")


async def test_a_torrent_placed_before_the_setting_is_moved_by_the_next_pass(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, library: Path
) -> None:
    services = await engines.start(settings=settings_for(qbittorrent, library))
    torrent = qbittorrent.add_completed_torrent(make_pack(downloads, "Pack"))
    assert (await run_process_job(services)).status == JobStatus.COMPLETED
    assert qbittorrent.torrent(torrent)["category"] == "stash"
    await services.store.write(
        lambda: services.settings.set("qbittorrent.done_category", "imported")
    )
    await run_daemon_until_idle(services)
    assert (await in_thread(qbittorrent.torrent, torrent))["category"] == "imported"


async def test_removal_after_the_ratio_keeps_the_files_and_never_comes_before_placing(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, library: Path
) -> None:
    services = await engines.start(
        settings=settings_for(qbittorrent, library, **{"downloads.remove_after_ratio": 0})
    )  # reached at once
    pack = make_pack(downloads, "Pack")
    placed = qbittorrent.add_completed_torrent(pack)
    # Tagged as processed by someone else, never placed by StashDesk: must stay.
    foreign = qbittorrent.add_completed_torrent(make_pack(downloads, "Foreign"), tags=["synced"])
    await run_daemon_until_idle(services)
    assert await in_thread(qbittorrent.torrent, placed) is None  # removed from qBittorrent
    assert (library / "Pack" / "movie.mkv").read_bytes() == (pack / "movie.mkv").read_bytes()
    assert (pack / "movie.mkv").exists()  # its own files too: delete_files is never asked
    assert await in_thread(qbittorrent.torrent, foreign) is not None
    logs = [m for _l, m in await _logs(services)]
    assert any(
        m.startswith(
            "Pack: removed from qBittorrent, files kept (ratio 0.00 reached "
            "downloads.remove_after_ratio (0))"
        )
        for m in logs
    ), logs
    assert any(
        m.startswith("Foreign: not removed from qBittorrent: ratio 0.00 reached")
        and "not in the library" in m
        for m in logs
    ), logs


async def test_removal_after_seeding_time_and_not_before(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, library: Path
) -> None:
    services = await engines.start(
        settings=settings_for(qbittorrent, library, **{"downloads.remove_after_hours": 1})
    )
    torrent = qbittorrent.add_completed_torrent(make_pack(downloads, "Pack"))
    await run_daemon_until_idle(services)
    assert (library / "Pack" / "movie.mkv").exists()
    assert await in_thread(qbittorrent.torrent, torrent) is not None  # seeded < 1 h
    # qBittorrent refreshes seeding_time only when a torrent's status changes (an idle
    # seed keeps its first value), so the limit is lowered to what it reports.
    seeded = (await in_thread(qbittorrent.torrent, torrent))["seeding_time"]
    hours = seeded / 3600
    await services.store.write(lambda: services.settings.set("downloads.remove_after_hours", hours))
    await run_daemon_until_idle(services)
    assert await in_thread(qbittorrent.torrent, torrent) is None
    assert (library / "Pack" / "movie.mkv").exists()
    logs = [m for _l, m in await _logs(services)]
    assert any(
        m.startswith(
            f"Pack: removed from qBittorrent, files kept (seeded {hours:.2f} h, "
            f"reached downloads.remove_after_hours"
        )
        for m in logs
    ), logs


async def test_a_copy_across_filesystems_is_reported_as_such(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, other_filesystem: Path, library: Path
) -> None:
    services = await engines.start(
        settings=settings_for(qbittorrent, other_filesystem, **{"downloads.min_free_gb": 0})
    )
    qbittorrent.add_completed_torrent(make_pack(downloads, "Copied", {"a.mkv": os.urandom(60_000)}))
    job = await run_process_job(services)
    [entry] = job.result["torrents"]
    assert entry["method"] == "copy" and entry["copy_kind"] == "cross_filesystem"
    assert entry["why_copied"].startswith("another filesystem")
    assert entry["bytes_copied"] == 60_000
    assert entry["summary"] == (
        "Copied: 1 file copied (another filesystem: the library and "
        "the download are on different disks), 58.6 KB"
    )
    assert job.result["summary"] == "1 torrent(s) placed, 1 copied (another filesystem)"
    assert (
        job.message == "Placed 1 file from 1 torrent (0 hard-linked, 1 copied: another filesystem)"
    )
    assert describe_torrent(entry) == entry["summary"]
    assert describe_downloads(job.result) == job.result["summary"]

    await engines.engine.stop()  # one engine per data folder: the next one links
    services2 = await engines.start(settings=settings_for(qbittorrent, library))
    qbittorrent.add_completed_torrent(make_pack(downloads, "Linked", {"b.mkv": b"b" * 500}))
    linked = await run_process_job(services2)
    [entry] = linked.result["torrents"]
    assert entry["method"] == "hardlink" and entry["why_copied"] is None
    assert entry["summary"] == "Linked: 1 file hard-linked"


async def test_a_destination_too_full_is_refused_without_a_partial_file(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, other_filesystem: Path
) -> None:
    services = await engines.start(
        settings=settings_for(qbittorrent, other_filesystem, **{"downloads.min_free_gb": 1_000_000})
    )
    torrent = qbittorrent.add_completed_torrent(
        make_pack(downloads, "Big", {"a.mkv": os.urandom(200_000), "b.mkv": os.urandom(100_000)})
    )
    job = await run_process_job(services)
    assert job.status == JobStatus.COMPLETED
    assert tags(qbittorrent, torrent) == ["error_syncing"]
    [failure] = job.result["failures"]
    assert failure["reason"].startswith(
        "not enough free space to copy it into the library: it needs 0.00 GB"
    )
    assert "downloads.min_free_gb keeps 1000000.00 GB free" in failure["reason"]
    assert tree(other_filesystem) == []  # no file, no temporary, no empty folder
    assert job.result["files_copied"] == 0


async def test_sample_videos_are_skipped(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, library: Path
) -> None:
    services = await engines.start(settings=settings_for(qbittorrent, library))
    qbittorrent.add_completed_torrent(
        make_pack(
            downloads,
            "Release",
            {
                "Release.mkv": os.urandom(30_000),
                "Sample/release-sample.mkv": os.urandom(3000),
                "release.sample.mp4": os.urandom(3000),
                "Samples/cover.jpg": b"j" * 200,
                "resample.mkv": os.urandom(3000),
            },
        )
    )
    job = await run_process_job(services)
    assert tree(library) == [
        "Release",
        "Release/Release.mkv",
        "Release/Samples",
        "Release/Samples/cover.jpg",
        "Release/resample.mkv",
    ]
    skipped = {s["file"]: s["reason"] for s in job.result["skipped_files"]}
    assert set(skipped) == {"Release/Sample/release-sample.mkv", "Release/release.sample.mp4"}
    assert all("downloads.skip_samples" in r for r in skipped.values())

    await services.store.write(lambda: services.settings.set("downloads.sample_max_mb", 0.001))
    qbittorrent.add_completed_torrent(
        make_pack(
            downloads,
            "Other",
            {"Other.mkv": os.urandom(3000), "other-sample.mkv": os.urandom(3000)},
        )
    )
    job = await run_process_job(services)
    assert "Other/other-sample.mkv" in tree(library)  # 3 KB is above the 1 KB limit


async def _logs(services) -> list[tuple[str, str]]:
    from tests.integration.stash_helpers import logs

    return await logs(services, DAEMON)

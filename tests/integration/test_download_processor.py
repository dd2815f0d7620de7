"""The Download Processor daemon against a real qbittorrent-nox (and the Stash stand-in)."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from pathlib import Path

import pytest

from stashdesk.jobs import process_downloads
from stashdesk.jobs.base import JobInfo, JobStatus, JobType
from stashdesk.store.models import DaemonJobAction, DaemonLog, Job, Setting
from tests.engine_fixtures import wait_until
from tests.integration.downloads_helpers import (
    in_thread,
    make_pack,
    settings_for,
    statuses,
    tags,
    tree,
    write,
)
from tests.standins.qbittorrent_harness import QBittorrentProcess

pytestmark = pytest.mark.qbittorrent

DAEMON = "download-processor"


async def start_daemon(services, **config) -> None:
    await services.manager.set_config(
        DAEMON, {"job_interval_seconds": 1, "scan_after_processing": False, **config}
    )
    await services.manager.start(DAEMON)


def daemon(services):
    return services.manager.handle(DAEMON).instance


async def wait_for_status(services, predicate, timeout: float = 20.0, what: str = "status"):
    return await wait_until(
        lambda: (
            (d := daemon(services)) is not None and d.status is not None and predicate(d.status)
        ),
        timeout,
        what,
    )


def assert_never_idle_after_failing_to_look(history: list[tuple]) -> None:
    """'No new downloads' only ever directly follows a check that got an answer."""
    for previous, current in itertools.pairwise(history):
        if current[0].startswith("No new downloads"):
            assert previous[0] == "Checking qBittorrent for new downloads", history


async def test_status_sequence_processes_new_downloads_then_sleeps(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, library: Path
) -> None:
    services = await engines.start(settings=settings_for(qbittorrent, library))
    one = qbittorrent.add_completed_torrent(make_pack(downloads, "One"))
    two = qbittorrent.add_completed_torrent(make_pack(downloads, "Two"))
    await start_daemon(services, job_interval_seconds=300)

    await wait_for_status(services, lambda s: s.startswith("No new downloads"))

    history = await statuses(services, DAEMON)
    [job] = await services.store.read(lambda: list(Job.select()))
    assert job.type == "PROCESS_DOWNLOADS" and job.created_by == DAEMON
    assert job.status == "completed" and job.metadata["hashes"] == sorted(
        [one, two], key={one: "One", two: "Two"}.get
    )
    assert history == [
        ("Checking qBittorrent for new downloads", None, None),
        ("Found 2 new downloads to process", None, None),
        ("Processing 2 downloads", job.id, "PROCESS_DOWNLOADS"),
        ("Waiting for download processing to complete", job.id, "PROCESS_DOWNLOADS"),
        ("Checking qBittorrent for new downloads", None, None),
        ("No new downloads, sleeping for 300 seconds", None, None),
    ]
    assert tags(qbittorrent, one) == tags(qbittorrent, two) == ["synced"]
    assert tree(library)[:2] == ["One", "One/movie.mkv"]


async def test_qbittorrent_stopped_and_started_again_while_the_daemon_runs(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, library: Path
) -> None:
    services = await engines.start(settings=settings_for(qbittorrent, library))
    await start_daemon(services)
    await wait_for_status(services, lambda s: s.startswith("No new downloads"))

    await in_thread(qbittorrent.stop)
    unreachable = (
        f"qBittorrent unreachable at {qbittorrent.url}: connection refused - check "
        f"qbittorrent.url and that its Web UI is enabled - retrying in 1 seconds"
    )
    await wait_for_status(services, lambda s: s == unreachable, what="unreachable status")
    # It keeps trying, and keeps saying why, while qBittorrent is away.
    await wait_until(
        lambda: daemon(services).status == "Checking qBittorrent for new downloads", 10, "a retry"
    )
    await wait_for_status(services, lambda s: s == unreachable, what="unreachable again")

    await in_thread(qbittorrent.start)
    torrent = await in_thread(qbittorrent.add_completed_torrent, make_pack(downloads, "Back"))
    await wait_until(lambda: (library / "Back" / "movie.mkv").exists(), 20, "processing")
    await wait_for_status(services, lambda s: s.startswith("No new downloads"))
    assert await in_thread(tags, qbittorrent, torrent) == ["synced"]

    history = await statuses(services, DAEMON)
    messages = [m for m, _j, _t in history]
    first_failure = messages.index(unreachable)
    assert messages[first_failure - 1] == "Checking qBittorrent for new downloads"
    assert "Found 1 new downloads to process" in messages[first_failure:]
    assert_never_idle_after_failing_to_look(history)
    logs = await services.store.read(lambda: [r.message for r in DaemonLog.select()])
    assert any(m.startswith(f"qBittorrent unreachable at {qbittorrent.url}") for m in logs)


async def test_a_wrong_password_is_named_and_recovered_from(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, library: Path
) -> None:
    services = await engines.start(
        settings=settings_for(qbittorrent, library, **{"qbittorrent.password": "not-the-password"})
    )
    torrent = qbittorrent.add_completed_torrent(make_pack(downloads, "Pack"))
    await start_daemon(services)
    rejected = (
        f"qBittorrent at {qbittorrent.url} rejected the login - check "
        f"qbittorrent.username and qbittorrent.password - retrying in 1 seconds"
    )
    await wait_for_status(services, lambda s: s == rejected, what="login rejected")
    await wait_until(lambda: daemon(services).status.startswith("Checking"), 10, "a retry")
    await wait_for_status(services, lambda s: s == rejected, what="rejected again")
    assert "hunter2" not in rejected and tags(qbittorrent, torrent) == []

    await services.store.write(
        lambda: services.settings.set("qbittorrent.password", qbittorrent.password)
    )
    await wait_until(lambda: (library / "Pack" / "movie.mkv").exists(), 20, "processing")
    await wait_for_status(services, lambda s: s.startswith("No new downloads"))

    history = await statuses(services, DAEMON)
    assert all(
        "No new downloads" not in m
        for m, _j, _t in history[
            : [m for m, _j, _t in history].index("Found 1 new downloads to process")
        ]
    )
    assert_never_idle_after_failing_to_look(history)
    assert await in_thread(tags, qbittorrent, torrent) == ["synced"]


async def test_a_bad_destination_is_said_without_launching_jobs(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, tmp_path: Path
) -> None:
    services = await engines.start(settings=settings_for(qbittorrent, tmp_path / "unmounted"))
    torrent = qbittorrent.add_completed_torrent(make_pack(downloads, "Pack"))
    await start_daemon(services)
    expected = (
        f"downloads.destination {tmp_path / 'unmounted'} does not exist or is not a "
        f"folder (is its disk mounted?) - create it or change downloads.destination "
        f"- retrying in 1 seconds"
    )
    await wait_for_status(services, lambda s: s == expected, what="destination status")
    assert await services.store.read(lambda: Job.select().count()) == 0
    assert tags(qbittorrent, torrent) == []

    (tmp_path / "unmounted").mkdir()
    await wait_until(
        lambda: (tmp_path / "unmounted" / "Pack" / "movie.mkv").exists(),
        20,
        "processing once the folder exists",
    )


async def test_after_a_restart_it_waits_for_its_own_unfinished_job(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, library: Path, monkeypatch
) -> None:
    torrent = qbittorrent.add_completed_torrent(make_pack(downloads, "Pack"))
    services = await engines.start(settings=settings_for(qbittorrent, library))
    await services.manager.set_config(DAEMON, {"scan_after_processing": False})
    # A job this daemon launched just before StashDesk stopped: still pending.
    job = JobInfo(
        id=str(uuid.uuid4()),
        type=JobType.PROCESS_DOWNLOADS,
        status=JobStatus.PENDING,
        metadata={"hashes": [torrent]},
        created_by=DAEMON,
        created_at=time.time(),
    )
    await services.store.write(lambda: Job.insert(**job.as_row()).execute())
    await engines.stop()

    gate = threading.Event()
    real_place = process_downloads.place_torrent

    def held_place(*args, **kwargs):
        assert gate.wait(20), "gate never opened"
        return real_place(*args, **kwargs)

    monkeypatch.setattr(process_downloads, "place_torrent", held_place)
    services = await engines.start()
    await services.manager.start(DAEMON)
    await wait_for_status(services, lambda s: s.startswith("Waiting for download"))
    assert daemon(services).job_id == job.id
    gate.set()
    await wait_for_status(services, lambda s: s.startswith("No new downloads"))

    history = await statuses(services, DAEMON)
    assert history[-3:] == [
        ("Waiting for download processing to complete", job.id, "PROCESS_DOWNLOADS"),
        ("Checking qBittorrent for new downloads", None, None),
        ("No new downloads, sleeping for 300 seconds", None, None),
    ]
    jobs = await services.store.read(lambda: [(j.id, j.status) for j in Job.select()])
    assert jobs == [(job.id, "completed")]
    assert tags(qbittorrent, torrent) == ["synced"]


@pytest.fixture
def fast_stash_polls(monkeypatch) -> None:
    from stashdesk.jobs import stash_follow

    monkeypatch.setattr(stash_follow, "POLL_SECONDS", 0.05)


async def test_a_stash_scan_follows_on_the_folders_as_stash_sees_them(
    engines,
    qbittorrent: QBittorrentProcess,
    stash_server,
    downloads: Path,
    library: Path,
    fast_stash_polls,
) -> None:
    stash_server.job_script = [("RUNNING", 0.5), ("FINISHED", 1.0)]
    services = await engines.start(
        settings=settings_for(
            qbittorrent,
            library,
            **{"stash.url": stash_server.url, "downloads.stash_path": "/data/library"},
        )
    )
    qbittorrent.add_completed_torrent(make_pack(downloads, "Pack"))
    qbittorrent.add_completed_torrent(write(downloads / "Single.mp4", b"v" * 5000))
    qbittorrent.add_completed_torrent(make_pack(downloads, "Gone"), tags=["synced"])
    await start_daemon(services, job_interval_seconds=300, scan_after_processing=True)

    await wait_for_status(services, lambda s: s.startswith("No new downloads"))

    process, scan = await services.store.read(
        lambda: [JobInfo.from_row(j) for j in Job.select().order_by(Job.created_at)]
    )
    assert (process.type, process.status) == ("PROCESS_DOWNLOADS", "completed")
    assert (scan.type, scan.status, scan.parent_id) == ("STASH_SCAN", "completed", process.id)
    assert await statuses(services, DAEMON) == [
        ("Checking qBittorrent for new downloads", None, None),
        ("Found 2 new downloads to process", None, None),
        ("Processing 2 downloads", process.id, "PROCESS_DOWNLOADS"),
        ("Waiting for download processing to complete", process.id, "PROCESS_DOWNLOADS"),
        ("Triggering Stash metadata scan", scan.id, "STASH_SCAN"),
        ("Waiting for metadata scan to complete", scan.id, "STASH_SCAN"),
        ("Checking qBittorrent for new downloads", None, None),
        ("No new downloads, sleeping for 300 seconds", None, None),
    ]
    # Stash was asked to scan exactly what was placed, under its own path for the library.
    [stash_job] = stash_server.jobs.values()
    assert stash_job.kind == "scan" and stash_job.status == "FINISHED"
    assert stash_job.input == {"paths": ["/data/library/Pack", "/data/library/Single.mp4"]}
    assert stash_server.operations().count("metadataScan") == 1
    assert scan.metadata["paths"] == stash_job.input["paths"]
    actions = await services.store.read(
        lambda: [
            (a.job_id, a.action) for a in DaemonJobAction.select().order_by(DaemonJobAction.at)
        ]
    )
    assert actions == [
        (process.id, "LAUNCHED"),
        (process.id, "FINISHED"),
        (scan.id, "LAUNCHED"),
        (scan.id, "FINISHED"),
    ]


async def test_no_scan_when_nothing_was_placed(
    engines, qbittorrent: QBittorrentProcess, stash_server, downloads: Path, library: Path
) -> None:
    services = await engines.start(
        settings=settings_for(qbittorrent, library, **{"stash.url": stash_server.url})
    )
    gone = qbittorrent.add_missing_torrent(make_pack(downloads, "Gone"), mode="deleted")
    await start_daemon(services, job_interval_seconds=300, scan_after_processing=True)
    await wait_for_status(services, lambda s: s.startswith("No new downloads"))
    messages = [m for m, _j, _t in await statuses(services, DAEMON)]
    assert "Triggering Stash metadata scan" not in messages
    assert stash_server.operations() == []
    assert tags(qbittorrent, gone) == ["error_syncing"]
    logs = await services.store.read(lambda: [(r.level, r.message) for r in DaemonLog.select()])
    assert (
        "WARNING",
        f"Gone: not placed, tagged error_syncing: content missing: "
        f"{downloads / 'Gone' / 'movie.mkv'} does not exist (qBittorrent may "
        f"still report the torrent complete until it rechecks it)",
    ) in logs


async def test_a_scan_missed_by_a_stop_right_after_processing_is_launched_after_restart(
    engines,
    qbittorrent: QBittorrentProcess,
    stash_server,
    downloads: Path,
    library: Path,
    fast_stash_polls,
) -> None:
    stash_server.job_script = [("FINISHED", 1.0)]
    settings = settings_for(qbittorrent, library, **{"stash.url": stash_server.url})
    services = await engines.start(settings=settings)
    qbittorrent.add_completed_torrent(make_pack(downloads, "Pack"))
    # Processed by this daemon, then StashDesk stopped before the scan was launched.
    job = await services.runner.submit(JobType.PROCESS_DOWNLOADS, {}, created_by=DAEMON)
    assert (await services.runner.wait(job.id, timeout=30)).status == "completed"
    await engines.stop()

    services = await engines.start()
    await start_daemon(services, job_interval_seconds=300, scan_after_processing=True)
    await wait_for_status(services, lambda s: s.startswith("No new downloads"))
    [scan] = await services.store.read(
        lambda: [JobInfo.from_row(j) for j in Job.select().where(Job.type == "STASH_SCAN")]
    )
    assert scan.parent_id == job.id and scan.status == "completed"
    assert [(m, j) for m, j, _t in await statuses(services, DAEMON)][:3] == [
        ("Triggering Stash metadata scan", scan.id),
        ("Waiting for metadata scan to complete", scan.id),
        ("Checking qBittorrent for new downloads", None),
    ]
    assert [j.input for j in stash_server.jobs.values()] == [{"paths": [str(library / "Pack")]}]


@pytest.mark.parametrize("error_tag", ["error_syncing", "err,again"])
async def test_a_torrent_whose_tags_read_back_differently_is_never_processed_again(
    engines, qbittorrent: QBittorrentProcess, downloads: Path, library: Path, error_tag: str
) -> None:
    services = await engines.start(settings=settings_for(qbittorrent, library))
    # Stored by an older StashDesk, before names with commas were refused.
    await services.store.write(
        lambda: [
            Setting.insert(key=k, value=v).on_conflict_replace().execute()
            for k, v in (
                ("qbittorrent.processed_tag", "done,ok"),
                ("qbittorrent.error_tag", error_tag),
            )
        ]
    )
    await services.store.write(services.settings.reload)
    torrent = qbittorrent.add_completed_torrent(make_pack(downloads, "Pack"))
    await start_daemon(services, job_interval_seconds=1)

    expected = sorted({"done", "ok", *(t.strip() for t in error_tag.split(","))})
    await wait_until(lambda: tags(qbittorrent, torrent) == expected, 30, "the error tag")
    # several more passes: none of them processes it again
    for _ in range(3):
        await wait_for_status(services, lambda s: s == "Checking qBittorrent for new downloads")
        await wait_for_status(services, lambda s: s.startswith("No new downloads"))

    jobs = await services.store.read(lambda: [j.type for j in Job.select()])
    assert jobs == ["PROCESS_DOWNLOADS"]
    await services.store.writer.flush_async()
    warnings = await services.store.read(
        lambda: [r.message for r in DaemonLog.select().where(DaemonLog.level == "WARNING")]
    )
    assert (
        f"Pack was just tagged 'done,ok', but qBittorrent now reports its tags as "
        f"'done', 'ok' - not processing it again; tagged {error_tag!r}. Check "
        f"qbittorrent.processed_tag (qBittorrent splits tags at commas)"
    ) in warnings
    left_alone = [w for w in warnings if "its error tag does not read back either" in w]
    assert len(left_alone) == (1 if "," in error_tag else 0)
    assert tree(library).count("Pack/movie.mkv") == 1

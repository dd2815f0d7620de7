"""kill -9 in the middle of a multi-file copy, then a restart: the next run finishes the work.

StashDesk runs headless in a real subprocess with ``tests.downloads_plugin``:
linking fails with EXDEV (so files are copied) and the second copy pauses after
its first chunk, when a half-written temporary file exists. The test kills the
process there, starts it again without the pause and checks the library.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from tests.cli_helpers import HeadlessProcess, query
from tests.engine_fixtures import EngineFactory
from tests.integration.downloads_helpers import make_pack, settings_for, tags, tree
from tests.standins.qbittorrent_harness import QBittorrentProcess

pytestmark = [pytest.mark.qbittorrent, pytest.mark.slow]

DAEMON = "download-processor"
MiB = 1 << 20


@pytest.fixture
def spawn():
    """Start headless processes; any still running at the end (a failed test) is killed."""
    started: list[HeadlessProcess] = []

    def start(*args, **env) -> HeadlessProcess:
        started.append(HeadlessProcess(*args, **env))
        return started[-1]

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
        process.wait(10)


def statuses(data_dir: Path) -> list[tuple]:
    return query(
        data_dir,
        "SELECT message, job_id, job_type FROM daemon_status WHERE daemon=? ORDER BY at, id",
        (DAEMON,),
    )


def configure(data_dir: Path, settings: dict) -> None:
    """Settings and the enabled daemon, written by an engine that is then stopped."""

    async def write() -> None:
        factory = EngineFactory(data_dir)
        try:
            services = await factory.start(settings=settings, control=False)
            await services.manager.set_enabled(DAEMON, True)
        finally:
            await factory.stop()

    asyncio.run(write())


def test_kill_9_during_a_multi_file_copy_then_restart(
    qbittorrent: QBittorrentProcess, stash_server, spawn, tmp_path: Path, data_dir: Path
) -> None:
    stash_server.job_script = [("RUNNING", 0.5), ("FINISHED", 1.0)]
    downloads = tmp_path / "dl" / "save"
    library = tmp_path / "library"
    library.mkdir()
    files = {
        "part1.mkv": os.urandom(3 * MiB + 11),
        "part2.mkv": os.urandom(3 * MiB + 22),
        "part3.mkv": os.urandom(3 * MiB + 33),
    }
    pack = make_pack(downloads, "Pack", files)
    torrent = qbittorrent.add_completed_torrent(pack)
    untouched = {name: (pack / name).stat().st_mtime_ns for name in files}

    configure(
        data_dir,
        settings_for(
            qbittorrent,
            library,
            **{"stash.url": stash_server.url, "downloads.stash_path": "/stash/library"},
        ),
    )

    gate = tmp_path / "gate"
    gate.mkdir()
    env = {
        "STASHDESK_PLUGINS": "tests.fake_plugins,tests.downloads_plugin",
        "STASHDESK_TEST_FORCE_EXDEV": "1",
    }
    first = spawn(
        data_dir,
        tmp_path / "first.log",
        **env,
        STASHDESK_TEST_COPY_GATE=str(gate),
        STASHDESK_TEST_PAUSE_AT_COPY="2",
    )
    temp = Path(
        first.wait_for(
            lambda: (gate / "paused").exists() and (gate / "paused").read_text(),
            60,
            "the paused copy",
        )
    )
    # Mid-copy: one file complete, the second half-written under its temporary name.
    assert temp.parent == library / "Pack" and temp.name == ".part2.mkv.stashdesk-part"
    assert 0 < temp.stat().st_size < len(files["part2.mkv"])
    assert tree(library) == ["Pack", "Pack/.part2.mkv.stashdesk-part", "Pack/part1.mkv"]
    assert query(data_dir, "SELECT torrent_hash, destination FROM download_journal") == [
        (torrent, str(library / "Pack"))
    ]
    assert tags(qbittorrent, torrent) == []
    [(first_job,)] = query(data_dir, "SELECT id FROM job WHERE status='running'")
    first.kill9()

    second = spawn(data_dir, tmp_path / "second.log", **env)
    second.wait_for(lambda: tags(qbittorrent, torrent) == ["synced"], 60, "the synced tag")
    second.wait_for(
        lambda: (statuses(data_dir) or [("",)])[-1][0].startswith("No new downloads"),
        30,
        "the daemon to go idle",
    )

    # Every file complete, no temporary or partial file, the source untouched.
    assert tree(library) == ["Pack", "Pack/part1.mkv", "Pack/part2.mkv", "Pack/part3.mkv"]
    for name, data in files.items():
        assert (library / "Pack" / name).read_bytes() == data
        assert (pack / name).stat().st_mtime_ns == untouched[name]
        assert (pack / name).stat().st_nlink == 1
    assert tags(qbittorrent, torrent) == ["synced"]  # once, and never the error tag
    assert query(
        data_dir, "SELECT destination, method, size FROM handled_download ORDER BY destination"
    ) == [(str(library / "Pack" / name), "copied", len(data)) for name, data in files.items()]
    assert query(data_dir, "SELECT COUNT(*) FROM download_journal") == [(0,)]

    jobs = query(data_dir, "SELECT id, type, status, result FROM job ORDER BY created_at")
    assert [j[1:3] for j in jobs] == [
        ("PROCESS_DOWNLOADS", "interrupted"),
        ("PROCESS_DOWNLOADS", "completed"),
        ("STASH_SCAN", "completed"),
    ]
    assert jobs[0][0] == first_job
    second_job, scan_job = jobs[1][0], jobs[2][0]
    result = json.loads(jobs[1][3])
    assert result["temp_files_removed"] == 1
    # part1 was already there; part2 and part3 were copied by the second run.
    assert result["files_copied"] == 2 and result["skipped"] == 1
    assert result["torrents_processed"] == 1 and result["failed"] == 0

    history = statuses(data_dir)
    job_steps = [
        ("Checking qBittorrent for new downloads", None, None),
        ("Found 1 new downloads to process", None, None),
    ]
    assert history == [
        *job_steps,
        ("Processing 1 downloads", first_job, "PROCESS_DOWNLOADS"),
        ("Waiting for download processing to complete", first_job, "PROCESS_DOWNLOADS"),
        # killed here; the restarted engine's daemon picks the work up again
        *job_steps,
        ("Processing 1 downloads", second_job, "PROCESS_DOWNLOADS"),
        ("Waiting for download processing to complete", second_job, "PROCESS_DOWNLOADS"),
        ("Triggering Stash metadata scan", scan_job, "STASH_SCAN"),
        ("Waiting for metadata scan to complete", scan_job, "STASH_SCAN"),
        ("Checking qBittorrent for new downloads", None, None),
        ("No new downloads, sleeping for 300 seconds", None, None),
    ]
    # One scan, of the folder just filled, as Stash sees it.
    assert [(j.kind, j.input) for j in stash_server.jobs.values()] == [
        ("scan", {"paths": ["/stash/library/Pack"]})
    ]
    assert second.terminate() == 0

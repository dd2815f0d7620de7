"""Total deadlines: a server that sends its answer one byte every half second keeps
every per-read timeout happy; only a deadline on the whole request ends the wait.

Stash and the video-tag server: their stand-ins' dribbling modes. qBittorrent: a
minimal dribbling Web UI (qbittorrent-api in its worker thread must be freed too).
"""

from __future__ import annotations

import time

import pytest

from stashdesk.clients.errors import (
    QBittorrentUnreachable,
    StashTimedOut,
    VideoTagTimeout,
)
from stashdesk.clients.qbittorrent import QBittorrentClient
from stashdesk.clients.stash import StashClient
from stashdesk.clients.video_tags import VideoTagClient
from stashdesk.store.models import DaemonLog
from tests.engine_fixtures import wait_until
from tests.integration.stash_helpers import start_with_stash
from tests.standins.dribble import DribblingHTTPServer

BYTE_EVERY = 0.5  # seconds: well inside any per-read timeout


async def test_a_dribbling_stash_fails_the_request_at_its_deadline(stash_server) -> None:
    stash_server.dribble(BYTE_EVERY)
    client = StashClient(stash_server.url, timeout=2, retries=2, retry_delay=0.01)
    started = time.monotonic()
    try:
        with pytest.raises(StashTimedOut) as caught:
            await client.count_scenes()
    finally:
        await client.aclose()
    took = time.monotonic() - started
    assert 1.9 < took < 4, took
    assert str(caught.value) == (
        f"Stash at {stash_server.url} did not answer within 2 s - check that Stash is "
        f"running and not overloaded, or raise stash.timeout"
    )
    assert len(stash_server.requests) == 1  # not retried: the request had its time


async def test_the_sync_daemon_reports_a_dribbling_stash_and_recovers(
    engines, stash_server
) -> None:
    stash_server.add_scene("One")
    services = await start_with_stash(engines, stash_server, **{"stash.timeout": 2})
    await services.manager.set_config("stash-sync", {"job_interval_seconds": 1})
    stash_server.dribble(BYTE_EVERY)
    started = time.monotonic()
    await services.manager.start("stash-sync")

    def status() -> str:
        daemon = services.manager.handle("stash-sync").instance
        return (daemon.status or "") if daemon is not None else ""

    failure = await wait_until(
        lambda: "did not answer" in status() and status(),
        timeout=10,
        message="the failure in the status",
    )
    assert time.monotonic() - started < 2 + 3
    assert failure.startswith(
        f"Stash at {stash_server.url} did not answer within 2 s - check "
        f"that Stash is running and not overloaded, or raise "
        f"stash.timeout - retrying in "
    )

    stash_server.clear_faults()
    await wait_until(
        lambda: status().startswith("No pending scenes"), timeout=30, message="recovery"
    )
    await services.store.writer.flush_async()
    warned = await services.store.read(
        lambda: [r.message for r in DaemonLog.select().where(DaemonLog.daemon == "stash-sync")]
    )
    assert any("did not answer within 2 s" in m for m in warned)


async def test_a_dribbling_video_tag_server_is_a_timeout_of_that_video(video_tag_server) -> None:
    video_tag_server.set_result("/data/a.mp4", video_tags={"actions": ["kissing"]})
    video_tag_server.dribble(BYTE_EVERY)
    client = VideoTagClient(video_tag_server.url, timeout=1.5)
    started = time.monotonic()
    try:
        with pytest.raises(VideoTagTimeout, match=r"did not finish /data/a.mp4 within 1.5 s"):
            await client.process_video("/data/a.mp4")
        took = time.monotonic() - started
        assert 1.4 < took < 3.5, took
        video_tag_server.dribble(None)  # the server recovers: so does the client
        result = await client.process_video("/data/a.mp4")
        assert [t.name for t in result.tags] == ["kissing"]
    finally:
        await client.aclose()


@pytest.fixture
def dribbling_webui():
    server = DribblingHTTPServer(
        {
            "/api/v2/auth/login": (
                200,
                b"Ok.",
                "text/plain",
                {"Set-Cookie": "SID=abc; HttpOnly; path=/"},
            ),
            "/api/v2/app/version": (200, b"v5.0.0", "text/plain", {}),
        }
    )
    yield server
    server.stop()


async def test_a_dribbling_qbittorrent_is_cut_at_the_deadline_and_frees_the_worker(
    dribbling_webui,
) -> None:
    dribbling_webui.interval = BYTE_EVERY
    client = QBittorrentClient(dribbling_webui.url, "admin", "pw", timeout=1.5)
    try:
        started = time.monotonic()
        with pytest.raises(QBittorrentUnreachable) as caught:
            await client.version()
        took = time.monotonic() - started
        assert 1.4 < took < 3, took
        assert str(caught.value) == (
            f"qBittorrent at {dribbling_webui.url} did not answer within 1.5 s - check that "
            f"it is running and not overloaded, or raise qbittorrent.timeout"
        )
        # the server is well again: the next call is not stuck behind the cut one
        dribbling_webui.interval = None
        started = time.monotonic()
        assert await client.version() == "v5.0.0"
        assert time.monotonic() - started < 1.0
    finally:
        await client.aclose()
    assert dribbling_webui.requests[0] == "/api/v2/auth/login"

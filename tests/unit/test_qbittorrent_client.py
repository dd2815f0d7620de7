"""QBittorrentClient against a real qbittorrent-nox on 127.0.0.1."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from stashdesk.clients.errors import QBittorrentLoginRejected, QBittorrentUnreachable
from stashdesk.clients.qbittorrent import QBittorrentClient


@pytest.fixture
async def client(qbittorrent):
    c = QBittorrentClient(qbittorrent.url, qbittorrent.username, qbittorrent.password, timeout=5)
    yield c
    await c.aclose()


async def test_completed_torrents_and_tags(client, qbittorrent, tmp_path: Path) -> None:
    content = tmp_path / "downloads" / "movie.mkv"
    content.parent.mkdir()
    content.write_bytes(b"x" * 50_000)
    torrent_hash = qbittorrent.add_completed_torrent(content, category="stash")
    other = tmp_path / "downloads" / "other.mkv"
    other.write_bytes(b"y" * 1000)
    qbittorrent.add_completed_torrent(other, category="music")

    torrents = await client.completed_torrents("stash")
    assert [t.hash for t in torrents] == [torrent_hash]
    torrent = torrents[0]
    assert torrent.name == "movie.mkv" and torrent.progress == 1.0
    assert Path(torrent.content_path) == content and torrent.size == 50_000
    files = await client.torrent_files(torrent_hash)
    assert [(f.name, f.size) for f in files] == [("movie.mkv", 50_000)]
    await client.add_tags(torrent_hash, ["synced"])
    assert (await client.torrent(torrent_hash)).tags == ("synced",)


async def test_calls_run_on_the_worker_thread_not_the_loop(client, monkeypatch) -> None:
    seen = []
    original = client._api.app_version

    def spy(*args, **kwargs):
        seen.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(client._api, "app_version", spy)
    assert (await client.version()).startswith("v4.")
    assert seen and seen[0].startswith("stashdesk-qbt")


async def test_logs_in_again_after_the_session_expired(client, qbittorrent) -> None:
    await client.version()
    qbittorrent.restart()  # a restart forgets every session
    assert (await client.version()).startswith("v4.")


async def test_wrong_password_names_the_settings(qbittorrent) -> None:
    client = QBittorrentClient(qbittorrent.url, "admin", "wrong", timeout=5)
    try:
        with pytest.raises(QBittorrentLoginRejected) as caught:
            await client.version()
    finally:
        await client.aclose()
    assert str(caught.value) == (
        f"qBittorrent at {qbittorrent.url} rejected the login - check qbittorrent.username "
        f"and qbittorrent.password"
    )


async def test_unreachable_says_where_and_why(qbittorrent) -> None:
    url = qbittorrent.url
    qbittorrent.stop()
    client = QBittorrentClient(url, "admin", "adminadmin", timeout=5)
    try:
        with pytest.raises(QBittorrentUnreachable) as caught:
            await client.completed_torrents("stash")
    finally:
        await client.aclose()
    assert f"qBittorrent unreachable at {url}: connection refused" in str(caught.value)

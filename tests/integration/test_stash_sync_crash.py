"""kill -9 in the middle of a SYNC, then a restart: nothing stored is lost or half-written,
the watermark matches what was stored, and the next run brings in the rest."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.cli_helpers import HeadlessProcess, query
from tests.engine_fixtures import EngineFactory

pytestmark = [pytest.mark.slow]

DAEMON = "stash-sync"


def configure(data_dir: Path, url: str) -> None:
    async def write() -> None:
        factory = EngineFactory(data_dir)
        try:
            services = await factory.start(settings={"stash.url": url}, control=False)
            await services.manager.set_enabled(DAEMON, True)
        finally:
            await factory.stop()

    asyncio.run(write())


def stored(data_dir: Path) -> tuple[int, str | None, str | None]:
    """(scenes, newest updated_at stored, the watermark) as another process reads them."""
    scenes = query(data_dir, "SELECT count(*), max(updated_at) FROM scene")
    mark = query(data_dir, "SELECT value FROM setting WHERE key = 'sync.watermark'")
    value = json.loads(mark[0][0])["updated_at"] if mark else None
    return (scenes[0][0], scenes[0][1], value) if scenes else (0, None, value)


def test_kill_9_during_a_sync_then_restart(stash_server, tmp_path: Path) -> None:
    stash_server.freeze_time("2026-03-01T10:00:00")
    ids = []
    for i in range(1500):
        ids.append(
            stash_server.add_scene(
                f"Scene {i}", tags=[f"Tag {i % 7}"], performers=[f"Performer {i % 5}"]
            )
        )
        if i % 2:
            stash_server.advance(1)
    stash_server.slow(0.25, operation="FindScenes")  # each page takes a while
    data_dir = tmp_path / "data"
    configure(data_dir, stash_server.url)

    first = HeadlessProcess(data_dir, tmp_path / "first.log")
    try:
        first.wait_for(
            lambda: stored(data_dir)[0] >= 500, timeout=60, what="part of the library stored"
        )
    finally:
        first.kill9()
    count, newest, mark = stored(data_dir)
    assert 500 <= count < 1500
    assert mark == newest  # the watermark moved with each page, in the page's transaction
    files = query(data_dir, "SELECT count(*) FROM scene_file")[0][0]
    tags = query(data_dir, "SELECT count(*) FROM scene_tag")[0][0]
    assert files == tags == count  # no scene without its rows

    stash_server.clear_faults()
    second = HeadlessProcess(data_dir, tmp_path / "second.log")
    try:
        second.wait_for(
            lambda: stored(data_dir)[0] == 1500, timeout=60, what="the rest of the library"
        )
        second.wait_for(
            lambda: query(data_dir, "SELECT count(*) FROM scene_tag")[0][0] == 1500,
            timeout=30,
            what="every scene's tags",
        )
    finally:
        assert second.terminate() == 0
    assert {row[0] for row in query(data_dir, "SELECT id FROM scene")} == set(ids)
    assert stored(data_dir)[2] == stash_server.scenes[ids[-1]].updated_at

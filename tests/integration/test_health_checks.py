"""Each health check failing and passing, against the stand-ins and a real qBittorrent;
the monitor's notifications; ``stashdesk health``."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from stashdesk import health
from stashdesk.events import Notification
from stashdesk.store.models import Scene, SceneFile
from tests.cli_helpers import free_port, run_cli
from tests.integration.downloads_helpers import settings_for


def by_check(results: list[health.CheckResult]) -> dict[str, health.CheckResult]:
    return {r.check: r for r in results}


async def checks(services) -> dict[str, health.CheckResult]:
    return by_check(await health.run_checks(services))


async def set_settings(services, **values) -> None:
    await services.store.write(
        lambda: [services.settings.set(k.replace("__", "."), v) for k, v in values.items()]
    )


async def test_stash_checks(engines, stash_server, tmp_path: Path) -> None:
    services = await engines.start(
        settings={"stash.url": stash_server.url, "downloads.destination": "/data/new"}
    )
    found = await checks(services)
    assert [
        found[c].ok for c in ("stash_reachable", "stash_key", "stash_version", "stash_library")
    ] == [True, True, True, True]
    assert "v0.28.1" in found["stash_version"].message

    stash_server.configuration["general"]["stashes"] = [
        {"path": "/media/other", "excludeVideo": False}
    ]
    library = (await checks(services))["stash_library"]
    assert library.ok is False and library.setting == "downloads.stash_path"
    assert "/media/other" in library.message and "/data/new" in library.message
    await set_settings(services, downloads__stash_path="/media/other/new")
    assert (await checks(services))["stash_library"].ok is True

    stash_server.version_info = {"version": "v0.20.2", "hash": "x", "build_time": "x"}
    version = (await checks(services))["stash_version"]
    assert version.ok is False and "Upgrade Stash" in version.remedy

    stash_server.api_key = "right"
    await set_settings(services, stash__api_key="wrong")
    found = await checks(services)
    assert found["stash_reachable"].ok and found["stash_key"].ok is False
    assert found["stash_key"].setting == "stash.api_key" and found["stash_version"].ok is None

    stash_server.stop()
    found = await checks(services)
    assert found["stash_reachable"].ok is False and found["stash_reachable"].setting == "stash.url"


async def test_qbittorrent_checks(engines, qbittorrent, tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    services = await engines.start(settings=settings_for(qbittorrent, library))
    found = await checks(services)
    assert found["qbittorrent_reachable"].ok and found["qbittorrent_login"].ok
    category = found["qbittorrent_category"]
    assert category.ok is False and category.setting == "qbittorrent.category"
    await services.qbittorrent()._call(
        services.qbittorrent()._api.torrents_create_category,
        name="stash",
        save_path=str(tmp_path / "downloads"),
    )
    (tmp_path / "downloads").mkdir()
    found = await checks(services)
    assert found["qbittorrent_category"].ok is True
    assert found["same_filesystem"].ok is True and "hard-linked" in found["same_filesystem"].message

    await set_settings(services, qbittorrent__password="wrong")
    login = (await checks(services))["qbittorrent_login"]
    assert login.ok is False and login.setting == "qbittorrent.password"
    await set_settings(services, qbittorrent__url=f"http://127.0.0.1:{free_port()}")
    reach = (await checks(services))["qbittorrent_reachable"]
    assert reach.ok is False and reach.setting == "qbittorrent.url"


@pytest.mark.skipif(not os.access("/dev/shm", os.W_OK), reason="needs a writable /dev/shm")
def test_folders_on_two_filesystems_are_reported(tmp_path: Path) -> None:
    from stashdesk.settings import Settings

    shm = Path(tempfile.mkdtemp(prefix="stashdesk-test-", dir="/dev/shm"))
    try:
        if shm.stat().st_dev == tmp_path.stat().st_dev:
            pytest.skip("/dev/shm is on the same filesystem here")
        settings = Settings.__new__(Settings)
        settings._values = {"downloads.destination": str(tmp_path)}
        result = health._same_filesystem(settings, str(shm))
        assert result.ok is False and "copied, not hard-linked" in result.message
    finally:
        shutil.rmtree(shm)


async def test_video_tag_server_check(engines, video_tag_server) -> None:
    services = await engines.start(settings={"analysis.video_server_url": video_tag_server.url})
    assert (await checks(services))["video_tag_server"].ok is True
    await set_settings(services, analysis__video_server_url=f"http://127.0.0.1:{free_port()}")
    failing = (await checks(services))["video_tag_server"]
    assert failing.ok is False and failing.setting == "analysis.video_server_url"


async def test_destination_space_path_maps_ffprobe_and_keyring(
    engines, tmp_path: Path, monkeypatch
) -> None:
    services = await engines.start(
        settings={
            "downloads.destination": str(tmp_path / "missing"),
            "analysis.video_server_url": "http://127.0.0.1:9",
            "analysis.path_map": [f"/data={tmp_path / 'media'}", "/gone=/nowhere"],
            "downloads.min_duration_seconds": 60,
        }
    )
    found = await checks(services)
    assert found["destination_writable"].ok is False
    assert found["destination_writable"].setting == "downloads.destination"
    (tmp_path / "missing").mkdir()
    found = await checks(services)
    assert found["destination_writable"].ok and found["free_space"].ok
    await set_settings(services, downloads__min_free_gb=1_000_000)  # more than any disk has
    low = (await checks(services))["free_space"]
    assert low.ok is False and "under 1e+06 GB" in low.message

    await services.store.write(
        lambda: (
            Scene.create(id="1", title="One"),
            SceneFile.create(id="f1", scene="1", path="/data/videos/one.mp4"),
        )
    )
    (tmp_path / "media" / "videos").mkdir(parents=True)
    (tmp_path / "media" / "videos" / "one.mp4").write_bytes(b"x")
    found = await checks(services)
    assert found["path_map:/data"].ok is True
    assert found["path_map:/gone"].ok is None  # no synced scene lies under it
    (tmp_path / "media" / "videos" / "one.mp4").unlink()
    assert (await checks(services))["path_map:/data"].ok is False

    assert found["ffprobe"].ok is (shutil.which("ffprobe") is not None)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert (await checks(services))["ffprobe"].ok is False
    assert found["keyring"].ok is True


async def test_the_monitor_tells_of_a_new_failure_and_its_recovery(engines, stash_server) -> None:
    services = await engines.start(settings={"stash.url": stash_server.url})
    heard: list[Notification] = []
    services.bus.listen(heard.append, Notification)
    monitor = engines.engine.health
    await monitor.run()
    assert heard == []  # all well
    stash_server.stop()
    await monitor.run()
    await monitor.run()  # still failing: said once
    assert [n.kind for n in heard] == ["health_failed"]
    assert heard[0].failure and "stash_reachable" in heard[0].title
    stash_server.start()
    await monitor.run()
    assert [n.kind for n in heard] == ["health_failed", "health_recovered"]
    answer = await engines.engine.ops.health()
    assert answer["failing"] == 0 and answer["checks"][0]["check"] == "stash_reachable"


def test_the_health_command(tmp_path: Path, stash_server) -> None:
    data_dir = tmp_path / "data"
    run_cli(data_dir, "config", "set", "stash.url", stash_server.url)
    done = run_cli(data_dir, "health", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(done.stdout)
    assert set(rows[0]) == {"check", "ok", "message", "remedy", "setting"}
    stash_server.stop()
    failing = run_cli(data_dir, "health")
    assert failing.returncode == 1 and "Check stash.url" in failing.stdout

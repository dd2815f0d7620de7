"""Health checks, like Sonarr's System > Health: what is wrong, and how to fix it.

Each check answers ``ok`` (True), failing (False) or not checked (None: it does not
apply, or an earlier check failed), with a message, a one-line remedy and the
setting concerned. The engine runs them at start-up, every six hours and shortly
after a setting changes (``HealthMonitor``); a check that starts failing, and its
recovery, become notifications. ``stashdesk health`` and ``GET /api/v1/health``
show them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from stashdesk.clients.errors import (
    QBittorrentLoginRejected,
    QBittorrentUnreachable,
    ServiceError,
    StashAuthRejected,
    StashUnreachable,
)
from stashdesk.events import HealthChecked, SettingsChanged

if TYPE_CHECKING:
    from stashdesk.app import Services

log = logging.getLogger(__name__)

CHECK_TIMEOUT = 15.0  # seconds for each service
PERIOD = 6 * 3600.0
AFTER_SETTINGS_CHANGE = 3.0  # seconds of quiet before re-checking after edits
MIN_STASH_VERSION = (0, 25, 0)


@dataclass(frozen=True)
class CheckResult:
    check: str
    ok: bool | None
    message: str
    remedy: str | None = None
    setting: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "ok": self.ok,
            "message": self.message,
            "remedy": self.remedy,
            "setting": self.setting,
        }


def _fail(check: str, message: str, remedy: str, setting: str | None = None) -> CheckResult:
    return CheckResult(check, False, message, remedy, setting)


def _skip(check: str, message: str) -> CheckResult:
    return CheckResult(check, None, message)


def parse_version(text: str) -> tuple[int, ...] | None:
    digits = text.strip().lstrip("vV").split("-")[0].split(".")
    try:
        return tuple(int(d) for d in digits[:3])
    except ValueError:
        return None


def _in_use(services: Services, daemon: str, *settings: str) -> bool:
    """A service matters when a daemon that needs it is enabled or it was configured."""
    handle = services.manager.handles.get(daemon)
    return bool(handle and handle.enabled) or any(services.settings.is_set(s) for s in settings)


async def check_stash(services: Services) -> list[CheckResult]:
    settings = services.settings
    url = settings.get("stash.url")
    client = services.stash()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            version = await client.version()
            libraries = await client.library_paths()
    except StashUnreachable as exc:
        return [
            _fail(
                "stash_reachable",
                str(exc),
                "Check stash.url and that Stash is running",
                "stash.url",
            ),
            _skip("stash_key", "not checked: Stash did not answer"),
            _skip("stash_version", "not checked: Stash did not answer"),
            _skip("stash_library", "not checked: Stash did not answer"),
        ]
    except StashAuthRejected as exc:
        return [
            CheckResult("stash_reachable", True, f"Stash answers at {url}"),
            _fail(
                "stash_key",
                str(exc),
                "Copy the API key from Stash's Settings > Security into stash.api_key",
                "stash.api_key",
            ),
            _skip("stash_version", "not checked: Stash refused the key"),
            _skip("stash_library", "not checked: Stash refused the key"),
        ]
    except (ServiceError, TimeoutError) as exc:
        text = str(exc) or f"no answer within {CHECK_TIMEOUT:g} s"
        return [
            _fail(
                "stash_reachable",
                text,
                "Check Stash's log; StashDesk retries by itself",
                "stash.url",
            )
        ]
    results = [
        CheckResult("stash_reachable", True, f"Stash answers at {url}"),
        CheckResult(
            "stash_key",
            True,
            "Stash accepts the API key"
            if settings.get("stash.api_key")
            else "Stash needs no API key",
        ),
    ]
    parsed = parse_version(version)
    wanted = ".".join(map(str, MIN_STASH_VERSION))
    if parsed is not None and parsed < MIN_STASH_VERSION:
        results.append(
            _fail(
                "stash_version",
                f"Stash {version} is older than {wanted}",
                f"Upgrade Stash to v{wanted} or newer",
            )
        )
    else:
        results.append(CheckResult("stash_version", True, f"Stash {version}"))
    results.append(_library_check(settings, libraries))
    return results


def _library_check(settings: Any, libraries: list[str]) -> CheckResult:
    folder = settings.get("downloads.stash_path") or settings.get("downloads.destination")
    if not folder:
        return _skip("stash_library", "downloads.destination is not set")
    inside = [
        lib
        for lib in libraries
        if folder.rstrip("/") == lib.rstrip("/") or folder.startswith(lib.rstrip("/") + "/")
    ]
    if inside:
        return CheckResult("stash_library", True, f"{folder} is in Stash's library ({inside[0]})")
    shown = ", ".join(libraries) or "none"
    return _fail(
        "stash_library",
        f"Stash's library folders ({shown}) do not include {folder}, "
        "so its scans would not find the downloads",
        "Add the folder to Stash's Settings > Library, or set downloads.stash_path to "
        "the path Stash sees it under",
        "downloads.stash_path",
    )


async def check_qbittorrent(services: Services) -> list[CheckResult]:
    if not _in_use(services, "download-processor", "qbittorrent.url"):
        return [_skip("qbittorrent_reachable", "not in use (the Download Processor is off)")]
    settings = services.settings
    client = services.qbittorrent()
    category = settings.get("qbittorrent.category")
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            version = await client.version()
            categories = await client.categories()
            default_path = await client.default_save_path()
    except QBittorrentUnreachable as exc:
        return [
            _fail(
                "qbittorrent_reachable",
                str(exc),
                "Check qbittorrent.url and that qBittorrent's Web UI is enabled",
                "qbittorrent.url",
            ),
            _skip("qbittorrent_login", "not checked: qBittorrent did not answer"),
        ]
    except QBittorrentLoginRejected as exc:
        return [
            CheckResult("qbittorrent_reachable", True, "qBittorrent answers"),
            _fail(
                "qbittorrent_login",
                str(exc),
                "Set qbittorrent.username and qbittorrent.password to the Web UI's login",
                "qbittorrent.password",
            ),
        ]
    except (ServiceError, TimeoutError) as exc:
        text = str(exc) or f"no answer within {CHECK_TIMEOUT:g} s"
        return [_fail("qbittorrent_reachable", text, "Check qBittorrent", "qbittorrent.url")]
    results = [
        CheckResult("qbittorrent_reachable", True, f"qBittorrent {version} answers"),
        CheckResult("qbittorrent_login", True, "qBittorrent accepts the login"),
    ]
    if category in categories:
        results.append(
            CheckResult("qbittorrent_category", True, f"qBittorrent has the category {category!r}")
        )
    else:
        results.append(
            _fail(
                "qbittorrent_category",
                f"qBittorrent has no category {category!r}, so no torrent will be processed",
                f"Create the category {category!r} in qBittorrent, or set "
                f"qbittorrent.category to one it has",
                "qbittorrent.category",
            )
        )
    results.append(_same_filesystem(settings, categories.get(category) or default_path))
    return results


def _same_filesystem(settings: Any, download_folder: str) -> CheckResult:
    destination = settings.get("downloads.destination")
    if not destination or not download_folder:
        return _skip("same_filesystem", "not checked: no destination or download folder")
    downloads, library = Path(download_folder), Path(destination)
    if not downloads.exists() or not library.exists():
        return _skip("same_filesystem", f"not checked: {download_folder} is not on this machine")
    if downloads.stat().st_dev == library.stat().st_dev:
        return CheckResult(
            "same_filesystem",
            True,
            f"{download_folder} and {destination} are on one filesystem: files are hard-linked",
        )
    return _fail(
        "same_filesystem",
        f"{download_folder} and {destination} are on different "
        "filesystems: files will be copied, not hard-linked, and take twice the space",
        "Put the library on the filesystem qBittorrent downloads to",
        "downloads.destination",
    )


async def check_video_tags(services: Services) -> list[CheckResult]:
    if not _in_use(services, "video-analysis", "analysis.video_server_url"):
        return [_skip("video_tag_server", "not in use (the Auto Video Analysis is off)")]
    url = services.settings.get("analysis.video_server_url")
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            await services.video_tags().ping()
    except (ServiceError, TimeoutError) as exc:
        return [
            _fail(
                "video_tag_server",
                str(exc) or f"no answer from {url}",
                "Check analysis.video_server_url and that the server runs",
                "analysis.video_server_url",
            )
        ]
    return [CheckResult("video_tag_server", True, f"The video-tag server answers at {url}")]


def check_destination(settings: Any) -> list[CheckResult]:
    """The library folder exists, is writable and has room (blocking: off the loop)."""
    destination = settings.get("downloads.destination")
    if not destination:
        return [_skip("destination_writable", "downloads.destination is not set")]
    folder = Path(destination)
    if not folder.is_dir():
        return [
            _fail(
                "destination_writable",
                f"{folder} does not exist or is not a folder",
                "Create it, or set downloads.destination to the library folder",
                "downloads.destination",
            )
        ]
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".stashdesk-health-"):
            pass
    except OSError as exc:
        return [
            _fail(
                "destination_writable",
                f"cannot write in {folder}: {exc.strerror}",
                "Give StashDesk's user write access to it",
                "downloads.destination",
            )
        ]
    results = [CheckResult("destination_writable", True, f"{folder} is writable")]
    minimum = float(settings.get("downloads.min_free_gb"))
    free_gb = shutil.disk_usage(folder).free / 1e9
    if free_gb < minimum:
        results.append(
            _fail(
                "free_space",
                f"{free_gb:.1f} GB free at {folder}, under {minimum:g} GB",
                "Free some space, or move the library",
                "downloads.destination",
            )
        )
    else:
        results.append(CheckResult("free_space", True, f"{free_gb:.1f} GB free at {folder}"))
    return results


def check_path_maps(settings: Any, sample_paths: list[str]) -> list[CheckResult]:
    """Each path map turns a scene's path into one that exists, where that can be seen:
    when the video-tag server runs on this machine."""
    maps = settings.get("analysis.path_map") or []
    if not maps:
        return []
    host = urlsplit(settings.get("analysis.video_server_url")).hostname or ""
    local = host in ("localhost", "127.0.0.1", "::1")
    results = []
    for pair in maps:
        source, _sep, target = pair.partition("=")
        sample = next((p for p in sample_paths if p.startswith(source)), None)
        name = f"path_map:{source}"
        if sample is None:
            results.append(_skip(name, f"no synced scene lies under {source}"))
        elif not local:
            results.append(_skip(name, "not checked: the video-tag server is on another machine"))
        else:
            mapped = target + sample[len(source) :]
            results.append(
                CheckResult(name, True, f"{sample} becomes {mapped}")
                if os.path.exists(mapped)
                else _fail(
                    name,
                    f"{sample} becomes {mapped}, which does not exist",
                    "Fix the pair in analysis.path_map",
                    "analysis.path_map",
                )
            )
    return results


def check_ffprobe(settings: Any) -> list[CheckResult]:
    if not settings.get("downloads.min_duration_seconds"):
        return []
    from stashdesk.downloads.media import find_ffprobe

    if find_ffprobe():
        return [CheckResult("ffprobe", True, "ffprobe is installed")]
    return [
        _fail(
            "ffprobe",
            "downloads.min_duration_seconds is set but ffprobe is not "
            "installed, so short videos are not skipped",
            "Install ffmpeg (it brings ffprobe), or set the minimum to 0",
            "downloads.min_duration_seconds",
        )
    ]


def check_keyring(services: Services) -> list[CheckResult]:
    secrets = services.settings.secrets
    if secrets.keyring is not None:
        return [CheckResult("keyring", True, "Secrets are kept in the system keyring")]
    desktop = bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS")) and os.name != "nt"
    if desktop and os.environ.get("STASHDESK_NO_KEYRING") != "1":
        return [
            _fail(
                "keyring",
                "This desktop has no usable keyring: secrets are kept in the "
                "owner-only database file",
                "Install and unlock a keyring (GNOME Keyring, KWallet)",
            )
        ]
    return [
        CheckResult(
            "keyring",
            True,
            "Secrets are kept in the owner-only database file (no desktop keyring here)",
        )
    ]


async def run_checks(services: Services) -> list[CheckResult]:
    from stashdesk.store.scenes import sample_scene_paths

    settings = services.settings
    groups = await asyncio.gather(
        check_stash(services), check_qbittorrent(services), check_video_tags(services)
    )
    local = await asyncio.to_thread(check_destination, settings)
    prefixes = [pair.partition("=")[0] for pair in settings.get("analysis.path_map") or []]
    samples = await services.store.read(lambda: sample_scene_paths(prefixes))
    return (
        [r for group in groups for r in group]
        + local
        + check_path_maps(settings, samples)
        + check_ffprobe(settings)
        + check_keyring(services)
    )


class HealthMonitor:
    """Runs the checks when they may have changed, keeps the last results, and tells
    (``HealthChecked`` events; the notifications hear of a new failure and its recovery).

    Attributes:
        results: the last results (empty before the first run).
        checked_at: when they were made.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.results: list[CheckResult] = []
        self.checked_at: float | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._again = asyncio.Event()
        self._unlisten = services.bus.listen(self._on_settings, SettingsChanged)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="health")

    async def stop(self) -> None:
        self._unlisten()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_settings(self, _event: SettingsChanged) -> None:
        self._again.set()

    async def _loop(self) -> None:
        while True:
            try:
                await self.run()
            except Exception:  # a bug in a check must not stop the others for good
                log.exception("health checks failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._again.wait(), PERIOD)
            self._again.clear()
            # Settings are often saved a few at a time: wait for the edits to settle.
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._again.wait(), AFTER_SETTINGS_CHANGE)
                    self._again.clear()
                    continue
                break

    async def run(self) -> list[CheckResult]:
        async with self._lock:
            results = await run_checks(self.services)
            self.results, self.checked_at = results, time.time()
        for result in results:  # the notifications hear of each change (once)
            if result.ok is not None:
                self.services.notifications.report_health(
                    result.check, result.ok, result.message, result.remedy
                )
        self.services.bus.publish(HealthChecked(checks=tuple(r.to_json() for r in results)))
        return results

"""QBittorrentClient: qbittorrent-api moved off the event loop.

qbittorrent-api is synchronous (requests). Every call runs on one dedicated
worker thread (a requests session is not meant to be shared between threads),
with a network timeout plus an overall deadline, and its exceptions become
errors that name the remedy. An expired session is renewed by qbittorrent-api
itself (it logs in again on HTTP 403); a rejected login is reported as such.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import qbittorrentapi

from stashdesk.clients.errors import (
    QBittorrentAnswerError,
    QBittorrentLoginRejected,
    QBittorrentUnreachable,
)
from stashdesk.clients.stash import describe_transport_error

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Torrent:
    hash: str
    name: str
    category: str
    tags: tuple[str, ...]
    state: str
    progress: float
    size: int
    save_path: str
    content_path: str

    @classmethod
    def from_api(cls, info: Any) -> Torrent:
        tags = tuple(t.strip() for t in (info.get("tags") or "").split(",") if t.strip())
        return cls(
            hash=info["hash"],
            name=info.get("name", ""),
            category=info.get("category", ""),
            tags=tags,
            state=info.get("state", ""),
            progress=float(info.get("progress", 0.0)),
            size=int(info.get("size", 0) or 0),
            save_path=info.get("save_path", ""),
            content_path=info.get("content_path", ""),
        )


@dataclass(frozen=True, slots=True)
class TorrentFile:
    name: str  # path relative to the torrent's save_path, as qBittorrent reports it
    size: int
    index: int
    priority: int = 1  # 0: the user chose not to download this file
    progress: float = 1.0


class QBittorrentClient:
    """Async facade over qbittorrent-api for one qBittorrent Web UI."""

    def __init__(self, url: str, username: str, password: str, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.username = username
        self.timeout = timeout
        self._api = qbittorrentapi.Client(
            host=self.url,
            username=username,
            password=password,
            REQUESTS_ARGS={"timeout": (min(timeout, 10.0), timeout)},
            DISABLE_LOGGING_DEBUG_OUTPUT=True,
            VERIFY_WEBUI_CERTIFICATE=True,
        )
        self._logged_in = False
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stashdesk-qbt")

    async def aclose(self) -> None:
        """Log out (best effort) and close the HTTP session and the worker thread."""

        def close() -> None:
            try:
                if self._logged_in:
                    self._api.auth_log_out()
            except qbittorrentapi.APIError:
                pass  # closing anyway
            finally:
                # qbittorrent-api's way of dropping its requests session (else it
                # lingers until garbage collection with its sockets open)
                reset = getattr(self._api, "_trigger_session_initialization", None)
                if reset is not None:
                    reset()

        try:
            await asyncio.wait_for(
                asyncio.get_running_loop().run_in_executor(self._worker, close), 10)
        except TimeoutError:
            pass
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def _call(self, fn: Callable[..., T], *args: Any, login: bool = True,
                    **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()

        def run() -> T:
            if login and not self._logged_in:
                self._api.auth_log_in()
                self._logged_in = True
            return fn(*args, **kwargs)

        future = loop.run_in_executor(self._worker, self._translate_errors, run)
        try:
            # requests has its own timeouts; this deadline also covers a stuck worker
            return await asyncio.wait_for(future, self.timeout * 2 + 5)
        except TimeoutError:
            raise QBittorrentUnreachable(
                f"qBittorrent at {self.url} did not answer within {self.timeout:g} s"
            ) from None

    def _translate_errors(self, run: Callable[[], T]) -> T:
        try:
            return run()
        except qbittorrentapi.LoginFailed:
            self._logged_in = False
            raise QBittorrentLoginRejected(
                f"qBittorrent at {self.url} rejected the login - check qbittorrent.username "
                f"and qbittorrent.password"
            ) from None
        except qbittorrentapi.Forbidden403Error:
            self._logged_in = False
            raise QBittorrentLoginRejected(
                f"qBittorrent at {self.url} refused access (HTTP 403; after too many failed "
                f"logins it bans the address for a while) - check qbittorrent.username and "
                f"qbittorrent.password"
            ) from None
        except qbittorrentapi.HTTPError as exc:
            raise QBittorrentAnswerError(
                f"qBittorrent at {self.url} answered with an error: {exc}"
            ) from None
        except qbittorrentapi.APIConnectionError as exc:
            self._logged_in = False
            raise QBittorrentUnreachable(
                f"qBittorrent unreachable at {self.url}: {describe_transport_error(exc)} - "
                f"check qbittorrent.url and that its Web UI is enabled"
            ) from None

    async def version(self) -> str:
        return str(await self._call(self._api.app_version))

    async def completed_torrents(self, category: str) -> list[Torrent]:
        infos = await self._call(self._api.torrents_info, status_filter="completed",
                                 category=category)
        return [Torrent.from_api(info) for info in infos]

    async def torrent(self, torrent_hash: str) -> Torrent | None:
        infos = await self._call(self._api.torrents_info, torrent_hashes=torrent_hash)
        return Torrent.from_api(infos[0]) if infos else None

    async def torrent_files(self, torrent_hash: str) -> list[TorrentFile]:
        files = await self._call(self._api.torrents_files, torrent_hash=torrent_hash)
        return [
            TorrentFile(name=f["name"], size=int(f.get("size", 0)), index=int(f.get("index", i)),
                        priority=int(f.get("priority", 1)),
                        progress=float(f.get("progress", 1.0)))
            for i, f in enumerate(files)
        ]

    async def add_tags(self, torrent_hash: str, tags: list[str]) -> None:
        await self._call(self._api.torrents_add_tags, tags=tags, torrent_hashes=torrent_hash)

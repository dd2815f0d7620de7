"""QBittorrentClient: qbittorrent-api moved off the event loop.

qbittorrent-api is synchronous (requests). Every call runs on one dedicated
worker thread (a requests session is not meant to be shared between threads),
and its exceptions become errors that name the remedy. An expired session is
renewed by qbittorrent-api itself (it logs in again on HTTP 403); a rejected
login is reported as such.

Each call has a total deadline, ``qbittorrent.timeout`` (a login it needs
included): requests' timeouts bound each read only, so a Web UI sending a byte
every few seconds would hold the worker for ever. When the deadline passes, the
call fails at once and the sockets of this client's connections are shut down
(:class:`_SocketWatch`), which ends the blocked read in the worker thread, so the
next call is not stuck behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import qbittorrentapi
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from stashdesk.clients.errors import (
    QBittorrentAnswerError,
    QBittorrentLoginRejected,
    QBittorrentUnreachable,
)
from stashdesk.clients.stash import describe_transport_error
from stashdesk.urls import basic_auth, mask_url

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
    ratio: float = 0.0
    seeding_time: float = 0.0  # seconds spent seeding (qBittorrent's own count)

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
            ratio=float(info.get("ratio", 0.0) or 0.0),
            seeding_time=float(info.get("seeding_time", 0) or 0),
        )


@dataclass(frozen=True, slots=True)
class TorrentFile:
    name: str  # path relative to the torrent's save_path, as qBittorrent reports it
    size: int
    index: int
    priority: int = 1  # 0: the user chose not to download this file
    progress: float = 1.0

    @classmethod
    def from_api(cls, info: Any, index: int) -> TorrentFile:
        """One entry of qBittorrent's file list (``index``: its place, when not given)."""
        return cls(
            name=info["name"],
            size=int(info.get("size", 0)),
            index=int(info.get("index", index)),
            priority=int(info.get("priority", 1)),
            progress=float(info.get("progress", 1.0)),
        )


class _SocketWatch:
    """The sockets of one client's connections, so a call past its deadline can be cut.

    ``begin(token)`` marks the call now running (worker thread); ``abort(token)`` (any
    thread) shuts down every socket, and any connected later in that same call, but
    only while ``token`` is still the running call: a late abort never cuts the next.
    """

    def __init__(self) -> None:
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._current: object | None = None
        self._aborted = False

    def begin(self, token: object) -> None:
        with self._lock:
            self._current, self._aborted = token, False

    def add(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)
            if self._aborted:
                _shut_down(sock)

    def abort(self, token: object) -> None:
        with self._lock:
            if self._current is not token:
                return
            self._aborted = True
            for sock in list(self._sockets):
                _shut_down(sock)


def _shut_down(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)  # a blocked recv() in another thread returns
    except OSError:
        pass  # already closed


class _WatchedAdapter(HTTPAdapter):
    """requests' adapter whose connections register their sockets with a _SocketWatch."""

    def __init__(self, watch: _SocketWatch, **kwargs: Any) -> None:
        self.watch = watch  # before super().__init__, which builds the pool manager
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        watch = self.watch

        def watched(base: type[HTTPConnection]) -> type[HTTPConnection]:
            def _new_conn(conn: Any) -> socket.socket:
                sock = base._new_conn(conn)  # both HTTP and HTTPS connect through this
                watch.add(sock)
                return sock

            return type(f"Watched{base.__name__}", (base,), {"_new_conn": _new_conn})

        self.poolmanager.pool_classes_by_scheme = {
            "http": type(
                "WatchedHTTPConnectionPool",
                (HTTPConnectionPool,),
                {"ConnectionCls": watched(HTTPConnection)},
            ),
            "https": type(
                "WatchedHTTPSConnectionPool",
                (HTTPSConnectionPool,),
                {"ConnectionCls": watched(HTTPSConnection)},
            ),
        }


class _WatchedApiClient(qbittorrentapi.Client):
    """qbittorrent-api's client with its HTTP session mounted on a _WatchedAdapter
    (qbittorrent-api makes a new session after connection errors: mounted each time)."""

    def __init__(self, *args: Any, socket_watch: _SocketWatch, **kwargs: Any) -> None:
        self._socket_watch = socket_watch
        super().__init__(*args, **kwargs)

    @property
    def _session(self) -> Any:  # qbittorrent-api's hook for its requests session
        session = super()._session
        current = session.get_adapter("http://")
        if not isinstance(current, _WatchedAdapter):
            assert isinstance(current, HTTPAdapter)  # requests mounts one for http://
            adapter = _WatchedAdapter(self._socket_watch, max_retries=current.max_retries)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
        return session


def _category_path(info: Any) -> str:
    """A category's save path from qBittorrent's JSON ({"name": ..., "savePath": ...})."""
    return str((info or {}).get("savePath") or "")


class QBittorrentClient:
    """Async facade over qbittorrent-api for one qBittorrent Web UI."""

    def __init__(self, url: str, username: str, password: str, timeout: float = 30.0) -> None:
        address, proxy_auth = basic_auth(url.rstrip("/"))
        self.url = mask_url(url.rstrip("/"))  # for messages: never the password
        self.username = username
        self.timeout = timeout
        requests_args: dict[str, Any] = {"timeout": (min(timeout, 10.0), timeout)}
        if proxy_auth:  # basic auth of a reverse proxy in front of the Web UI
            requests_args["auth"] = proxy_auth
        self._watch = _SocketWatch()
        self._api = _WatchedApiClient(
            socket_watch=self._watch,
            host=address,
            username=username,
            password=password,
            REQUESTS_ARGS=requests_args,
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
                asyncio.get_running_loop().run_in_executor(self._worker, close), 10
            )
        except TimeoutError:
            pass
        self._worker.shutdown(wait=False, cancel_futures=True)

    async def _call(self, fn: Callable[..., T], *args: Any, login: bool = True, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        token = object()

        def run() -> T:
            self._watch.begin(token)
            if login and not self._logged_in:
                self._api.auth_log_in()
                self._logged_in = True
            return fn(*args, **kwargs)

        future = loop.run_in_executor(self._worker, self._translate_errors, run)
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            self._watch.abort(token)  # frees the worker for the next call
            raise QBittorrentUnreachable(
                f"qBittorrent at {self.url} did not answer within {self.timeout:g} s - check "
                f"that it is running and not overloaded, or raise qbittorrent.timeout"
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

    async def categories(self) -> dict[str, str]:
        """qBittorrent's categories and their save paths ('' for the default)."""
        found = await self._call(self._api.torrents_categories)
        return {name: _category_path(info) for name, info in found.items()}

    async def default_save_path(self) -> str:
        return str(await self._call(self._api.app_default_save_path))

    async def completed_torrents(self, category: str) -> list[Torrent]:
        infos = await self._call(
            self._api.torrents_info, status_filter="completed", category=category
        )
        return [Torrent.from_api(info) for info in infos]

    async def torrent(self, torrent_hash: str) -> Torrent | None:
        infos = await self._call(self._api.torrents_info, torrent_hashes=torrent_hash)
        return Torrent.from_api(infos[0]) if infos else None

    async def torrent_files(self, torrent_hash: str) -> list[TorrentFile]:
        files = await self._call(self._api.torrents_files, torrent_hash=torrent_hash)
        return [TorrentFile.from_api(f, i) for i, f in enumerate(files)]

    async def add_tags(self, torrent_hash: str, tags: list[str]) -> None:
        await self._call(self._api.torrents_add_tags, tags=tags, torrent_hashes=torrent_hash)

    async def tagged_torrents(self, tag: str) -> list[Torrent]:
        """Every torrent carrying ``tag``, whatever its category or state."""
        infos = await self._call(self._api.torrents_info, tag=tag)
        return [Torrent.from_api(info) for info in infos]

    async def set_category(self, torrent_hash: str, category: str) -> None:
        """Move the torrent to ``category``, creating the category when it is missing."""

        def move() -> None:
            try:
                self._api.torrents_set_category(category=category, torrent_hashes=torrent_hash)
            except qbittorrentapi.Conflict409Error:  # no such category yet
                with contextlib.suppress(qbittorrentapi.Conflict409Error):  # made meanwhile
                    self._api.torrents_create_category(name=category)
                self._api.torrents_set_category(category=category, torrent_hashes=torrent_hash)

        await self._call(move)

    async def remove_torrent(self, torrent_hash: str) -> None:
        """Remove the torrent from qBittorrent; its files stay on disk."""
        await self._call(self._api.torrents_delete, delete_files=False, torrent_hashes=torrent_hash)

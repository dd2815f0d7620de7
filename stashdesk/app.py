"""The composition root: ``Services`` wires the engine together; ``Engine`` runs it.

The same Engine runs inside the window (on a qasync loop) and headless (on
``asyncio.run``). Start-up opens the database (migrating it), loads settings,
prunes old history, reconciles jobs left by a previous process, repairs daemon
rows, serves the engine API (``stashdesk.api``) that the CLI, other windows and
other tools use, and auto-starts the enabled daemons. Shutdown is staged: daemons
stop (clearing their status), jobs reach a safe point or are interrupted, the API
closes, the writer is flushed, then everything closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from stashdesk import __version__
from stashdesk.api.engine_file import remove_engine_file, write_engine_file
from stashdesk.clients.qbittorrent import QBittorrentClient
from stashdesk.clients.stash import StashClient
from stashdesk.clients.video_tags import VideoTagClient
from stashdesk.events import EventBus
from stashdesk.health import HealthMonitor
from stashdesk.notifications.center import NotificationCenter
from stashdesk.paths import ensure_data_dir
from stashdesk.redaction import install_log_redaction
from stashdesk.settings import Settings
from stashdesk.store import LARGE_PRUNE_ROWS, Store, prune_history, reclaim_space

log = logging.getLogger(__name__)
C = TypeVar("C")  # a client type

RETENTION_PERIOD = 24 * 3600
PRUNE_BATCH = 20_000  # rows per table per write: other writes wait at most a moment


def load_plugins() -> None:
    """Import the modules that register job types, daemon types and CLI commands.

    ``STASHDESK_PLUGINS`` (comma-separated module names) adds more: the test suite
    uses it to give a headless process its test daemons.
    """
    import importlib
    import os

    modules = ["stashdesk.daemons.registry", "stashdesk.jobs.registry"]
    modules += os.environ.get("STASHDESK_PLUGINS", "").split(",")
    for module in filter(None, (m.strip() for m in modules)):
        importlib.import_module(module)


class Services:
    """Everything a daemon or job needs, built once per engine.

    Attributes:
        data_dir, store, settings, bus, runner, manager.
    """

    def __init__(self, data_dir: Path, *, use_keyring: bool = True) -> None:
        from stashdesk.daemons.manager import DaemonManager
        from stashdesk.jobs.runner import JobRunner

        load_plugins()
        self.data_dir = ensure_data_dir(Path(data_dir))
        self.store = Store(self.data_dir)
        self.settings = Settings(self.data_dir, use_keyring=use_keyring)
        self.bus = EventBus()
        self.runner = JobRunner(self)
        self.manager = DaemonManager(self)
        self.notifications = NotificationCenter(self)
        self._clients: dict[str, tuple[tuple[Any, ...], Any]] = {}
        self._retired: list[Any] = []

    # --- clients, rebuilt when their settings change -------------------------------------

    def _client(self, kind: str, key: tuple[Any, ...], make: Callable[[], C]) -> C:
        current = self._clients.get(kind)
        if current is not None and current[0] == key:
            cached: C = current[1]  # made by an earlier ``make`` of the same kind
            return cached
        if current is not None:
            self._retired.append(current[1])
        client = make()
        self._clients[kind] = (key, client)
        return client

    def stash(self) -> StashClient:
        s = self.settings
        key = (
            s.connection_url("stash.url"),
            s.get("stash.api_key"),
            s.get("stash.timeout"),
            s.get("stash.websocket"),
        )
        return self._client("stash", key, lambda: StashClient(*key[:3], websocket=key[3]))

    def qbittorrent(self) -> QBittorrentClient:
        s = self.settings
        key = (
            s.connection_url("qbittorrent.url"),
            s.get("qbittorrent.username"),
            s.get("qbittorrent.password"),
            s.get("qbittorrent.timeout"),
        )
        return self._client("qbittorrent", key, lambda: QBittorrentClient(*key))

    def video_tags(
        self, url: str | None = None, setting: str = "analysis.video_server_url"
    ) -> VideoTagClient:
        s = self.settings
        key = (
            url or s.connection_url("analysis.video_server_url"),
            s.get("analysis.server_timeout"),
            setting,
        )
        return self._client(f"video_tags {key[0]}", key, lambda: VideoTagClient(*key))

    async def close_clients(self) -> None:
        clients = [c for _key, c in self._clients.values()] + self._retired
        self._clients.clear()
        self._retired.clear()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.aclose()

    def notify(
        self,
        kind: str,
        title: str,
        message: str,
        *,
        failure: bool,
        job_id: str | None = None,
        setting: str | None = None,
    ) -> None:
        """Tell the tray and the notification targets (see NotificationCenter.notify)."""
        self.notifications.notify(
            kind, title, message, failure=failure, job_id=job_id, setting=setting
        )


class EngineAlreadyRunning(RuntimeError):
    pass


class Engine:
    """Runs the services: start-up, the engine API, retention, staged shutdown.

    Attributes:
        services: the Services once started.
        ops: the engine API's Operations (what the in-process client calls).
        api: the ApiServer once listening (None when started with ``control=False``).
        events: the EventLog numbering every bus event for the event stream.
        health: the HealthMonitor running the health checks.
        listen: ``HOST:PORT`` overriding the ``api.listen`` setting (``--listen``).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        use_keyring: bool = True,
        mode: str = "headless",
        listen: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.use_keyring = use_keyring
        self.mode = mode
        self.listen = listen
        self.services: Services | None = None
        self.ops: Any = None
        self.api: Any = None
        self.events: Any = None
        self.health: HealthMonitor | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.started_at: float | None = None

    async def start(
        self,
        *,
        auto_start: bool = True,
        control: bool = True,
        run_leftover_jobs: bool = True,
        health_checks: bool = True,
    ) -> Services:
        """Start the engine. ``control=False`` serves no API and writes no engine.json (a
        self-check, a benchmark). ``run_leftover_jobs=False`` (a short-lived engine such
        as the CLI's) leaves jobs a previous process left pending or running for the next
        full engine instead of running or interrupting them. ``health_checks=False``
        leaves the periodic health checks to be run on demand."""
        from stashdesk.api.event_log import EventLog
        from stashdesk.api.operations import Operations

        if control:
            other = await asyncio.to_thread(find_running_engine, self.data_dir)
            if other is not None:
                raise EngineAlreadyRunning(
                    f"StashDesk is already running on {self.data_dir} (pid {other['pid']}); "
                    f"use `stashdesk daemons ...` to control it, or stop it first"
                )
        # Opening/migrating the file and reading settings block: do it off the loop.
        services = await asyncio.to_thread(Services, self.data_dir, use_keyring=self.use_keyring)
        self.services = services
        services.bus.bind_loop(asyncio.get_running_loop())
        await services.store.write(services.settings.reload)
        install_log_redaction()  # every log handler configured so far masks secrets
        services.store.writer.max_rows_per_daemon = services.settings.get(
            "history.max_rows_per_daemon"
        )
        self.events = EventLog(services.bus)
        self.ops = Operations(services, live=True, info=self.describe)
        await services.notifications.start(announce=self.mode in ("gui", "headless"))
        await services.runner.start(reconcile=run_leftover_jobs)
        await services.manager.load()
        self.started_at = time.time()
        self.health = HealthMonitor(services)
        self.ops.health_monitor = self.health
        if control:
            await self._serve_api()
            if health_checks:  # not for a short-lived engine: it would only slow it
                self.health.start()
        self._spawn(self._retention_loop(), "retention")
        if auto_start:
            await services.manager.auto_start()
        return services

    async def _serve_api(self) -> None:
        from stashdesk.api.server import ApiServer

        assert self.services is not None
        settings = self.services.settings
        await self.services.store.write(lambda: ensure_api_key(settings))
        host, port, tls, cert_path = await asyncio.to_thread(
            api_address, settings, self.data_dir, self.listen
        )
        self.api = ApiServer(
            self.ops,
            self.events,
            lambda: settings.get("api.key"),
            host=host,
            port=port,
            tls=tls,
            cert_path=cert_path,
        )
        await self.api.start()
        await asyncio.to_thread(write_engine_file, self.data_dir, self.describe())

    def describe(self) -> dict[str, Any]:
        """What engine.json and ``GET /api/v1/engine`` say of this engine."""
        from stashdesk.api.address import local_host_for, url_for
        from stashdesk.api.tls import certificate_fingerprint

        info: dict[str, Any] = {
            "pid": os.getpid(),
            "mode": self.mode,
            "version": __version__,
            "started_at": self.started_at,
            "instance": self.events.instance if self.events else None,
        }
        if self.api is not None:
            api = self.api
            info.update(
                {
                    "host": api.host,
                    "port": api.port,
                    "tls": api.tls is not None,
                    "url": url_for(api.scheme, api.host, api.port),
                    "local_url": url_for(api.scheme, local_host_for(api.host), api.port),
                    "fingerprint": (
                        certificate_fingerprint(api.cert_path) if api.tls is not None else None
                    ),
                }
            )
        return info

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def prune_now(self) -> dict[str, int]:
        """Apply the retention, in short writes (other writes go between them)."""
        assert self.services is not None
        services = self.services
        days = float(services.settings.get("history.retention_days"))
        removed: dict[str, int] = {}
        while True:
            step = await services.store.write(lambda: prune_history(days, batch=PRUNE_BATCH))
            for table, count in step.items():
                removed[table] = removed.get(table, 0) + count
            if not any(step.values()):
                break
        if sum(removed.values()) >= LARGE_PRUNE_ROWS:
            await services.store.write(reclaim_space)  # the file shrinks too
        if any(removed.values()):
            log.info("retention (%g days) removed %s", days, removed)
        return removed

    async def _retention_loop(self) -> None:
        # First at start-up, but behind it: a long-closed engine may have months to prune,
        # and the window must not wait for that.
        while True:
            try:
                await self.prune_now()
            except Exception:
                log.exception("pruning old history failed")
            await asyncio.sleep(RETENTION_PERIOD)

    async def stop(self) -> None:
        """Staged shutdown; safe to call twice."""
        services, self.services = self.services, None
        if services is None:
            return
        background = list(self._background)
        for task in background:
            task.cancel()
        # Wait for them to end here, on this loop: a task left to finish later may wake on
        # a loop that has stopped (the window's, at quit).
        await asyncio.gather(*background, return_exceptions=True)
        if self.health is not None:
            await self.health.stop()
        await services.manager.shutdown()
        await services.runner.shutdown()
        await services.notifications.stop()
        if self.api is not None:
            await self.api.stop()
            remove_engine_file(self.data_dir, self.events.instance)
            self.api = None
        if self.events is not None:
            self.events.close()
        await services.close_clients()
        await services.store.writer.flush_async()
        await asyncio.to_thread(services.store.close)
        services.settings.forget_secrets()


def ensure_api_key(settings: Settings) -> str:
    """The API key, made (32 random bytes) when there is none yet. Writer thread only."""
    from stashdesk.api.auth import API_KEY_SETTING, new_api_key

    key: str = settings.get(API_KEY_SETTING) or settings.set(API_KEY_SETTING, new_api_key())
    return key


def api_address(
    settings: Settings, data_dir: Path, listen: str | None
) -> tuple[str, int, Any, Path | None]:
    """(host, port, TLS context, certificate) from ``--listen`` or the api.* settings
    (no TLS: None, None).

    Blocking (may make the certificate): call off the loop. Raises ValueError for an
    address that cannot be used.
    """
    from stashdesk.api.address import is_loopback, parse_listen
    from stashdesk.api.tls import ensure_certificate, server_context

    host, port = parse_listen(listen or settings.get("api.listen"))
    if settings.get("api.tls") != "on" and is_loopback(host):
        return host, port, None, None
    cert, key = settings.get("api.tls_cert"), settings.get("api.tls_key")
    if bool(cert) != bool(key):
        raise ValueError(
            "set both api.tls_cert and api.tls_key, or neither (a self-signed "
            "certificate is then made in the data folder)"
        )
    if cert:
        cert_path, key_path = Path(cert), Path(key)
    else:
        cert_path, key_path = ensure_certificate(data_dir, [host])
    return host, port, server_context(cert_path, key_path), cert_path


def find_running_engine(data_dir: Path) -> dict[str, Any] | None:
    """engine.json, when the engine it names is alive and answers as that engine."""
    from stashdesk.engine_client.discovery import probe_engine

    return probe_engine(data_dir)

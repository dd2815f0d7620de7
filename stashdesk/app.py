"""The composition root: ``Services`` wires the engine together; ``Engine`` runs it.

The same Engine runs inside the window (on a qasync loop) and headless (on
``asyncio.run``). Start-up opens the database (migrating it), loads settings,
prunes old history, reconciles jobs left by a previous process, repairs daemon
rows, auto-starts the enabled daemons and opens the control socket the CLI
talks to. Shutdown is staged: daemons stop (clearing their status), jobs reach
a safe point or are interrupted, the writer is flushed, then everything closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from stashdesk.clients.qbittorrent import QBittorrentClient
from stashdesk.clients.stash import StashClient
from stashdesk.clients.video_tags import VideoTagClient
from stashdesk.control import ControlServer
from stashdesk.events import EventBus, JobFinished, Notification
from stashdesk.paths import ensure_data_dir
from stashdesk.settings import Settings
from stashdesk.store import Store, prune_history

log = logging.getLogger(__name__)

RETENTION_PERIOD = 24 * 3600


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
        self._clients: dict[str, tuple[tuple, Any]] = {}
        self._retired: list[Any] = []

    # --- clients, rebuilt when their settings change -------------------------------------

    def _client(self, kind: str, key: tuple, make: Any) -> Any:
        current = self._clients.get(kind)
        if current is not None and current[0] == key:
            return current[1]
        if current is not None:
            self._retired.append(current[1])
        client = make()
        self._clients[kind] = (key, client)
        return client

    def stash(self) -> StashClient:
        s = self.settings
        key = (s.get("stash.url"), s.get("stash.api_key"), s.get("stash.timeout"))
        return self._client("stash", key, lambda: StashClient(*key))

    def qbittorrent(self) -> QBittorrentClient:
        s = self.settings
        key = (s.get("qbittorrent.url"), s.get("qbittorrent.username"),
               s.get("qbittorrent.password"), s.get("qbittorrent.timeout"))
        return self._client("qbittorrent", key, lambda: QBittorrentClient(*key))

    def video_tags(self) -> VideoTagClient:
        s = self.settings
        key = (s.get("analysis.video_server_url"), s.get("analysis.server_timeout"))
        return self._client("video_tags", key, lambda: VideoTagClient(*key))

    async def close_clients(self) -> None:
        clients = [c for _key, c in self._clients.values()] + self._retired
        self._clients.clear()
        self._retired.clear()
        for client in clients:
            with contextlib.suppress(Exception):
                await client.aclose()

    # --- notifications ------------------------------------------------------------------------

    def notify(self, kind: str, title: str, message: str, *, failure: bool,
               job_id: str | None = None, setting: str | None = None) -> None:
        """Publish a Notification if the user wants this kind.

        ``setting`` is the switch that governs it: by default notifications.on_failure
        for failures and notifications.on_success for the rest.
        """
        setting = setting or ("notifications.on_failure" if failure
                              else "notifications.on_success")
        wanted = self.settings.get(setting)
        level = logging.WARNING if failure else logging.INFO
        log.log(level, "%s: %s", title, message)
        if wanted:
            self.bus.publish(Notification(kind=kind, title=title, message=message,
                                          failure=failure, job_id=job_id))


def _notify_on_job_finished(services: Services, event: JobFinished) -> None:
    result = event.result if isinstance(event.result, dict) else {}
    if event.status == "failed":
        services.notify("job_failed", f"{event.job_type} job failed", event.error or "failed",
                        failure=True, job_id=event.job_id)
    elif event.status == "completed" and event.job_type == "PROCESS_DOWNLOADS":
        placed = int(result.get("files_linked", 0)) + int(result.get("files_copied", 0))
        if placed:
            services.notify("downloads_placed", "Downloads placed in the library",
                            f"{placed} file(s) from {result.get('torrents_processed', 0)} "
                            f"torrent(s)", failure=False, job_id=event.job_id)
    elif event.status == "completed" and event.job_type == "APPLY_PLAN":
        services.notify("plan_applied", "Plan applied",
                        f"{result.get('applied', 0)} change(s) applied, "
                        f"{result.get('skipped', 0)} skipped, {result.get('failed', 0)} failed",
                        failure=False, job_id=event.job_id)


class EngineAlreadyRunning(RuntimeError):
    pass


class Engine:
    """Runs the services: start-up, the control socket, retention, staged shutdown."""

    def __init__(self, data_dir: Path, *, use_keyring: bool = True, mode: str = "headless") -> None:
        self.data_dir = Path(data_dir)
        self.use_keyring = use_keyring
        self.mode = mode
        self.services: Services | None = None
        self.control: ControlServer | None = None
        self._background: set[asyncio.Task] = set()
        self.started_at: float | None = None

    async def start(self, *, auto_start: bool = True, control: bool = True,
                    run_leftover_jobs: bool = True) -> Services:
        """Start the engine. ``run_leftover_jobs=False`` (a short-lived engine such as the
        CLI's) leaves jobs a previous process left pending or running for the next full
        engine instead of running or interrupting them."""
        if control:
            other = ControlServer.find_running(self.data_dir)
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
        await self.prune_now()
        services.bus.listen(lambda e: _notify_on_job_finished(services, e), JobFinished)
        await services.runner.start(reconcile=run_leftover_jobs)
        await services.manager.load()
        if control:
            self.control = ControlServer(services, self.data_dir, mode=self.mode)
            await self.control.start()
        self.started_at = time.time()
        self._spawn(self._retention_loop(), "retention")
        if auto_start:
            await services.manager.auto_start()
        return services

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def prune_now(self) -> dict[str, int]:
        assert self.services is not None
        days = float(self.services.settings.get("history.retention_days"))
        removed = await self.services.store.write(lambda: prune_history(days))
        if any(removed.values()):
            log.info("retention (%g days) removed %s", days, removed)
        return removed

    async def _retention_loop(self) -> None:
        while True:
            await asyncio.sleep(RETENTION_PERIOD)
            try:
                await self.prune_now()
            except Exception:
                log.exception("pruning old history failed")

    async def stop(self) -> None:
        """Staged shutdown; safe to call twice."""
        services, self.services = self.services, None
        if services is None:
            return
        for task in list(self._background):
            task.cancel()
        await services.manager.shutdown()
        await services.runner.shutdown()
        if self.control is not None:
            await self.control.stop()
            self.control = None
        await services.close_clients()
        await services.store.writer.flush_async()
        await asyncio.to_thread(services.store.close)

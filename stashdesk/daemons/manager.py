"""DaemonManager: the registry of daemon types and the supervisor of their tasks.

It starts, stops and restarts daemons, auto-starts the enabled ones, repairs
rows a hard kill left ``running``, records how each launched job ended, and
restarts a crashed daemon with back-off (``daemons.restart_backoff_initial``
doubling up to ``daemons.restart_backoff_max``).

``run_now(name)`` is the card's "Run now" button and ``stashdesk daemons run
NAME``; ``next_check_at(name)`` says when a daemon checks next. ``clock`` is the
clock every daemon it starts reads (tests replace it to jump the time).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from stashdesk.daemons.base import BaseDaemon
from stashdesk.daemons.schedule import SYSTEM_CLOCK, Clock
from stashdesk.events import (
    DaemonConfigChanged,
    DaemonHealthChanged,
    DaemonJobActionTracked,
    DaemonStateChanged,
    DaemonStatusChanged,
    JobFinished,
    SettingsChanged,
)
from stashdesk.jobs.outcomes import final_message
from stashdesk.store.daemons import daemon_row, load_daemon_rows, record_job_action, update_daemon

if TYPE_CHECKING:
    from stashdesk.app import Services

log = logging.getLogger(__name__)

DAEMON_TYPES: dict[str, type[BaseDaemon]] = {}

STOP_TIMEOUT = 5.0
WATCHDOG_PERIOD = 15.0  # seconds between looks for daemons that went quiet


def register_daemon(cls: type[BaseDaemon]) -> type[BaseDaemon]:
    DAEMON_TYPES[cls.name] = cls
    return cls


def daemon_types_in_order() -> list[type[BaseDaemon]]:
    """The registered daemons in display order, whatever order their modules were
    imported in (any module may import one daemon first)."""
    return sorted(DAEMON_TYPES.values(), key=lambda cls: cls.display_order)


class UnknownDaemonError(LookupError):
    def __init__(self, name: str) -> None:
        known = ", ".join(sorted(DAEMON_TYPES)) or "none"
        super().__init__(f"unknown daemon {name!r} (known: {known})")


class DaemonNotRunning(RuntimeError):
    """An action that needs a running daemon (Run now) on one that is not."""


@dataclass
class DaemonHandle:
    """What the manager knows of one daemon, running or not."""

    cls: type[BaseDaemon]
    enabled: bool = False
    auto_start: bool = True
    config: dict[str, Any] = field(default_factory=dict)
    state: str = "stopped"
    last_error: str | None = None
    started_at: float | None = None
    instance: BaseDaemon | None = None
    task: asyncio.Task[None] | None = None
    crashes: int = 0
    recovering: bool = False
    restart_delay: float | None = None  # current back-off after a crash
    health: str = "stopped"  # ok | retrying | error | stalled | stopped
    health_reason: str | None = None
    health_setting: str | None = None
    restart_at: float | None = None  # when a crashed daemon is started again

    @property
    def name(self) -> str:
        return self.cls.name

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


class DaemonManager:
    """Attributes:
    handles: one DaemonHandle per registered daemon type, by name.
    clock: the clock the daemons read (wall and monotonic time).
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = services.store
        self.bus = services.bus
        self.handles: dict[str, DaemonHandle] = {
            cls.name: DaemonHandle(cls) for cls in daemon_types_in_order()
        }
        self._unlisten = [
            self.bus.listen(self._on_job_finished, JobFinished),
            self.bus.listen(self._on_settings_changed, SettingsChanged),
            self.bus.listen(self._on_status, DaemonStatusChanged),
        ]
        self._watchdog: asyncio.Task[None] | None = None
        self.clock: Clock = SYSTEM_CLOCK

    def handle(self, name: str) -> DaemonHandle:
        try:
            return self.handles[name]
        except KeyError:
            raise UnknownDaemonError(name) from None

    # --- start-up ------------------------------------------------------------------------------

    async def load(self) -> list[str]:
        """Create missing rows, repair rows a hard kill left running; returns repaired names."""
        names = list(self.handles)
        defaults = {name: DAEMON_TYPES[name].default_config() for name in names}
        rows, repaired = await self.store.write(lambda: load_daemon_rows(defaults))
        for row in rows:
            h = self.handles[row.name]
            h.enabled, h.auto_start = row.enabled, row.auto_start
            h.config = h.cls.load_config(row.config or {})
            h.last_error = row.last_error
        for name in repaired:
            log.warning(
                "daemon %s was left running by a process that did not stop cleanly; "
                "its row was repaired",
                name,
            )
        return repaired

    async def auto_start(self) -> list[str]:
        started = [h.name for h in self.handles.values() if h.enabled and h.auto_start]
        for name in started:
            await self.start(name)
        return started

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self, name: str) -> None:
        h = self.handle(name)
        if h.running:
            return
        h.crashes = 0
        h.recovering = False
        h.restart_delay = None
        h.started_at = time.time()
        self._set_health(h, "ok")
        await self._set_state(h, "running", started_at=h.started_at)
        h.task = asyncio.get_running_loop().create_task(self._supervise(h), name=f"daemon-{name}")
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.get_running_loop().create_task(
                self._watch(), name="daemon-watchdog"
            )

    async def stop(self, name: str) -> None:
        h = self.handle(name)
        task, instance = h.task, h.instance
        if instance is not None:
            instance.request_stop()
            instance.clear_status()
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_TIMEOUT)
        h.task = None
        h.instance = None
        self._set_health(h, "stopped")
        if h.state != "stopped":
            await self._set_state(h, "stopped")

    async def restart(self, name: str) -> None:
        await self.stop(name)
        await self.start(name)

    async def start_all(self) -> None:
        for name in self.handles:
            await self.start(name)

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(name) for name in self.handles))

    def run_now(self, name: str) -> dict[str, Any]:
        """Have a running daemon check now, ignoring its processing windows for that
        pass; a busy one checks again as soon as its pass ends. Returns what happens,
        for people (``message``) and scripts. Raises DaemonNotRunning."""
        h = self.handle(name)
        title = h.cls.display_name
        if not h.running or h.instance is None:
            raise DaemonNotRunning(
                f"{title} is not running: start it first (stashdesk daemons start {name})"
            )
        if h.state != "running":
            raise DaemonNotRunning(
                f"{title} is restarting after a crash; it checks as soon as "
                f"it is back (in about {self._restart_in(h):g} seconds)"
            )
        instance = h.instance
        busy = instance.phase != "sleeping"
        instance.run_now()
        message = (
            f"{title} is busy ({instance.status}); it checks again as soon as this pass ends"
            if busy
            else f"{title} checks now"
        )
        if instance.config.get("processing_windows"):
            message += ", ignoring its processing windows for that pass"
        return {"name": name, "accepted": True, "busy": busy, "message": message}

    def _restart_in(self, h: DaemonHandle) -> float:
        return max(0.0, round((h.restart_at or self.clock.time()) - self.clock.time()))

    def next_check_at(self, name: str) -> float | None:
        """When the daemon checks next (wall-clock seconds): the end of its sleep (its
        next processing window included), its restart after a crash; None while it is
        working or waiting on a job, and when it is stopped."""
        h = self.handle(name)
        if h.state == "error":
            return h.restart_at
        instance = h.instance if h.running else None
        if instance is None or instance.phase != "sleeping":
            return None
        return instance.wake_at

    async def restart_all(self) -> None:
        await self.stop_all()
        await self.start_all()

    async def shutdown(self) -> None:
        for unlisten in self._unlisten:
            unlisten()
        if self._watchdog is not None:
            self._watchdog.cancel()
        await self.stop_all()

    # --- configuration ----------------------------------------------------------------------------

    async def set_config(self, name: str, updates: dict[str, Any]) -> dict[str, Any]:
        """Validate and save config values; a running daemon sees them from its next pass."""
        h = self.handle(name)
        for key in updates:
            h.cls.option(key)  # unknown keys are an error, not silently dropped
        return await self._save_config(h, h.cls.validate_config({**h.config, **updates}))

    async def reset_config(self, name: str) -> dict[str, Any]:
        h = self.handle(name)
        return await self._save_config(h, h.cls.default_config())

    async def _save_config(self, h: DaemonHandle, config: dict[str, Any]) -> dict[str, Any]:
        name = h.name
        await self.store.write(lambda: update_daemon(name, config=config))
        self._apply_config(h, config)
        return config

    def _apply_config(self, h: DaemonHandle, config: dict[str, Any]) -> None:
        h.config = config
        if h.instance is not None:
            h.instance.config = dict(config)
            # It checks again with the new values (its windows too) now, not in minutes.
            h.instance.wake_up()
        self._config_changed(h)

    def _config_changed(self, h: DaemonHandle) -> None:
        self.bus.publish(
            DaemonConfigChanged(
                daemon=h.name, enabled=h.enabled, auto_start=h.auto_start, config=dict(h.config)
            )
        )

    async def set_enabled(self, name: str, enabled: bool, auto_start: bool | None = None) -> None:
        h = self.handle(name)
        fields: dict[str, Any] = {"enabled": enabled}
        if auto_start is not None:
            fields["auto_start"] = auto_start
        await self.store.write(lambda: update_daemon(name, **fields))
        h.enabled = enabled
        if auto_start is not None:
            h.auto_start = auto_start
        self._config_changed(h)

    async def reload(self, name: str) -> None:
        """Pick up a row another process changed (CLI ``daemons set``/``enable``)."""
        h = self.handle(name)
        row = await self.store.read(lambda: daemon_row(name))
        h.enabled, h.auto_start = row.enabled, row.auto_start
        self._apply_config(h, h.cls.load_config(row.config or {}))

    # --- supervision ------------------------------------------------------------------------------

    async def _supervise(self, h: DaemonHandle) -> None:
        settings = self.services.settings
        while True:
            instance = h.cls(self.services, h.config)
            instance.clock = self.clock
            instance.on_pass_done = partial(self._pass_done, h)
            instance.on_pass_failed = partial(self._set_health, h, "retrying")
            h.instance = instance
            if h.state != "running":  # restarting after a crash
                h.started_at = time.time()
                await self._set_state(h, "running", started_at=h.started_at)
            try:
                await instance.run()
                return  # stopped
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                h.crashes += 1
                backoff = h.restart_delay or float(settings.get("daemons.restart_backoff_initial"))
                longest = float(settings.get("daemons.restart_backoff_max"))
                h.restart_delay = min(backoff * 2, longest)
                error = settings.redact(f"{type(exc).__name__}: {exc}")
                log.exception("daemon %s crashed", h.name)
                instance.request_stop()
                instance.clear_status()
                instance.log("ERROR", f"Crashed: {error}; restarting in {backoff:g} seconds")
                self._set_health(
                    h,
                    "error",
                    self.services.settings.redact(
                        f"Crashed: {error}; restarting in {backoff:g} seconds (details in the log)"
                    ),
                )
                h.restart_at = self.clock.time() + backoff
                await self._set_state(h, "error", error=error)
                h.recovering = True
                self.services.notifications.daemon_crashed(h.cls.display_name, error, backoff)
                await asyncio.sleep(backoff)
                h.restart_at = None

    def _pass_done(self, h: DaemonHandle) -> None:
        self._set_health(h, "ok")
        if h.recovering:
            h.recovering = False
            h.restart_delay = None
            self.services.notifications.daemon_recovered(h.cls.display_name, h.crashes)

    # --- health -----------------------------------------------------------------------------------

    def _set_health(
        self, h: DaemonHandle, health: str, reason: str | None = None, setting: str | None = None
    ) -> None:
        if (h.health, h.health_reason, h.health_setting) == (health, reason, setting):
            return
        h.health, h.health_reason, h.health_setting = health, reason, setting
        self.bus.publish(
            DaemonHealthChanged(daemon=h.name, health=health, reason=reason, setting=setting)
        )

    async def _watch(self) -> None:
        """Mark daemons stalled that went quiet while waiting on a job, or whose job
        reports that it stopped progressing; and back once they are heard from."""
        while any(h.running for h in self.handles.values()):
            await asyncio.sleep(WATCHDOG_PERIOD)
            for h in self.handles.values():
                self.check_stalled(h)

    def check_stalled(self, h: DaemonHandle, now: float | None = None) -> None:
        daemon = h.instance
        if daemon is None or h.health not in ("ok", "stalled"):
            return
        reason = None
        if daemon.phase == "waiting" and daemon.job_id:
            snapshot = self.services.runner.snapshot(daemon.job_id)
            warning = snapshot.metadata.get("stalled") if snapshot is not None else None
            quiet = (now or time.time()) - max(daemon.status_at or 0.0, daemon.heartbeat_at or 0.0)
            expected = 2 * float(daemon.config.get("heartbeat_interval", 30)) + 30
            if warning:
                reason = str(warning)
            elif quiet > expected:
                reason = (
                    f"No sign of life for {quiet:.0f} seconds while waiting on "
                    f"{daemon.job_type or 'a'} job {daemon.job_id[:8]}; if it stays so, "
                    f"restart the daemon"
                )
        if reason is not None:
            self._set_health(h, "stalled", reason)
        elif h.health == "stalled":
            self._set_health(h, "ok")

    def _on_status(self, event: DaemonStatusChanged) -> None:
        h = self.handles.get(event.daemon)
        if h is not None and h.health == "stalled":  # heard from again?
            self.check_stalled(h)

    def _on_settings_changed(self, event: SettingsChanged) -> None:
        """A daemon that uses a changed setting checks again at once."""
        for h in self.handles.values():
            if h.instance is not None and any(
                key == used or (used.endswith(".") and key.startswith(used))
                for key in event.keys
                for used in h.cls.uses_settings
            ):
                h.instance.wake_up()

    async def _set_state(
        self,
        h: DaemonHandle,
        state: str,
        *,
        started_at: float | None = None,
        error: str | None = None,
    ) -> None:
        h.state = state
        fields: dict[str, Any] = {"state": state}
        if started_at is not None:
            fields["started_at"] = started_at
        if state == "error":
            h.last_error = error
            # its next check is its restart (status --json shows the row's wake_at)
            fields.update(last_error=error, wake_at=h.restart_at)
        name = h.name
        self.bus.publish(DaemonStateChanged(daemon=name, state=state, error=error))
        await self.store.write(lambda: update_daemon(name, **fields))

    def _on_job_finished(self, event: JobFinished) -> None:
        """Wake daemons waiting for such a job's results; record how a daemon's job
        ended, even if the daemon stopped meanwhile."""
        if event.status == "completed":
            for h in self.handles.values():
                if (
                    h.instance is not None
                    and event.job_type in h.cls.wake_on_jobs
                    and event.created_by != h.name
                ):
                    h.instance.wake_up()
        if event.created_by not in self.handles:
            return
        action = {"completed": "FINISHED", "cancelled": "CANCELLED"}.get(event.status, "FAILED")
        reason = event.error or final_message(
            event.job_type, event.status, event.result, event.error
        )
        name, job_id, at = event.created_by, event.job_id, time.time()
        self.store.writer.submit(lambda: record_job_action(name, job_id, action, reason, at))
        self.bus.publish(
            DaemonJobActionTracked(daemon=name, job_id=job_id, action=action, reason=reason, at=at)
        )

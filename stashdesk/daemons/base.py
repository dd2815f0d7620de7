"""BaseDaemon: the loop every daemon shares, and the status path's first step.

A daemon implements ``run_pass()``: check for work, launch jobs, wait, and end
with ``await self.sleep(seconds, "No ... ")``. The base class runs passes until
stopped. An exception inside a pass is logged, shown in the status ("... -
retrying in N seconds") and the loop goes on after a back-off; an exception that
escapes the loop itself is a crash, which the DaemonManager handles (state
``error``, notification, restart with back-off).

``update_status`` is the heart of the product: it returns at once (no sleep, no
I/O), updates memory, publishes on the bus and queues the row for the writer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from stashdesk.clients.errors import ServiceError
from stashdesk.events import DaemonJobActionTracked, DaemonLogged, DaemonStatusChanged
from stashdesk.jobs.base import JobFailed, JobInfo, JobStatus
from stashdesk.options import Option
from stashdesk.store.models import DaemonJobAction
from stashdesk.store.writer import HeartbeatRecord, LogRecord, StatusRecord

if TYPE_CHECKING:
    from stashdesk.app import Services

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

COMMON_CONFIG: list[Option] = [
    Option("heartbeat_interval", "int", 30, "Seconds between signs of life while a job runs.",
           minimum=1, maximum=3600),
]

ERROR_BACKOFF_INITIAL = 10.0


class Rest(NamedTuple):
    """How long a daemon sleeps after a pass, and what it says meanwhile."""

    seconds: float
    message: str


class DaemonStopped(Exception):
    """Raised inside a daemon's pass when it is being stopped."""


class BaseDaemon:
    """One automation daemon.

    Attributes:
        name: stable identifier (``stash-sync``), used by the CLI and database.
        display_name: shown to people ("Auto Stash Sync").
        description: one sentence on what it does.
        config_options: the daemon's declared configuration keys.
        config: the current configuration (validated).
        status: the last status message, or None when cleared.
        job_id, job_type: the job the status names, if any.
        phase: ``working``, ``sleeping`` or ``waiting`` (on a job).
    """

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    config_options: ClassVar[list[Option]] = []
    # Job types whose successful end may have made work for this daemon (a finished
    # SYNC brings scenes to analyse): the manager wakes it instead of letting it sleep
    # out its interval.
    wake_on_jobs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, services: Services, config: dict[str, Any] | None = None) -> None:
        self.services = services
        self.bus = services.bus
        self.runner = services.runner
        self.config: dict[str, Any] = self.validate_config(config or {})
        self.status: str | None = None
        self.job_id: str | None = None
        self.job_type: str | None = None
        self.phase: str | None = None
        self.wake_at: float | None = None
        self.status_at: float | None = None
        self._stop_requested = asyncio.Event()
        self._wake = asyncio.Event()
        self._consecutive_failures = 0
        self._job_warning: str | None = None
        self.on_pass_done: Callable[[], None] = lambda: None  # set by the DaemonManager
        self.log_adapter = logging.getLogger(f"stashdesk.daemon.{self.name}")

    # --- configuration -----------------------------------------------------------------------

    @classmethod
    def all_options(cls) -> list[Option]:
        own = {o.key for o in cls.config_options}
        return list(cls.config_options) + [o for o in COMMON_CONFIG if o.key not in own]

    @classmethod
    def default_config(cls) -> dict[str, Any]:
        return {o.key: o.default for o in cls.all_options()}

    @classmethod
    def option(cls, key: str) -> Option:
        for option in cls.all_options():
            if option.key == key:
                return option
        known = ", ".join(o.key for o in cls.all_options())
        from stashdesk.options import OptionError

        raise OptionError(f"{cls.name} has no setting {key!r} (it has: {known})")

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in, every value checked; unknown keys are dropped."""
        known = {o.key: o for o in cls.all_options()}
        merged = cls.default_config()
        for key, value in config.items():
            if key in known:
                merged[key] = known[key].validate(value)
        return merged

    @property
    def interval(self) -> float:
        return float(self.config.get("job_interval_seconds", 300))

    # --- the status path -----------------------------------------------------------------------

    async def update_status(self, message: str, job_id: str | None = None,
                            job_type: str | None = None) -> None:
        """Say what the daemon is doing now. Returns at once; never sleeps."""
        self._set_status(message, job_id, job_type, "working" if job_id is None else "waiting")

    def _set_status(self, message: str | None, job_id: str | None, job_type: str | None,
                    phase: str | None, wake_at: float | None = None) -> None:
        if message is not None:
            if self._stop_requested.is_set():
                return  # a stopped daemon keeps its cleared status
            message = self.services.settings.redact(message)
        now = time.time()
        job_type = str(job_type) if job_type is not None else None
        self.status, self.job_id, self.job_type = message, job_id, job_type
        self.phase, self.wake_at, self.status_at = phase, wake_at, now
        self.bus.publish(DaemonStatusChanged(
            daemon=self.name, message=message, job_id=job_id, job_type=job_type,
            phase=phase, wake_at=wake_at, at=now))
        self.services.store.writer.put(
            StatusRecord(self.name, message, job_id, job_type, phase, wake_at, now))

    def clear_status(self) -> None:
        self._set_status(None, None, None, None)

    def heartbeat(self) -> None:
        self.services.store.writer.put(HeartbeatRecord(self.name, time.time()))

    def log(self, level: str, message: str) -> None:
        level = level.upper()
        message = self.services.settings.redact(message)
        self.log_adapter.log(getattr(logging, level, logging.INFO), message)
        now = time.time()
        self.bus.publish(DaemonLogged(daemon=self.name, level=level, message=message, at=now))
        self.services.store.writer.put(LogRecord(self.name, level, message, now))

    async def track_job_action(self, job_id: str, action: str, reason: str | None = None) -> None:
        name, at = self.name, time.time()
        self.services.store.writer.submit(lambda: DaemonJobAction.create(
            daemon=name, job_id=job_id, action=action, reason=reason, at=at))
        self.bus.publish(DaemonJobActionTracked(daemon=name, job_id=job_id, action=action,
                                                reason=reason, at=at))

    # --- helpers every daemon uses ---------------------------------------------------------------

    async def sleep(self, seconds: float, message: str) -> None:
        """Report "<message>, sleeping for N seconds" and sleep; wakes at once on stop."""
        seconds = max(0.0, float(seconds))
        self._set_status(f"{message}, sleeping for {seconds:g} seconds", None, None, "sleeping",
                         wake_at=time.time() + seconds)
        await self._pause(seconds)

    async def _pause(self, seconds: float) -> None:
        if self._wake.is_set():  # woken while busy: whatever it was for may be unseen yet
            self._wake.clear()
            return
        stop = asyncio.ensure_future(self._stop_requested.wait())
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((stop, wake), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            wake.cancel()
            self._wake.clear()
        if self._stop_requested.is_set():
            raise DaemonStopped()

    def wake_up(self) -> None:
        """Cut the current sleep short (or the next one, when called during a pass)."""
        self._wake.set()

    async def launch_job(self, job_type: str, metadata: dict[str, Any], message: str,
                         parent_id: str | None = None) -> JobInfo:
        """Submit a job, say so in the status (with its id and type) and track it."""
        job = await self.runner.submit(job_type, metadata, created_by=self.name,
                                       parent_id=parent_id)
        await self.update_status(message, job_id=job.id, job_type=job.type)
        await self.track_job_action(job.id, "LAUNCHED", message)
        return job

    async def wait_for_job(self, job: JobInfo | str, message: str) -> JobInfo:
        """Wait until ``job`` finishes, keeping the status (with its id and type) and the
        heartbeat fresh at least every ``heartbeat_interval`` seconds. Returns its outcome.
        """
        job_id = job if isinstance(job, str) else job.id
        info = await self.runner.get(job_id)
        if self.status != message or self.job_id != job_id:
            # (the launch message may already say it: one history row, not two)
            await self.update_status(message, job_id=job_id, job_type=info.type)
        if info.finished:
            return info
        interval = float(self.config.get("heartbeat_interval", 30))
        waiter = asyncio.ensure_future(self.runner.wait(job_id))
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=interval)
                if done:
                    return waiter.result()
                self.heartbeat()
                shown = self.with_job_warning(message, job_id)
                if self.status != shown or self.job_id != job_id:
                    await self.update_status(shown, job_id=job_id, job_type=info.type)
        finally:
            waiter.cancel()

    def with_job_warning(self, message: str, job_id: str) -> str:
        """``message``, plus the job's warning when it reports one (``metadata["stalled"]``:
        e.g. a Stash job that has made no progress for a long time); logged once."""
        snapshot = self.runner.snapshot(job_id)
        warning = snapshot.metadata.get("stalled") if snapshot is not None else None
        if not warning:
            self._job_warning = None
            return message
        if warning != self._job_warning:
            self._job_warning = warning
            self.log("WARNING", warning)
        return f"{message} - {warning}"

    async def find_own_active_job(self, job_type: str) -> JobInfo | None:
        """A job of ``job_type`` this daemon launched that is still pending or running.

        Used after a restart so the daemon waits for its job instead of launching the
        same work again.
        """
        for info in self.runner.active_jobs():
            if info.type == job_type and info.created_by == self.name:
                return info
        return None

    # --- the loop ---------------------------------------------------------------------------------

    async def run_pass(self) -> Rest | None:
        """One round of checking and working, implemented by each daemon.

        Returns ``Rest(seconds, message)`` to sleep before the next pass ("No scenes
        to analyze" becomes "No scenes to analyze, sleeping for 600 seconds"), or
        None to start the next pass at once.
        """
        raise NotImplementedError

    async def run(self) -> None:
        """Run passes until stopped. Errors inside a pass are reported and retried."""
        while not self._stop_requested.is_set():
            try:
                rest = await self.run_pass()
                self._consecutive_failures = 0
                self.on_pass_done()
                if rest is not None:
                    await self.sleep(rest.seconds, rest.message)
            except DaemonStopped:
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._report_pass_error(exc)

    async def _report_pass_error(self, exc: Exception) -> None:
        self._consecutive_failures += 1
        delay = min(self.interval, ERROR_BACKOFF_INITIAL * 2 ** (self._consecutive_failures - 1))
        delay = max(1.0, delay) if self.interval >= 1 else self.interval
        if isinstance(exc, (ServiceError, JobFailed)):  # messages written for the user
            text = str(exc)
            self.log("WARNING", f"{text} (attempt {self._consecutive_failures})")
        else:
            text = f"Error: {type(exc).__name__}: {exc}" if str(exc) else f"Error: {exc!r}"
            self.log_adapter.exception("pass failed")
            self.log("ERROR", text)
        self._set_status(f"{text} - retrying in {delay:g} seconds", None, None, "sleeping",
                         wake_at=time.time() + delay)
        await self._pause(delay)

    # --- lifecycle (used by the DaemonManager) ----------------------------------------------------

    def request_stop(self) -> None:
        self._stop_requested.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    @staticmethod
    def job_outcome_action(info: JobInfo) -> str:
        return {
            JobStatus.COMPLETED: "FINISHED",
            JobStatus.CANCELLED: "CANCELLED",
        }.get(info.status, "FAILED")

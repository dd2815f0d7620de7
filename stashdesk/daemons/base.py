"""BaseDaemon: the loop every daemon shares, and the status path's first step.

A daemon implements ``run_pass()``: check for work, launch jobs, wait, and end
with ``await self.sleep(seconds, "No ... ")``. The base class runs passes until
stopped. An exception inside a pass is logged, shown in the status ("... -
retrying in N seconds") and the loop goes on after a back-off; an exception that
escapes the loop itself is a crash, which the DaemonManager handles (state
``error``, notification, restart with back-off).

``update_status`` is the heart of the product: it returns at once (no sleep, no
I/O), updates memory, publishes on the bus and queues the row for the writer.

Sleeping is measured against the wall clock (``self.clock``): a sleep looks at
the clock at least every ``clock.check_interval`` seconds, so after the machine
resumes from suspend (when the loop's monotonic timers have not counted the
time asleep) a daemon whose next check is past checks at once, and its history
says "Resumed after 7 h 12 min asleep". A sleep never lasts longer than asked
when the clock jumps back.

Processing windows (``processing_windows``) bound when a daemon starts new
jobs: outside them no pass begins, ``launch_job`` refuses (the pass ends and
the daemon waits for the next window), a job already running finishes.
``run_now()`` cuts any sleep short and lets the next pass ignore the windows.

(A little over 400 lines: the loop, its sleeps and the status they report are one
mechanism, and splitting them would spread one state machine over two files.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from stashdesk.clients.errors import ServiceError
from stashdesk.daemons.schedule import (
    SYSTEM_CLOCK,
    Clock,
    ProcessingWindows,
    check_processing_windows,
    format_duration,
    parse_processing_windows,
)
from stashdesk.events import LOG_LEVELS as LOG_LEVELS  # declared with the events
from stashdesk.events import DaemonJobActionTracked, DaemonLogged, DaemonStatusChanged
from stashdesk.jobs.base import JobFailed, JobInfo
from stashdesk.options import Option, OptionError
from stashdesk.store.daemons import record_job_action
from stashdesk.store.writer import HeartbeatRecord, LogRecord, StatusRecord

if TYPE_CHECKING:
    from stashdesk.app import Services

MAX_INTERVAL_SECONDS = 7 * 24 * 3600  # job_interval_seconds: a week at most

COMMON_CONFIG: list[Option] = [
    Option(
        "heartbeat_interval",
        "int",
        30,
        "Seconds between signs of life while a job runs.",
        minimum=1,
        maximum=3600,
    ),
    Option(
        "processing_windows",
        "str",
        "",
        "When it may start new jobs, in local time, e.g. "
        '"Mon-Fri 01:00-07:00, Sat-Sun 00:00-24:00" (empty: always). A job already '
        "running finishes; Run now ignores the windows.",
        validator=check_processing_windows,
    ),
]

ERROR_BACKOFF_INITIAL = 10.0
# A sleep that lasted this much longer by the wall clock than by the monotonic one
# spanned a suspend (or a clock jump): worth a line in the history.
RESUME_REPORT_SECONDS = 60.0


# Looks at a running job (its snapshot); returns (status, cancel reason) to cancel it.
JobCheck = Callable[[JobInfo], Awaitable["tuple[str, str] | None"]]
DETAIL_REFRESH_SECONDS = 2.0


class Rest(NamedTuple):
    """How long a daemon sleeps after a pass, and what it says meanwhile."""

    seconds: float
    message: str


class DaemonStopped(Exception):
    """Raised inside a daemon's pass when it is being stopped."""


class OutsideProcessingWindow(Exception):
    """Raised by ``launch_job`` outside the daemon's processing windows: the pass ends
    and the daemon waits for the next window."""


class BaseDaemon:
    """One automation daemon.

    Attributes:
        name: stable identifier (``stash-sync``), used by the CLI and database.
        display_name: shown to people ("Auto Stash Sync").
        display_order: where cards and listings show it (lower first; equal ones in
            the order they registered).
        description: one sentence on what it does.
        config_options: the daemon's declared configuration keys.
        config: the current configuration (validated).
        status: the last status message, or None when cleared.
        job_id, job_type: the job the status names, if any.
        phase: ``working``, ``sleeping`` or ``waiting`` (on a job).
        wake_at: when a sleeping daemon checks again (wall-clock seconds).
        clock: where it reads the time (the DaemonManager's; tests jump it).
        waiting_for_window: sleeping until its next processing window opens.
    """

    name: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    display_order: ClassVar[int] = 100
    description: ClassVar[str] = ""
    config_options: ClassVar[list[Option]] = []
    # Job types whose successful end may have made work for this daemon (a finished
    # SYNC brings scenes to analyse): the manager wakes it instead of letting it sleep
    # out its interval.
    wake_on_jobs: ClassVar[tuple[str, ...]] = ()
    # Settings (keys or "group." prefixes) whose change should make it check again at
    # once instead of after its interval (a fixed API key, a new category).
    uses_settings: ClassVar[tuple[str, ...]] = ()

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
        self.heartbeat_at: float | None = None
        self._stop_requested = asyncio.Event()
        self._wake = asyncio.Event()
        self._consecutive_failures = 0
        self._job_warning: str | None = None
        # set by the DaemonManager: a pass succeeded; a pass failed (its text, the fix)
        self.on_pass_done: Callable[[], None] = lambda: None
        self.on_pass_failed: Callable[[str, str | None], None] = lambda _text, _setting: None
        self.clock: Clock = SYSTEM_CLOCK
        self._run_now_requested = False
        self._manual_pass = False
        self.waiting_for_window = False
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

    @classmethod
    def load_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """A stored configuration, as ``validate_config`` but lenient: a value that no
        longer passes (saved by an older StashDesk, before a bound existed) falls back to
        its default with a warning instead of keeping the daemon from loading."""
        known = {o.key: o for o in cls.all_options()}
        merged = cls.default_config()
        for key, value in config.items():
            if key not in known:
                continue
            try:
                merged[key] = known[key].validate(value)
            except OptionError as exc:
                logging.getLogger(__name__).warning(
                    "%s: the stored %s is not valid any more (%s); using %r",
                    cls.name,
                    key,
                    exc,
                    merged[key],
                )
        return merged

    @property
    def interval(self) -> float:
        return float(self.config.get("job_interval_seconds", 300))

    @property
    def processing_windows(self) -> ProcessingWindows:
        return parse_processing_windows(str(self.config.get("processing_windows") or ""))

    def may_start_jobs(self) -> bool:
        """Inside a processing window, or in a pass started by Run now."""
        return self._manual_pass or self.processing_windows.is_open(self.clock.time())

    # --- the status path -----------------------------------------------------------------------

    async def update_status(
        self, message: str, job_id: str | None = None, job_type: str | None = None
    ) -> None:
        """Say what the daemon is doing now. Returns at once; never sleeps."""
        self._set_status(message, job_id, job_type, "working" if job_id is None else "waiting")

    def _set_status(
        self,
        message: str | None,
        job_id: str | None,
        job_type: str | None,
        phase: str | None,
        wake_at: float | None = None,
    ) -> None:
        if message is not None:
            if self._stop_requested.is_set():
                return  # a stopped daemon keeps its cleared status
            message = self.services.settings.redact(message)
        now = time.time()
        job_type = str(job_type) if job_type is not None else None
        self.status, self.job_id, self.job_type = message, job_id, job_type
        self.phase, self.wake_at, self.status_at = phase, wake_at, now
        self.heartbeat_at = now
        self.bus.publish(
            DaemonStatusChanged(
                daemon=self.name,
                message=message,
                job_id=job_id,
                job_type=job_type,
                phase=phase,
                wake_at=wake_at,
                at=now,
            )
        )
        self.services.store.writer.put(
            StatusRecord(self.name, message, job_id, job_type, phase, wake_at, now)
        )

    def clear_status(self) -> None:
        self._set_status(None, None, None, None)

    def heartbeat(self) -> None:
        self.heartbeat_at = time.time()
        self.services.store.writer.put(HeartbeatRecord(self.name, self.heartbeat_at))

    def log(self, level: str, message: str) -> None:
        level = level.upper()
        message = self.services.settings.redact(message)
        self.log_adapter.log(getattr(logging, level, logging.INFO), message)
        now = time.time()
        self.bus.publish(DaemonLogged(daemon=self.name, level=level, message=message, at=now))
        self.services.store.writer.put(LogRecord(self.name, level, message, now))

    async def track_job_action(self, job_id: str, action: str, reason: str | None = None) -> None:
        name, at = self.name, time.time()
        self.services.store.writer.submit(
            lambda: record_job_action(name, job_id, action, reason, at)
        )
        self.bus.publish(
            DaemonJobActionTracked(daemon=name, job_id=job_id, action=action, reason=reason, at=at)
        )

    # --- helpers every daemon uses ---------------------------------------------------------------

    async def sleep(self, seconds: float, message: str) -> None:
        """Report "<message>, sleeping for N seconds" and sleep; wakes at once on stop."""
        seconds = max(0.0, float(seconds))
        wake_at = self.clock.time() + seconds
        self._set_status(
            f"{message}, sleeping for {seconds:g} seconds", None, None, "sleeping", wake_at=wake_at
        )
        await self._pause(seconds, wake_at)

    async def _pause(self, seconds: float, wake_at: float | None = None) -> bool:
        """Sleep until ``wake_at`` by the wall clock, but never longer than ``seconds``
        by the monotonic one. True when cut short by ``wake_up``/``run_now``."""
        if self._wake.is_set():  # woken while busy: whatever it was for may be unseen yet
            self._wake.clear()
            return True
        clock = self.clock
        wall_from, mono_from = clock.time(), clock.monotonic()
        wake_at = wall_from + seconds if wake_at is None else wake_at
        mono_deadline = mono_from + seconds
        woken = False
        while True:
            left = min(wake_at - clock.time(), mono_deadline - clock.monotonic())
            if left <= 0:
                break
            if await self._wait_for_signal(min(left, clock.check_interval)):
                woken = True
                break
        asleep = (clock.time() - wall_from) - (clock.monotonic() - mono_from)
        if asleep >= RESUME_REPORT_SECONDS:
            text = f"Resumed after {format_duration(asleep)} asleep"
            self.log("INFO", text)
            await self.update_status(text)
        return woken

    async def _wait_for_signal(self, timeout: float) -> bool:
        """Wait up to ``timeout`` for a wake-up (True) or a stop (DaemonStopped)."""
        stop = asyncio.ensure_future(self._stop_requested.wait())
        wake = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait((stop, wake), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            wake.cancel()
        if self._stop_requested.is_set():
            self._wake.clear()
            raise DaemonStopped()
        if self._wake.is_set():
            self._wake.clear()
            return True
        return False

    async def _wait_for_processing_window(self) -> None:
        """Outside every processing window: say when the next opens, and sleep until it
        does (or until Run now). Plain wake-ups (a job elsewhere finished) only make it
        look again: the work they announce waits for the window too."""
        shown: float | None = None
        try:
            while not self._run_now_requested:
                now = self.clock.time()
                windows = self.processing_windows
                if windows.is_open(now):
                    return
                upcoming = windows.describe_next(now)
                if upcoming is None:  # cannot happen with a parsed window; never spin
                    upcoming = (now + self.interval, "a later check")
                opens, label = upcoming
                if opens != shown:
                    self.waiting_for_window = True
                    seconds = max(0.0, opens - now)
                    self._set_status(
                        f"Outside the processing window, next window at {label}, "
                        f"sleeping for {seconds:,.0f} seconds",
                        None,
                        None,
                        "sleeping",
                        wake_at=opens,
                    )
                    shown = opens
                await self._pause(max(0.0, opens - now), opens)
        finally:
            self.waiting_for_window = False

    def wake_up(self) -> None:
        """Cut the current sleep short (or the next one, when called during a pass)."""
        self._wake.set()

    def run_now(self) -> None:
        """Check now: cut the sleep short (or the next one, when busy); that pass ignores
        the processing windows."""
        self._run_now_requested = True
        self._wake.set()

    async def launch_job(
        self, job_type: str, metadata: dict[str, Any], message: str, parent_id: str | None = None
    ) -> JobInfo:
        """Submit a job, say so in the status (with its id and type) and track it.

        Outside the processing windows (and not in a Run now pass) it raises
        OutsideProcessingWindow instead: the daemon waits for the next window.
        """
        if not self.may_start_jobs():
            raise OutsideProcessingWindow()
        job = await self.runner.submit(
            job_type, metadata, created_by=self.name, parent_id=parent_id
        )
        await self.update_status(message, job_id=job.id, job_type=job.type)
        await self.track_job_action(job.id, "LAUNCHED", message)
        return job

    async def wait_for_job(
        self,
        job: JobInfo | str,
        message: str,
        *,
        check: JobCheck | None = None,
        check_every: float | None = None,
        detail: Callable[[], str | None] | None = None,
    ) -> JobInfo:
        """Wait until ``job`` finishes, keeping the status (with its id and type) and the
        heartbeat fresh at least every ``heartbeat_interval`` seconds. Returns its outcome.

        ``check(job)``, when given, runs every ``check_every`` seconds while the job runs;
        when it returns ``(status, reason)`` the daemon says ``status``, cancels the job
        with ``reason`` and waits for it to stop (e.g. a generation a scan would fight).

        ``detail`` (e.g. which servers are busy) is appended as "<message> - <detail>"
        when it has something to say, looked at every ``DETAIL_REFRESH_SECONDS``; the
        status changes only when the text does.
        """
        job_id = job if isinstance(job, str) else job.id
        info = await self.runner.get(job_id)
        if self.status != message or self.job_id != job_id:
            # (the launch message may already say it: one history row, not two)
            await self.update_status(message, job_id=job_id, job_type=info.type)
        if info.finished:
            return info
        interval = float(self.config.get("heartbeat_interval", 30))
        tick = min(
            interval,
            check_every if check is not None and check_every else interval,
            DETAIL_REFRESH_SECONDS if detail is not None else interval,
        )
        last_beat = last_check = time.monotonic()
        waiter = asyncio.ensure_future(self.runner.wait(job_id))
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=tick)
                if done:
                    return waiter.result()
                now = time.monotonic()
                if now - last_beat >= interval - 0.01:
                    self.heartbeat()
                    last_beat = now
                if (
                    check is not None
                    and check_every is not None
                    and now - last_check >= check_every - 0.01
                ):
                    last_check = now
                    intervention = await check(self.runner.snapshot(job_id) or info)
                    if intervention is not None:
                        status, reason = intervention
                        await self.update_status(status, job_id=job_id, job_type=info.type)
                        self.log("INFO", f"Cancelling {info.type} job {job_id}: {reason}")
                        await self.runner.cancel(job_id, reason)
                        return await waiter
                shown = self.with_job_warning(message, job_id)
                extra = detail() if detail is not None else None
                if extra:
                    shown = f"{shown} - {extra}"
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
                if not self._run_now_requested:
                    await self._wait_for_processing_window()
                self._manual_pass, self._run_now_requested = self._run_now_requested, False
                rest = await self.run_pass()
                self._consecutive_failures = 0
                self.on_pass_done()
                if rest is not None:
                    await self.sleep(rest.seconds, rest.message)
            except OutsideProcessingWindow:
                continue  # the window closed during the pass: wait for the next
            except DaemonStopped:
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                await self._report_pass_error(exc)
            finally:
                self._manual_pass = False

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
        self.on_pass_failed(self.services.settings.redact(text), getattr(exc, "setting", None))
        wake_at = self.clock.time() + delay
        self._set_status(
            f"{text} - retrying in {delay:g} seconds", None, None, "sleeping", wake_at=wake_at
        )
        await self._pause(delay, wake_at)

    # --- lifecycle (used by the DaemonManager) ----------------------------------------------------

    def request_stop(self) -> None:
        self._stop_requested.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

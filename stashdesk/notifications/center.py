"""NotificationCenter: every message StashDesk sends, to the tray and to Apprise targets.

``send(message)`` returns at once. The tray gets a ``Notification`` event on
the bus when its switch (``notifications.on_failure``/``on_success``) is on and
the event is not in ``notifications.tray_muted``. Each target that wants the
event gets a delivery task:

- Apprise runs on the center's own small thread pool, each attempt bounded in
  time, so a slow or dead service never holds the event loop, a daemon, or
  the threads the rest of the engine uses for files and the database.
- A failed attempt that may succeed later (HTTP 5xx, 429, timeouts, no
  connection) is retried after ``retry_delays``; then the failure is logged
  and kept on the target ("last delivery failed: HTTP 403 - check the token").
  Deliveries to one target go out one at a time, in order.
- Identical messages (same event, title and body) within ``fold_seconds`` are
  folded: the first goes out at once, the others are counted and sent as one
  "(3 more like this)" when the window ends.

It also turns engine happenings into messages: finished jobs (from the bus),
crashes and recoveries (called by the DaemonManager), health checks
(:meth:`report_health`, for the Health page) and the engine's start and stop.
The target functions (``list_targets``...) are what ``stashdesk notify`` and
the Settings page call; they return JSON-able values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from stashdesk import __version__
from stashdesk.events import JobFinished, Notification
from stashdesk.notifications import messages
from stashdesk.notifications.catalog import ALL_EVENTS, EVENTS, describe_events
from stashdesk.notifications.delivery import DeliveryOutcome, send_blocking
from stashdesk.notifications.messages import Message
from stashdesk.notifications.targets import Target, TargetRegistry
from stashdesk.settings import SecretLogFilter

if TYPE_CHECKING:
    from stashdesk.app import Services

log = logging.getLogger(__name__)

RETRY_DELAYS = (5.0, 30.0, 120.0)
FOLD_SECONDS = 300.0
SEND_TIMEOUT = 15.0
STOP_DRAIN_SECONDS = 10.0
SEND_THREADS = 4

T = TypeVar("T")


@dataclass
class _Fold:
    first: Message
    latest: Message
    more: int
    timer: asyncio.TimerHandle


class NotificationCenter:
    """See the module docstring.

    Attributes:
        targets: the TargetRegistry.
        retry_delays: seconds before each retry of a failed delivery.
        fold_seconds: identical messages within this long are folded.
        send_timeout: the bound on one Apprise attempt.
    """

    def __init__(
        self,
        services: Services,
        *,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
        fold_seconds: float = FOLD_SECONDS,
        send_timeout: float = SEND_TIMEOUT,
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.bus = services.bus
        self.targets = TargetRegistry(services)
        self.retry_delays = tuple(retry_delays)
        self.fold_seconds = fold_seconds
        self.send_timeout = send_timeout
        self._folds: dict[tuple[str, str, str], _Fold] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._locks: dict[int, asyncio.Lock] = {}
        self._health: dict[str, bool] = {}
        self._job_order = asyncio.Lock()  # job messages go out in the order the jobs ended
        self._pool: ThreadPoolExecutor | None = None  # made on the first send
        self._stopping = asyncio.Event()
        self._unlisten_jobs: Any = None
        self._unregister_privacy: Any = None
        self._announce = False
        self.started = False

    # --- lifecycle -------------------------------------------------------------------------------

    async def start(self, *, announce: bool = False) -> None:
        """Load the targets and listen for finished jobs. ``announce``: a long-running
        engine (window or headless) says it started and, later, that it stopped."""
        self._stopping.clear()
        self._unregister_privacy = SecretLogFilter.register(self.settings.redact)
        self._unlisten_jobs = self.bus.listen(self._on_job_finished, JobFinished)
        await self.targets.load()
        self._spawn(self.targets.find_services(), "notify-services")
        self.started = True
        self._announce = announce
        if announce:
            self.send(messages.engine_started(__version__, socket.gethostname()))

    async def stop(self, timeout: float = STOP_DRAIN_SECONDS) -> None:
        """Say so (when announced), send what folding held back, and give the attempts
        under way up to ``timeout`` seconds (no retries now); then stop."""
        if not self.started:
            return
        self._unlisten_jobs()
        if self._announce:
            self.send(messages.engine_stopped(socket.gethostname()), fold=False)
        self.started = False  # from now on only the tray hears of anything
        for key in list(self._folds):
            self._end_fold_window(key, reopen=False)
        self._stopping.set()  # no more back-off: what fails now stays failed
        # Until nothing is under way, also what the attempts start meanwhile (a finished
        # job's message, then its deliveries); what is late is cancelled and awaited, so
        # no task outlives the loop half-started.
        deadline = time.monotonic() + timeout
        while pending := {t for t in self._tasks if not t.done()}:
            left = deadline - time.monotonic()
            if left <= 0:
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                break
            await asyncio.wait(pending, timeout=left)
        self._unregister_privacy()
        self.close()

    def close(self) -> None:
        """Let the sending threads go (after ``stop``, or after ``test_targets`` on a
        center that was never started)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    async def wait_idle(self, timeout: float = 30.0) -> None:
        """Until no delivery is under way (tests, benchmarks)."""
        deadline = time.monotonic() + timeout
        while pending := {t for t in self._tasks if not t.done()}:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{len(pending)} notification deliveries still under way")
            await asyncio.wait(pending, timeout=left)

    # --- sending ---------------------------------------------------------------------------------

    def send(self, message: Message, *, fold: bool = True) -> None:
        """Tell the tray and every target that wants ``message.event``. Never blocks."""
        redact = self.settings.redact  # an error text may quote a secret
        message = replace(message, title=redact(message.title), body=redact(message.body))
        level = logging.WARNING if message.is_failure else logging.INFO
        log.log(level, "%s: %s", message.title, message.body)
        self._to_tray(message)
        if not self.started:
            return
        targets = self.targets.wanting(message.event)
        if not targets:
            return
        if fold:
            held = self._folds.get(message.fold_key)
            if held is not None:
                held.more += 1
                held.latest = message
                return
            self._open_fold_window(message)
        for target in targets:
            self._spawn(self._deliver(target, message), f"notify-{target.name}")

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
        """The older call: an event by name with its title and text."""
        self.send(Message(kind, title, message, job_id, failure=failure, tray_switch=setting))

    def _to_tray(self, message: Message) -> None:
        if message.event == "test":
            return
        kind = EVENTS.get(message.event)
        switch = message.tray_switch or (
            kind.tray_switch
            if kind is not None
            else "notifications.on_failure"
            if message.failure
            else "notifications.on_success"
        )
        if not self.settings.get(switch):
            return
        muted = self.settings.get("notifications.tray_muted") or []
        if message.event in muted or ALL_EVENTS in muted:
            return
        self.bus.publish(
            Notification(
                kind=message.event,
                title=message.title,
                message=message.body,
                failure=message.is_failure,
                job_id=message.job_id,
            )
        )

    def _open_fold_window(self, first: Message) -> None:
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.fold_seconds, self._end_fold_window, first.fold_key)
        self._folds[first.fold_key] = _Fold(first, first, 0, timer)

    def _end_fold_window(self, key: tuple[str, str, str], reopen: bool = True) -> None:
        held = self._folds.pop(key, None)
        if held is None:
            return
        held.timer.cancel()
        if not held.more:
            return
        summary = held.first.folded(held.more, self.fold_seconds, held.latest)
        if reopen:  # a flood goes on being folded, one message per window
            self._open_fold_window(held.first)
        for target in self.targets.wanting(summary.event):
            self._spawn(self._deliver(target, summary), f"notify-{target.name}")

    def _spawn(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _deliver(
        self, target: Target, message: Message, *, retry: bool = True
    ) -> DeliveryOutcome:
        lock = self._locks.setdefault(target.id, asyncio.Lock())
        target.sending += 1
        try:
            async with lock:
                delays = self.retry_delays if retry else ()
                attempts = 0
                while True:
                    attempts += 1
                    outcome = await self._attempt(target, message)
                    if outcome.ok or not outcome.retry or attempts > len(delays):
                        break
                    if await self._wait_or_stop(delays[attempts - 1]):
                        break  # StashDesk is stopping: this failure stands
                self.targets.record(target, outcome, message.event)
                if not outcome.ok:
                    log.warning(
                        "%s",
                        self.settings.redact(
                            f"notification target {target.name!r}: {message.event} not delivered "
                            f"after {attempts} attempt{'s' if attempts != 1 else ''}: "
                            f"{outcome.error}"
                        ),
                    )
                return outcome
        finally:
            target.sending -= 1

    async def _attempt(self, target: Target, message: Message) -> DeliveryOutcome:
        loop = asyncio.get_running_loop()
        if self._pool is None:
            self._pool = ThreadPoolExecutor(SEND_THREADS, thread_name_prefix="stashdesk-notify")
        try:
            future = loop.run_in_executor(
                self._pool,
                send_blocking,
                target.url,
                message.title,
                message.text(),
                message.level,
                self.send_timeout,
            )
            return await asyncio.wait_for(future, self.send_timeout + 5)
        except TimeoutError:
            return DeliveryOutcome(
                False,
                f"no answer within {self.send_timeout:g} seconds - "
                f"check that the service is up and reachable",
                True,
            )
        except RuntimeError as exc:  # the pool was shut down under us
            return DeliveryOutcome(False, self.settings.redact(str(exc)))
        except Exception as exc:  # an Apprise plugin's bug must not end the delivery loop
            log.debug("sending to %r raised", target.name, exc_info=True)
            return DeliveryOutcome(
                False, self.settings.redact(f"{type(exc).__name__}: {exc}"), True
            )

    async def _wait_or_stop(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    # --- what happens in the engine ------------------------------------------------------------

    def _on_job_finished(self, event: JobFinished) -> None:
        if event.status in ("failed", "completed"):
            self._spawn(self._job_finished(event), f"notify-job-{event.job_id}")

    async def _job_finished(self, event: JobFinished) -> None:
        # A task per job, each reading the database: the lock (first come, first served)
        # keeps their messages in the order the jobs ended.
        async with self._job_order:
            try:
                found = await messages.messages_for_job(self.services, event)
            except Exception:  # the database is closing, or a bug: never the job's problem
                log.exception("could not build the notifications for job %s", event.job_id)
                return
            for message in found:
                self.send(message)

    def daemon_crashed(self, display_name: str, error: str, restart_in: float) -> None:
        self.send(messages.daemon_crashed(display_name, error, restart_in))

    def daemon_recovered(self, display_name: str, crashes: int) -> None:
        self.send(messages.daemon_recovered(display_name, crashes))

    def report_health(
        self, check: str, ok: bool, message: str = "", remedy: str | None = None
    ) -> str | None:
        """The Health page's hook: call it with each check's result, as often as it runs.

        Sends ``health_failed`` when ``check`` starts failing (also on its first
        report) and ``health_recovered`` when it passes again; returns the event
        sent, or None when nothing changed.
        """
        was_ok = self._health.get(check, True)
        self._health[check] = ok
        if was_ok and not ok:
            self.send(messages.health_failed(check, message or "it failed", remedy))
            return "health_failed"
        if ok and not was_ok:
            self.send(messages.health_recovered(check))
            return "health_recovered"
        return None

    # --- the targets (for `stashdesk notify ...` and the Settings page) ------------------------

    def events(self) -> list[dict[str, Any]]:
        """Every event name with what it means."""
        return describe_events()

    def list_targets(self) -> list[dict[str, Any]]:
        """Every target, its URL masked, with its last delivery's outcome."""
        return self.targets.listing()

    async def add_target(self, name: str, url: str, events: str | list[str]) -> dict[str, Any]:
        """Add a target; ``events`` is ``"job_failed,daemon_crashed"``, a list, or ``all``.
        Raises NotificationSetupError (bad input: nothing changed)."""
        return await self.targets.add(name, url, events)

    async def edit_target(
        self,
        name: str,
        *,
        new_name: str | None = None,
        url: str | None = None,
        events: str | list[str] | None = None,
        enabled: bool | None = None,
    ) -> dict[str, Any]:
        return await self.targets.edit(
            name, new_name=new_name, url=url, events=events, enabled=enabled
        )

    async def remove_target(self, name: str) -> dict[str, Any]:
        return await self.targets.remove(name)

    async def reload_targets(self) -> None:
        """Pick up targets another process changed."""
        await self.targets.load()
        await self.targets.find_services()

    async def test_targets(self, name: str | None = None) -> list[dict[str, Any]]:
        """Send a test message now to ``name`` (or to every target, enabled or not),
        one attempt each, and say how each went. Works on a center that was never
        started too (call ``reload_targets`` first, and ``close`` after)."""
        chosen = (
            [self.targets.by_name(name)]
            if name
            else sorted(self.targets.targets.values(), key=lambda t: t.name.casefold())
        )
        tasks = [
            self._spawn(
                self._deliver(t, messages.target_test_message(t.name), retry=False),
                f"notify-test-{t.name}",
            )
            for t in chosen
        ]
        outcomes = await asyncio.gather(*tasks)
        return [
            {"name": t.name, "ok": o.ok, "error": o.error, "last_delivery": t.last_delivery}
            for t, o in zip(chosen, outcomes, strict=True)
        ]

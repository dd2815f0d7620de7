"""The one way StashDesk follows a Stash job until it ends (scan, generate, identify, auto tag).

:func:`follow_stash_job` listens to Stash's ``jobsSubscribe`` (the client's shared
:class:`~stashdesk.clients.stash_feed.StashJobFeed`), so progress and the end arrive as
they happen. It polls ``findJob`` instead

* once at the start, and at once and :data:`SECOND_LOOK_SECONDS` after each
  (re)subscription, since updates sent before Stash registered it are lost;
* every :data:`POLL_SECONDS` while the socket cannot be opened or has dropped (said
  in the job's log, and again when the socket is back);
* every :data:`SAFETY_POLL_SECONDS` while live, in case the socket missed the end;
* every :data:`POLL_SECONDS` while a ``stopJob`` waits for Stash to stop the job.

Stash's progress (0..1) becomes the job's percentage and its description (with the
first sub-task) the job's message; FINISHED completes the job, FAILED fails it with
Stash's error, CANCELLED cancels it. Cancelling sends ``stopJob`` and waits until
Stash reports the job stopped. A job whose state has not changed for
``stash.stalled_job_minutes`` is reported (message, log, ``metadata["stalled"]``).

A job Stash no longer knows (it keeps only the last ten finished jobs, and none across
a restart) is handed to the caller's ``on_vanished``, which decides from what Stash
reports now (for instance whether the scanned files are in Stash) instead of waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from stashdesk.clients.errors import MalformedAnswer, ServiceAnswerError, ServiceUnreachable
from stashdesk.clients.stash_feed import FeedChanged, JobUpdate, JobWatch
from stashdesk.jobs.base import JobCancelled, JobContext, JobFailed

if TYPE_CHECKING:
    from stashdesk.clients.stash import StashClient

POLL_SECONDS = 1.0
SAFETY_POLL_SECONDS = 30.0
# Stash registers a subscription when it has read our subscribe message; nothing tells us
# when that was, so an update in between is lost: one more findJob this long after.
SECOND_LOOK_SECONDS = 1.0
# Stash may be briefly unreachable while its job runs on: keep polling this long first.
POLL_ERROR_TOLERANCE_SECONDS = 300.0

STASH_FINAL = ("FINISHED", "FAILED", "CANCELLED")
STASH_ACTIVE = ("READY", "RUNNING", "STOPPING")

OnVanished = Callable[[], Awaitable[dict[str, Any]]]


def describe_duration(seconds: float) -> str:
    if seconds >= 90:
        minutes = seconds / 60
        return f"{minutes:.0f} minutes" if minutes >= 2 else f"{minutes:.1f} minutes"
    return f"{seconds:.0f} seconds" if seconds >= 2 else f"{seconds:.1f} seconds"


def stash_percent(progress: Any) -> float | None:
    try:
        return None if progress is None else max(0.0, min(100.0, float(progress) * 100.0))
    except (TypeError, ValueError):
        return None


def describe_stash_job(job: dict[str, Any]) -> str:
    text = str(job.get("description") or f"Stash job {job.get('id')}")
    sub_tasks = job.get("subTasks") or []
    if sub_tasks:
        text += f" - {sub_tasks[0]}"
    if job.get("status") == "READY":
        text += " (waiting in Stash's queue)"
    return text


def forgotten_job_error(stash_job_id: str, what: str) -> JobFailed:
    return JobFailed(
        f"Stash no longer knows its job {stash_job_id} ({what}); Stash forgets jobs when "
        f"it restarts, so the outcome is unknown - check Stash's logs and run the {what} "
        f"again if needed"
    )


class _Vanished(Exception):
    pass


class _Follower:
    def __init__(
        self,
        ctx: JobContext,
        stash: StashClient,
        stash_job_id: str,
        what: str,
        on_vanished: OnVanished | None,
    ) -> None:
        self.ctx, self.stash, self.job_id, self.what = ctx, stash, stash_job_id, what
        self.on_vanished = on_vanished
        self.feed = stash.job_feed
        self.stalled_after = float(ctx.services.settings.get("stash.stalled_job_minutes")) * 60
        self.stalled: str | None = ctx.metadata.get("stalled")
        self.stop_sent = False
        self.last_job: dict[str, Any] | None = None
        self.last_state: tuple[Any, ...] | None = None
        self.last_change = time.monotonic()
        self.errors_since: float | None = None
        self.next_poll = 0.0  # at once
        self.second_look: float | None = None
        self.mode: str | None = None
        self.polls = 0
        self.updates = 0

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        with self.feed.watch(self.job_id) as watch:
            while True:
                self._announce_mode()
                if self.ctx.cancelled and not self.stop_sent:
                    self.next_poll = 0.0
                if time.monotonic() >= self.next_poll:
                    job = await self._poll()
                    now = time.monotonic()
                    if self.second_look is not None and self.second_look <= now:
                        self.second_look = None
                    self.next_poll = min(
                        now + self._poll_interval(), self.second_look or float("inf")
                    )
                else:
                    job = await self._next_update(watch)
                if job is not None:
                    outcome = await self._observe(job)
                    if outcome is not None:
                        outcome.update(stash_polls=self.polls, stash_updates=self.updates)
                        return outcome
                await self._check_stalled()

    def _poll_interval(self) -> float:
        live = self.feed.live.is_set() and not self.stop_sent
        return SAFETY_POLL_SECONDS if live else POLL_SECONDS

    async def _poll(self) -> dict[str, Any] | None:
        """One ``findJob`` (after a ``stopJob`` when a cancel is due); None on a tolerated
        error. A job Stash no longer knows ends the follow through ``on_vanished``."""
        try:
            if self.ctx.cancelled and not self.stop_sent:
                self.ctx.progress(None, f"Stopping Stash job {self.job_id}...")
                await self.stash.stop_job(self.job_id)
                self.stop_sent = True
            self.polls += 1
            job = await self.stash.find_job(self.job_id)
            self.errors_since = None
        except (ServiceUnreachable, ServiceAnswerError, MalformedAnswer) as exc:
            self.errors_since = self.errors_since or time.monotonic()
            if time.monotonic() - self.errors_since > POLL_ERROR_TOLERANCE_SECONDS:
                raise
            self.ctx.progress(None, f"{exc} - trying again")
            self.ctx.log.warning("polling Stash job %s: %s", self.job_id, exc)
            return None
        if job is None:
            raise _Vanished()
        return job

    async def _next_update(self, watch: JobWatch) -> dict[str, Any] | None:
        timeout = max(0.0, min(self.next_poll - time.monotonic(), POLL_SECONDS))
        getter = asyncio.ensure_future(watch.queue.get())
        waiters: set[asyncio.Future[Any]] = {getter}
        cancel = None
        if not self.ctx.cancelled:
            cancel = asyncio.ensure_future(self.ctx.cancel_requested.wait())
            waiters.add(cancel)
        try:
            done, _ = await asyncio.wait(
                waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for waiter in waiters:
                waiter.cancel()
        if getter not in done:
            with contextlib.suppress(asyncio.CancelledError):
                await getter
            return None
        item = getter.result()
        if isinstance(item, FeedChanged):
            self.next_poll = 0.0  # catch up: poll at once (back live, or fallen back)
            if item.live:
                self.second_look = time.monotonic() + SECOND_LOOK_SECONDS
            return None
        assert isinstance(item, JobUpdate)
        self.updates += 1
        if item.kind == "REMOVE" and item.job.get("status") not in STASH_FINAL:
            self.next_poll = 0.0  # left the queue without a final state: ask findJob
            return None
        return item.job

    def _announce_mode(self) -> None:
        if self.feed.live.is_set():
            mode = "live"
        elif not self.feed.enabled:
            mode = "off"
        elif self.feed.down_reason is not None:
            mode = "polling"
        else:
            return  # the first connection attempt is under way: poll, say nothing yet
        if mode == self.mode:
            return
        previous, self.mode = self.mode, mode
        if mode == "live":
            again = " again" if previous == "polling" else ""
            self.ctx.note(
                f"Following Stash job {self.job_id}{again} live over Stash's "
                f"WebSocket (jobsSubscribe)"
            )
        elif mode == "off":
            self.ctx.note(
                f"stash.websocket is off: polling Stash job {self.job_id} every {POLL_SECONDS:g} s"
            )
        else:
            dropped = "dropped" if previous == "live" else "is unavailable"
            self.ctx.note(
                f"Stash's job updates WebSocket {dropped} "
                f"({self.feed.down_reason}): polling findJob for job {self.job_id} "
                f"every {POLL_SECONDS:g} s until it is back",
                logging.WARNING,
            )

    # --- what Stash says -------------------------------------------------------------------

    async def _observe(self, job: dict[str, Any]) -> dict[str, Any] | None:
        self.last_job = job
        status = str(job.get("status"))
        state = (
            status,
            job.get("progress"),
            job.get("description"),
            tuple(job.get("subTasks") or ()),
        )
        if state != self.last_state:
            self.last_state, self.last_change = state, time.monotonic()
            if self.stalled:
                self.stalled = None
                self.ctx.log.info("Stash job %s is moving again", self.job_id)
                await self.ctx.save_metadata(stalled=None)
        percent = stash_percent(job.get("progress"))
        if status == "FINISHED":
            return {"stash_job_id": self.job_id, "stash_status": status}
        if status == "FAILED":
            raise JobFailed(
                f"Stash's {self.what} (job {self.job_id}) failed: "
                f"{job.get('error') or 'Stash gave no reason'}"
            )
        if status == "CANCELLED":
            if self.stop_sent or self.ctx.cancelled:
                raise JobCancelled()
            raise JobCancelled(f"Cancelled in Stash (job {self.job_id})")
        if self.stop_sent:
            self.ctx.progress(percent, f"Stopping Stash job {self.job_id} ({status.lower()})...")
        elif self.stalled:
            self.ctx.progress(percent, self.stalled)
        else:
            self.ctx.progress(percent, describe_stash_job(job))
        return None

    async def _check_stalled(self) -> None:
        job = self.last_job
        if job is None or self.stalled or self.stop_sent:
            return
        idle = time.monotonic() - self.last_change
        if idle < self.stalled_after:
            return
        percent = stash_percent(job.get("progress"))
        at = f" at {percent:.0f}%" if percent is not None else ""
        self.stalled = (
            f"Stash job {self.job_id} ({self.what}) has made no progress for "
            f"{describe_duration(idle)} ({job.get('status')}{at}: "
            f"{job.get('description') or 'no description'}) - check Stash's task "
            f"queue"
        )
        self.ctx.log.warning(self.stalled)
        self.ctx.progress(percent, self.stalled)
        await self.ctx.save_metadata(stalled=self.stalled)


async def follow_stash_job(
    ctx: JobContext,
    stash: StashClient,
    stash_job_id: str,
    what: str,
    on_vanished: OnVanished | None = None,
) -> dict[str, Any]:
    """Follow Stash job ``stash_job_id`` until it ends; returns the result dict.

    Raises JobFailed (Stash's error), JobCancelled, or the last Stash error once Stash
    stayed unreachable for :data:`POLL_ERROR_TOLERANCE_SECONDS`. When Stash no longer
    knows the job, ``on_vanished()`` gives the outcome (default: fail, outcome unknown).
    """
    follower = _Follower(ctx, stash, str(stash_job_id), what, on_vanished)
    try:
        return await follower.run()
    except _Vanished:
        pass
    ctx.note(
        f"Stash no longer lists job {stash_job_id} ({what}): it ended while StashDesk "
        f"was not looking and Stash has forgotten it (it keeps only its last ten "
        f"finished jobs, and none after a restart)",
        logging.WARNING,
    )
    if on_vanished is None:
        raise forgotten_job_error(str(stash_job_id), what)
    outcome = await on_vanished()
    outcome.setdefault("stash_job_id", str(stash_job_id))
    outcome.setdefault("stash_status", "UNKNOWN")
    outcome.update(stash_polls=follower.polls, stash_updates=follower.updates, vanished=True)
    return outcome

"""JobRunner: jobs are rows first, tasks second.

``submit`` writes the row (status pending) and only then queues the job; a
scheduler starts pending jobs in order while fewer than ``jobs.max_concurrent``
run and no other job of the same exclusive type is running. Progress is kept
in memory, published on the bus at most every 0.1 s and written at most every
second per job; the final state is always written and published.

Cancellation is cooperative: the job's ``cancel_requested`` event is set and the
job stops at its next safe point; after ``jobs.cancel_grace_seconds`` the task
is cancelled hard.

At start-up, rows a previous process left ``pending`` are queued again, and
rows left ``running`` are resumed when their type is resumable, otherwise
marked ``interrupted`` with a reason. At shutdown, running jobs are asked to
stop; resumable ones are handed to the next start instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from stashdesk.clients.errors import ServiceError
from stashdesk.events import JobCreated, JobFinished, JobProgressed
from stashdesk.jobs.base import (
    ACTIVE_STATUSES,
    JOB_TYPES,
    JobCancelled,
    JobContext,
    JobFailed,
    JobInfo,
    JobStatus,
)
from stashdesk.jobs.outcomes import final_message
from stashdesk.store.jobs import (
    get_job,
    insert_job,
    jobs_by_ids,
    reconcile_active_jobs,
    update_job,
)

if TYPE_CHECKING:
    from stashdesk.app import Services

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 5.0


class UnknownJobError(LookupError):
    pass


class _RunningJob:
    __slots__ = (
        "info",
        "ctx",
        "task",
        "last_published",
        "last_persisted",
        "publish_timer",
        "persist_timer",
        "hard_cancel",
        "cancel_reason",
    )

    def __init__(self, info: JobInfo) -> None:
        self.info = info
        self.ctx: JobContext | None = None
        self.task: asyncio.Task[None] | None = None
        self.last_published = 0.0
        self.last_persisted = 0.0
        self.publish_timer: asyncio.TimerHandle | None = None
        self.persist_timer: asyncio.TimerHandle | None = None
        self.hard_cancel: asyncio.TimerHandle | None = None
        self.cancel_reason: str | None = None


class JobRunner:
    """Runs jobs as asyncio tasks, backed by their database rows.

    Attributes:
        active: jobs pending or running in this process, by id.
    """

    def __init__(self, services: Services) -> None:
        self.services = services
        self.store = services.store
        self.bus = services.bus
        self.active: dict[str, _RunningJob] = {}
        self._queue: list[str] = []  # pending job ids, oldest first
        self._waiters: dict[str, list[asyncio.Future[JobInfo]]] = {}
        self._shutting_down = False
        self._started = False

    @property
    def max_concurrent(self) -> int:
        return int(self.services.settings.get("jobs.max_concurrent"))

    # --- start-up ------------------------------------------------------------------------

    async def start(self, *, reconcile: bool = True) -> dict[str, list[str]]:
        """Reconcile rows left by a previous process, then start what can run.

        ``reconcile=False`` leaves those rows alone for the next full engine (a
        short-lived engine, e.g. the CLI running one job, must not run or interrupt
        other people's work).
        """
        now = time.time()
        if not reconcile:
            self._started = True
            return {"requeued": [], "resumed": [], "interrupted": []}

        known = set(JOB_TYPES)
        resumable = {name for name, spec in JOB_TYPES.items() if spec.resumable}
        outcome = await self.store.write(
            lambda: reconcile_active_jobs(ACTIVE_STATUSES, known, resumable, now)
        )
        for job_id in outcome["interrupted"]:
            log.warning("job %s was left running by a previous process: marked interrupted", job_id)
        rows = await self.store.read(
            lambda: [
                JobInfo.from_row(r) for r in jobs_by_ids(outcome["requeued"] + outcome["resumed"])
            ]
        )
        for info in rows:
            self.active[info.id] = _RunningJob(info)
            self._queue.append(info.id)
        self._started = True
        self._pump()
        return outcome

    # --- public API --------------------------------------------------------------------------

    async def submit(
        self,
        job_type: str,
        metadata: dict[str, Any] | None = None,
        *,
        created_by: str | None = None,
        parent_id: str | None = None,
    ) -> JobInfo:
        """Create the job's row, then queue it. Returns the job as created."""
        job_type = str(job_type)
        if job_type not in JOB_TYPES:
            raise UnknownJobError(f"unknown job type {job_type!r}")
        if self._shutting_down:
            raise RuntimeError("StashDesk is shutting down; no new jobs are started")
        info = JobInfo(
            id=str(uuid.uuid4()),
            type=job_type,
            status=JobStatus.PENDING,
            message="Waiting to start",
            metadata=dict(metadata or {}),
            created_by=created_by,
            parent_id=parent_id,
            created_at=time.time(),
        )
        await self.store.write(lambda: insert_job(info.as_row()))
        self.active[info.id] = _RunningJob(info)
        self._queue.append(info.id)
        self.bus.publish(JobCreated(job_id=info.id, job_type=job_type, created_by=created_by))
        self._pump()
        return info

    def snapshot(self, job_id: str) -> JobInfo | None:
        """The in-memory state of a job of this process (None when not active)."""
        running = self.active.get(job_id)
        return running.info if running else None

    async def get(self, job_id: str) -> JobInfo:
        snap = self.snapshot(job_id)
        if snap is not None:
            return snap
        row = await self.store.read(lambda: get_job(job_id))
        if row is None:
            raise UnknownJobError(f"no job with id {job_id}")
        return JobInfo.from_row(row)

    async def wait(self, job_id: str, timeout: float | None = None) -> JobInfo:
        """Wait until the job has finished; returns its final state."""
        if job_id not in self.active:
            info = await self.get(job_id)
            if info.finished:
                return info
            raise UnknownJobError(f"job {job_id} is {info.status} but not run by this process")
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, []).append(future)
        return await asyncio.wait_for(future, timeout)

    async def cancel(self, job_id: str, reason: str = "Cancelled by user") -> JobInfo:
        running = self.active.get(job_id)
        if running is None:
            info = await self.get(job_id)
            if info.finished:
                return info
            raise UnknownJobError(f"job {job_id} is not run by this process")
        info = running.info
        if info.status == JobStatus.PENDING:
            self._queue.remove(job_id)
            await self._finish(running, JobStatus.CANCELLED, error=reason)
            return info
        if info.status == JobStatus.CANCELLING:
            return info
        running.cancel_reason = reason
        info.status = JobStatus.CANCELLING
        info.message = "Cancelling..."
        assert running.ctx is not None
        running.ctx.cancel_requested.set()
        self._publish_progress(running)
        await self._persist(running, status=JobStatus.CANCELLING, message=info.message)
        grace = float(self.services.settings.get("jobs.cancel_grace_seconds"))
        running.hard_cancel = asyncio.get_running_loop().call_later(
            grace, self._hard_cancel, job_id
        )
        return info

    def active_jobs(self) -> list[JobInfo]:
        return [r.info for r in self.active.values()]

    # --- scheduling ---------------------------------------------------------------------------

    def _pump(self) -> None:
        if not self._started or self._shutting_down:
            return
        running = [r for r in self.active.values() if r.task is not None]
        busy_types = {r.info.type for r in running if JOB_TYPES[r.info.type].exclusive}
        for job_id in list(self._queue):
            if len(running) >= self.max_concurrent:
                break
            job = self.active[job_id]
            if job.info.type in busy_types:
                continue
            self._queue.remove(job_id)
            if JOB_TYPES[job.info.type].exclusive:
                busy_types.add(job.info.type)
            running.append(job)
            info = job.info
            resumed = bool(info.metadata.get("resume"))
            info.status = JobStatus.RUNNING
            info.started_at = info.started_at or time.time()
            info.message = "Resuming" if resumed else "Started"
            job.ctx = JobContext(self, info, self.services, resumed=resumed)
            job.task = asyncio.get_running_loop().create_task(
                self._execute(job), name=f"job-{info.type}-{job_id[:8]}"
            )

    async def _execute(self, job: _RunningJob) -> None:
        info = job.info
        spec = JOB_TYPES[info.type]
        ctx = job.ctx
        assert ctx is not None
        status, error = JobStatus.COMPLETED, None
        try:
            await self._persist(
                job, status=info.status, started_at=info.started_at, message=info.message
            )
            self._publish_progress(job)
            result = await spec.run(ctx)
            if result is not None:
                ctx.result.update(result)
        except JobCancelled as exc:
            if self._shutting_down and job.cancel_reason is None:
                status, error = JobStatus.INTERRUPTED, "Interrupted: StashDesk quit while it ran"
            else:
                # A job may say why it was cancelled when nobody here asked (e.g. in Stash).
                status, error = JobStatus.CANCELLED, job.cancel_reason or str(exc) or "Cancelled"
        except asyncio.CancelledError:
            if self._shutting_down:
                status, error = JobStatus.INTERRUPTED, "Interrupted: StashDesk quit while it ran"
            else:
                status = JobStatus.CANCELLED
                error = f"{job.cancel_reason or 'Cancelled'} (stopped hard after the grace period)"
        except (JobFailed, ServiceError) as exc:
            status, error = JobStatus.FAILED, str(exc)
        except Exception as exc:  # a bug in a job must not take the runner down
            log.exception("job %s (%s) failed", info.id, info.type)
            status, error = JobStatus.FAILED, f"{type(exc).__name__}: {exc}"
        if status == JobStatus.INTERRUPTED and spec.resumable:
            await self._hand_over(job)
        else:
            await self._finish(job, status, error=error, result=ctx.result or None)

    def _hard_cancel(self, job_id: str) -> None:
        job = self.active.get(job_id)
        if job is not None and job.task is not None and not job.task.done():
            log.warning("job %s did not stop within the grace period; stopping it hard", job_id)
            job.task.cancel()

    async def _finish(
        self, job: _RunningJob, status: str, *, error: str | None = None, result: Any = None
    ) -> None:
        info = job.info
        for handle in (job.publish_timer, job.persist_timer, job.hard_cancel):
            if handle is not None:
                handle.cancel()
        if error:  # exception texts may quote a secret (a URL with its password...)
            error = self.services.settings.redact(error)
        info.status = status
        info.error = error
        info.result = result
        info.finished_at = time.time()
        if status == JobStatus.COMPLETED:
            info.progress = 100.0
        # How it ended, never the last in-progress text ("Scanning..." on a finished scan).
        info.message = final_message(info.type, status, result, error)
        try:
            await self._persist(
                job,
                status=status,
                error=error,
                result=result,
                finished_at=info.finished_at,
                progress=info.progress,
                message=info.message,
            )
        finally:
            self.active.pop(info.id, None)
            # The last progress may still have been waiting for its throttle slot.
            self._publish_progress(job)
            self.bus.publish(
                JobFinished(
                    job_id=info.id,
                    job_type=info.type,
                    status=status,
                    error=error,
                    result=result,
                    created_by=info.created_by,
                )
            )
            for future in self._waiters.pop(info.id, []):
                if not future.done():
                    future.set_result(info)
            self._pump()

    async def _hand_over(self, job: _RunningJob) -> None:
        """Leave a resumable job for the next start (it re-attaches there)."""
        info = job.info
        metadata = {**job.ctx.metadata, "resume": True} if job.ctx else info.metadata
        await self._persist(
            job,
            status=JobStatus.PENDING,
            metadata=metadata,
            message="Will resume when StashDesk starts again",
        )
        self.active.pop(info.id, None)
        for future in self._waiters.pop(info.id, []):
            if not future.done():
                future.cancel()

    # --- progress --------------------------------------------------------------------------------

    def _report_progress(self, info: JobInfo, percent: float | None, message: str | None) -> None:
        job = self.active.get(info.id)
        if job is None:
            return
        if percent is not None:
            info.progress = max(0.0, min(100.0, float(percent)))
        if message is not None:
            info.message = self.services.settings.redact(message)
        if job.publish_timer is None:
            # Throttled per job: the newest value goes out within PUBLISH_EVERY.
            delay = JobContext.PUBLISH_EVERY - (time.monotonic() - job.last_published)
            if delay <= 0:
                self._publish_now(job)
            else:
                job.publish_timer = asyncio.get_running_loop().call_later(
                    delay, self._publish_now, job
                )

    def _publish_now(self, job: _RunningJob) -> None:
        job.publish_timer = None
        if job.info.id not in self.active:
            return
        job.last_published = time.monotonic()
        self._publish_progress(job)
        if job.persist_timer is None:
            # Written less often than published; the final state is written by _finish.
            delay = JobContext.PERSIST_EVERY - (time.monotonic() - job.last_persisted)
            if delay <= 0:
                self._persist_now(job)
            else:
                job.persist_timer = asyncio.get_running_loop().call_later(
                    delay, self._persist_now, job
                )

    def _persist_now(self, job: _RunningJob) -> None:
        job.persist_timer = None
        if job.info.id not in self.active:
            return
        job.last_persisted = time.monotonic()
        progress, message, job_id = job.info.progress, job.info.message, job.info.id
        self.store.writer.submit(lambda: update_job(job_id, progress=progress, message=message))

    def _publish_progress(self, job: _RunningJob) -> None:
        info = job.info
        self.bus.publish(
            JobProgressed(
                job_id=info.id,
                job_type=info.type,
                status=info.status,
                progress=info.progress,
                message=info.message,
            )
        )

    async def _persist(self, job: _RunningJob, **fields: Any) -> None:
        job_id = job.info.id
        await self.store.write(lambda: update_job(job_id, **fields))

    async def _persist_metadata(self, info: JobInfo, metadata: dict[str, Any]) -> None:
        info.metadata = metadata
        job = self.active.get(info.id)
        if job is not None:
            await self._persist(job, metadata=metadata)

    # --- shutdown ---------------------------------------------------------------------------------

    async def shutdown(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Stop scheduling; hand resumable jobs over to the next start, ask the others
        to stop at a safe point, and interrupt what is still running after ``grace``."""
        self._shutting_down = True
        tasks = []
        for job in self.active.values():
            if job.task is None:
                continue  # pending jobs stay pending: the next start queues them again
            tasks.append(job.task)
            if JOB_TYPES[job.info.type].resumable:
                job.task.cancel()  # the external job keeps running; we re-attach later
            elif job.ctx is not None:
                job.ctx.cancel_requested.set()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=grace)
        self.active.clear()
        self._queue.clear()

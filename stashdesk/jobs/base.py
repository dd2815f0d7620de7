"""Job vocabulary: types, statuses, the context a job runs with, and the registry.

A job type is an async function ``run(ctx) -> result dict`` registered with
``@job_type(JobType.X, ...)``. The runner owns everything else: the row, the
task, progress persistence, cancellation and the final state.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeAlias

from stashdesk.events import DaemonLogged
from stashdesk.store.writer import LogRecord

if TYPE_CHECKING:
    from stashdesk.app import Services
    from stashdesk.jobs.runner import JobRunner

log = logging.getLogger(__name__)


class JobType(StrEnum):
    SYNC = "SYNC"
    ANALYSIS = "ANALYSIS"
    APPLY_PLAN = "APPLY_PLAN"
    STASH_SCAN = "STASH_SCAN"
    STASH_GENERATE = "STASH_GENERATE"
    STASH_IDENTIFY = "STASH_IDENTIFY"
    STASH_AUTO_TAG = "STASH_AUTO_TAG"
    PROCESS_DOWNLOADS = "PROCESS_DOWNLOADS"


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    CANCELLING = "cancelling"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


ACTIVE_STATUSES = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.CANCELLING)
FINAL_STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.INTERRUPTED)


class JobCancelled(Exception):
    """Raised inside a job at a safe point after a cancel was requested."""


class JobFailed(Exception):
    """A job ends as failed with this message (already written for the user)."""


@dataclass
class JobInfo:
    """A job's state, as the database and the runner know it."""

    id: str
    type: str
    status: str
    progress: float = 0.0
    message: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    result: Any = None
    error: str | None = None
    created_by: str | None = None
    parent_id: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    @classmethod
    def from_row(cls, row: Any) -> JobInfo:
        return cls(
            id=row.id,
            type=row.type,
            status=row.status,
            progress=row.progress,
            message=row.message,
            metadata=row.metadata or {},
            result=row.result,
            error=row.error,
            created_by=row.created_by,
            parent_id=row.parent_id,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
        )

    def as_row(self) -> dict[str, Any]:
        return asdict(self)


# A job type's ``async def run(ctx) -> dict``: its result.
JobRun: TypeAlias = "Callable[[JobContext], Awaitable[dict[str, Any]]]"


@dataclass(frozen=True)
class JobTypeSpec:
    type: str
    run: JobRun
    # Two jobs of an exclusive type would fight (two syncs, two applies): one at a time.
    exclusive: bool = False
    # A resumable job left running by a previous process is started again (with
    # ctx.resumed = True) instead of being marked interrupted.
    resumable: bool = False
    description: str = ""


JOB_TYPES: dict[str, JobTypeSpec] = {}


def job_type(
    kind: str, *, exclusive: bool = False, resumable: bool = False, description: str = ""
) -> Callable[[JobRun], JobRun]:
    """Register the decorated ``async def run(ctx) -> dict`` as job type ``kind``."""

    def register(fn: JobRun) -> JobRun:
        JOB_TYPES[str(kind)] = JobTypeSpec(str(kind), fn, exclusive, resumable, description)
        return fn

    return register


class JobLogger(logging.LoggerAdapter[logging.Logger]):
    """A job's logger. Its warnings and errors also reach the live log of the daemon that
    launched the job: a daemon's log must show why its job struggled, not only its own
    lines."""

    def __init__(self, ctx: JobContext, logger: logging.Logger) -> None:
        super().__init__(logger, {})
        self.ctx = ctx

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(level, msg, *args, **kwargs)
        if level >= logging.WARNING:
            self.ctx.tell_daemon(level, str(msg) % args if args else str(msg))


class JobContext:
    """What a running job sees: its metadata, services, progress and cancel token.

    Attributes:
        job_id, job_type, metadata, created_by: from the job's row.
        services: the engine's services (clients, store, settings, bus).
        resumed: True when the job was running when StashDesk last stopped and is
            being picked up again.
        cancel_requested: an asyncio.Event set when someone asked the job to stop.
        result: a dict the job may fill as it goes; kept even if it fails.
    """

    PUBLISH_EVERY = 0.1  # seconds between progress events for one job
    PERSIST_EVERY = 1.0  # seconds between progress writes for one job

    def __init__(
        self, runner: JobRunner, info: JobInfo, services: Services, resumed: bool = False
    ) -> None:
        self._runner = runner
        self._info = info
        self.job_id = info.id
        self.job_type = info.type
        self.metadata: dict[str, Any] = dict(info.metadata)
        self.created_by = info.created_by
        self.services = services
        self.resumed = resumed
        self.cancel_requested = asyncio.Event()
        self.result: dict[str, Any] = {}
        self.log = JobLogger(self, logging.getLogger(f"stashdesk.jobs.{info.type.lower()}"))

    @property
    def cancelled(self) -> bool:
        return self.cancel_requested.is_set()

    def check_cancelled(self) -> None:
        """Call at safe points: raises JobCancelled once a cancel was requested."""
        if self.cancel_requested.is_set():
            raise JobCancelled()

    def progress(self, percent: float | None = None, message: str | None = None) -> None:
        """Report progress (0-100) and/or a message; cheap, throttled, never blocks."""
        self._runner._report_progress(self._info, percent, message)

    def note(self, message: str, level: int = logging.INFO) -> None:
        """Write ``message`` to the job's log: the logger, and ``result["log"]`` (kept with
        the job, shown in its details), with the time it happened."""
        self.log.log(level, "%s", message)
        entries = self.result.setdefault("log", [])
        if len(entries) < 200:
            entries.append(
                {
                    "at": time.time(),
                    "level": logging.getLevelName(level),
                    "message": self.services.settings.redact(message),
                }
            )

    def tell_daemon(self, level: int, message: str) -> None:
        """Add a line to the live log of the daemon that launched this job (if one did)."""
        from stashdesk.jobs.outcomes import job_title  # it reads this module's types

        daemon = self.created_by
        manager = getattr(self.services, "manager", None)
        if not daemon or manager is None or daemon not in manager.handles:
            return
        text = f"{job_title(self.job_type)}: {self.services.settings.redact(message)}"
        name, now = logging.getLevelName(level), time.time()
        self.services.bus.publish(DaemonLogged(daemon=daemon, level=name, message=text, at=now))
        self.services.store.writer.put(LogRecord(daemon, name, text, now))

    async def save_metadata(self, **updates: Any) -> None:
        """Merge ``updates`` into the job's metadata and persist them now."""
        self.metadata.update(updates)
        await self._runner._persist_metadata(self._info, dict(self.metadata))

    def elapsed(self) -> float:
        return time.time() - (self._info.started_at or time.time())

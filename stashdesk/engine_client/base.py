"""The client interface: one engine, as the window and the CLI see it.

An ``EngineClient`` offers the engine's operations (``client.ops``: the methods of
``stashdesk.api.operations.Operations``, same names and arguments, JSON results),
a bus on which the engine's events arrive (``client.bus``), and a live picture of
the daemons and active jobs kept current from those events (``client.mirror``).
Two transports implement it: ``LocalClient`` (the engine runs in this process) and
``RemoteClient`` (the engine API over HTTP and its event stream); pages and
commands cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stashdesk.events import (
    DaemonConfigChanged,
    DaemonHealthChanged,
    DaemonStateChanged,
    DaemonStatusChanged,
    Event,
    EventBus,
    JobCreated,
    JobFinished,
    JobProgressed,
)
from stashdesk.timestamps import from_iso

if TYPE_CHECKING:
    from stashdesk.api.operations import Operations

ACTIVE_JOB_STATUSES = ("pending", "running", "cancelling")


@dataclass(frozen=True, slots=True)
class EngineConnection(Event):
    """Published on a client's bus when its link to the engine changes (never by an
    engine). ``resynced``: the client reloaded its picture after missing events, so
    views should reload what they show."""

    connected: bool
    message: str = ""
    retry_in: float | None = None
    resynced: bool = False


@dataclass
class DaemonView:
    """One daemon as the client knows it now."""

    name: str
    display_name: str
    description: str = ""
    state: str = "stopped"
    running: bool = False
    enabled: bool = False
    auto_start: bool = True
    status: str | None = None
    job_id: str | None = None
    job_type: str | None = None
    phase: str | None = None
    wake_at: float | None = None
    status_at: float | None = None
    last_error: str | None = None
    health: str = "stopped"
    health_reason: str | None = None
    health_setting: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # fields newer engines add

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> DaemonView:
        known = {
            "name",
            "display_name",
            "description",
            "state",
            "running",
            "enabled",
            "auto_start",
            "current_status",
            "current_job_id",
            "current_job_type",
            "current_phase",
            "wake_at",
            "status_updated_at",
            "last_error",
            "config",
            "health",
            "health_reason",
            "health_setting",
        }
        return cls(
            name=row["name"],
            display_name=row.get("display_name") or row["name"],
            description=row.get("description") or "",
            state=row.get("state", "stopped"),
            running=bool(row.get("running", row.get("state") != "stopped")),
            enabled=bool(row.get("enabled")),
            auto_start=bool(row.get("auto_start", True)),
            status=row.get("current_status"),
            job_id=row.get("current_job_id"),
            job_type=row.get("current_job_type"),
            phase=row.get("current_phase"),
            wake_at=from_iso(row.get("wake_at")),
            status_at=from_iso(row.get("status_updated_at")),
            last_error=row.get("last_error"),
            health=row.get("health", "stopped"),
            health_reason=row.get("health_reason"),
            health_setting=row.get("health_setting"),
            config=dict(row.get("config") or {}),
            extra={k: v for k, v in row.items() if k not in known},
        )

    def status_event(self) -> DaemonStatusChanged | None:
        """The current status as the event that would have brought it (None: cleared)."""
        if self.status is None:
            return None
        return DaemonStatusChanged(
            daemon=self.name,
            message=self.status,
            job_id=self.job_id,
            job_type=self.job_type,
            phase=self.phase,
            wake_at=self.wake_at,
            at=self.status_at or 0.0,
        )


@dataclass
class JobView:
    """A job pending or running in the engine."""

    id: str
    type: str
    status: str
    progress: float = 0.0
    message: str | None = None
    created_by: str | None = None
    created_at: float | None = None
    started_at: float | None = None

    @classmethod
    def from_json(cls, row: dict[str, Any]) -> JobView:
        return cls(
            id=row["id"],
            type=row["type"],
            status=row["status"],
            progress=float(row.get("progress") or 0.0),
            message=row.get("message"),
            created_by=row.get("created_by"),
            created_at=from_iso(row.get("created_at")),
            started_at=from_iso(row.get("started_at")),
        )


class EngineMirror:
    """The daemons and active jobs of one engine, kept current from its events.

    Attributes:
        daemons: DaemonView by name, in the engine's order.
        jobs: JobView of every pending or running job, by id.
    """

    def __init__(self) -> None:
        self.daemons: dict[str, DaemonView] = {}
        self.jobs: dict[str, JobView] = {}

    def load(self, daemons: list[dict[str, Any]], jobs: list[dict[str, Any]]) -> None:
        self.daemons = {row["name"]: DaemonView.from_json(row) for row in daemons}
        self.jobs = {
            row["id"]: JobView.from_json(row)
            for row in jobs
            if row["status"] in ACTIVE_JOB_STATUSES
        }

    def display_name(self, name: str | None) -> str:
        if not name:
            return ""
        daemon = self.daemons.get(name)
        return daemon.display_name if daemon is not None else name

    def apply(self, event: Event) -> None:
        """Bring the picture up to date with one event (a bus listener)."""
        handler = self._handlers.get(type(event))
        if handler is not None:
            handler(self, event)

    def _status(self, event: DaemonStatusChanged) -> None:
        daemon = self.daemons.get(event.daemon)
        if daemon is not None:
            daemon.status, daemon.job_id, daemon.job_type = (
                event.message,
                event.job_id,
                event.job_type,
            )
            daemon.phase, daemon.wake_at, daemon.status_at = event.phase, event.wake_at, event.at

    def _state(self, event: DaemonStateChanged) -> None:
        daemon = self.daemons.get(event.daemon)
        if daemon is not None:
            daemon.state = event.state
            daemon.running = event.state != "stopped"
            if event.error:
                daemon.last_error = event.error

    def _health(self, event: DaemonHealthChanged) -> None:
        daemon = self.daemons.get(event.daemon)
        if daemon is not None:
            daemon.health, daemon.health_reason = event.health, event.reason
            daemon.health_setting = event.setting

    def _config(self, event: DaemonConfigChanged) -> None:
        daemon = self.daemons.get(event.daemon)
        if daemon is not None:
            daemon.enabled, daemon.auto_start = event.enabled, event.auto_start
            daemon.config = dict(event.config)

    def _created(self, event: JobCreated) -> None:
        self.jobs.setdefault(
            event.job_id,
            JobView(
                id=event.job_id,
                type=event.job_type,
                status="pending",
                created_by=event.created_by,
                created_at=event.at,
            ),
        )

    def _progressed(self, event: JobProgressed) -> None:
        job = self.jobs.get(event.job_id)
        if job is None:
            job = self.jobs[event.job_id] = JobView(
                id=event.job_id, type=event.job_type, status=event.status
            )
        job.status, job.progress = event.status, event.progress
        if event.message is not None:
            job.message = event.message
        if job.started_at is None and event.status != "pending":
            job.started_at = event.at

    def _finished(self, event: JobFinished) -> None:
        self.jobs.pop(event.job_id, None)

    _handlers: dict[type[Event], Callable[[EngineMirror, Any], None]] = {
        DaemonStatusChanged: _status,
        DaemonStateChanged: _state,
        DaemonHealthChanged: _health,
        DaemonConfigChanged: _config,
        JobCreated: _created,
        JobProgressed: _progressed,
        JobFinished: _finished,
    }


class EngineClient:
    """An engine, wherever it runs (see the module docstring).

    Attributes:
        ops: the engine's operations (``Operations``' methods).
        bus: where the engine's events, and ``EngineConnection`` changes, arrive.
        mirror: the EngineMirror kept current from ``bus``.
        info: what the engine said of itself when the client started (``engine_info``).
        label: how to name the engine to people ("This computer", "nas:8765").
        remote: whether the engine runs in another process.
        connected: whether the client's link to the engine is up.
    """

    remote = False

    def __init__(self, ops: Operations, bus: EventBus, label: str) -> None:
        self.ops = ops
        self.bus = bus
        self.label = label
        self.mirror = EngineMirror()
        self.info: dict[str, Any] = {}
        self.connected = False
        self._unlisten: Callable[[], None] | None = None

    async def start(self) -> None:
        """Load what the engine is and its current picture; follow its events."""
        self.info = await self.ops.engine_info()
        await self.follow()

    async def follow(self) -> None:
        """Keep the mirror current from the bus, starting from a fresh picture."""
        if self._unlisten is None:
            self._unlisten = self.bus.listen(self.mirror.apply)
        await self.reload()
        self.connected = True

    async def reload(self) -> None:
        """Load the daemons and active jobs afresh (after missing events)."""
        self.mirror.load(await self.ops.list_daemons(), await self.ops.active_jobs())

    async def close(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        self.connected = False

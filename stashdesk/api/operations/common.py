"""What every group of operations shares: the base class, argument checks, JSON shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from stashdesk.api.limits import MAX_PAGE
from stashdesk.engine_client.errors import (
    BadRequest,
    EngineNotRunning,
    NotFound,
)
from stashdesk.events import LOG_LEVELS as LOG_LEVELS  # declared with the events
from stashdesk.jobs.outcomes import describe
from stashdesk.store.lookups import SQLITE_INT_MAX, ValueOutOfRange, check_int
from stashdesk.timeline import KINDS as TIMELINE_KINDS
from stashdesk.timestamps import iso

if TYPE_CHECKING:
    from stashdesk.app import Services
    from stashdesk.daemons.manager import DaemonHandle
    from stashdesk.events import EventBus
    from stashdesk.store import Store

DAEMON_ACTIONS = ("start", "stop", "restart")


def job_as_json(row: Any) -> dict[str, Any]:
    """A job row (or a runner's JobInfo) as the CLI and the API show it, with the
    readable fields of ``stashdesk.jobs.outcomes.describe`` (title, summary, failures,
    failure_summary, failed_items)."""
    return {
        "id": row.id,
        "type": row.type,
        "status": row.status,
        "progress": row.progress,
        "message": row.message,
        "created_by": row.created_by,
        "parent_id": row.parent_id,
        "created_at": iso(row.created_at),
        "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at),
        "metadata": row.metadata,
        "result": row.result,
        "error": row.error,
        **describe(row.type, row.status, row.result, row.error),
    }


def with_iso_times(item: dict[str, Any]) -> dict[str, Any]:
    return {k: iso(v) if k.endswith("_at") else v for k, v in item.items()}


def encode_cursor(parts: tuple[Any, ...]) -> str:
    """A keyset position as the opaque text a page's ``next`` carries."""
    return "|".join(repr(p) if isinstance(p, float) else str(p) for p in parts)


def decode_cursor(text: Any, size: int) -> tuple[Any, ...] | None:
    """``(at, id[, kind])`` from ``encode_cursor``'s text; BadRequest when it is not."""
    if text is None or text == "":
        return None
    parts = str(text).split("|")
    try:
        if len(parts) != size:
            raise ValueError
        decoded: list[Any] = [float(parts[0]), int(parts[1]), *parts[2:]]
        if size == 3 and decoded[2] not in TIMELINE_KINDS:
            raise ValueError
    except ValueError:
        raise BadRequest(f"not a cursor from a previous page: {text!r}") from None
    return tuple(decoded)


def check_limit(limit: Any, name: str = "limit", maximum: int = MAX_PAGE) -> int:
    """A page size from outside: a whole number from 1 to ``maximum``."""
    try:
        return check_int(limit, name, minimum=1, maximum=maximum)
    except ValueOutOfRange as exc:
        raise BadRequest(str(exc)) from None


def check_id(value: Any, what: str) -> int:
    """A database id from outside (plan, change): a positive whole number in SQLite's range
    (beyond it there is no such row)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > SQLITE_INT_MAX:
        raise NotFound(f"no {what} {value}")
    try:
        return check_int(value, what, minimum=1)
    except ValueOutOfRange as exc:
        raise BadRequest(str(exc)) from None


def float_cursor(value: Any, name: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BadRequest(
            f"{name} must be a time in POSIX seconds (a cursor from "
            f"the previous page), not {value!r}"
        ) from None
    if number != number or number in (float("inf"), float("-inf")):
        raise BadRequest(f"{name} must be a finite number")
    return number


class WindowHooks(Protocol):
    """What a window hosting the engine offers the API (a second start raises it)."""

    def status(self) -> dict[str, Any]: ...

    def show(self) -> dict[str, Any]: ...


class OperationsBase:
    """The services the operations act on (see ``Operations``).

    Attributes:
        services: the engine's Services.
        live: True in a running engine; False for a CLI on a data folder without one.
        window: the hosting window's hooks (None: headless).
        health_monitor: the engine's HealthMonitor (None: checks run on demand).
    """

    def __init__(
        self,
        services: Services,
        *,
        live: bool = True,
        info: Callable[[], dict[str, Any]] | None = None,
    ) -> None:
        self.services = services
        self.live = live
        self._info = info or (lambda: {})
        self.window: WindowHooks | None = None
        self.health_monitor: Any = None  # the engine's HealthMonitor (None: run on demand)

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def bus(self) -> EventBus:
        return self.services.bus

    def _need_engine(self, what: str) -> None:
        if not self.live:
            raise EngineNotRunning(
                f"no StashDesk engine is running for {self.services.data_dir} - start one with "
                f"`stashdesk` or `stashdesk --headless` ({what} needs it)"
            )

    def _handle(self, name: Any) -> DaemonHandle:
        handle = self.services.manager.handles.get(name) if isinstance(name, str) else None
        if handle is None:
            known = ", ".join(self.services.manager.handles) or "none"
            raise NotFound(f"unknown daemon {name!r} (known: {known})")
        return handle

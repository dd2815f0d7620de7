"""A small, Qt-free event bus with typed events.

Publishing never blocks and never awaits a subscriber:

- *listeners* are plain callables run inline by ``publish``; they must be cheap
  (the Qt bridge only emits a queued signal). An exception in one is logged and
  the others still run.
- *subscriptions* are async iterators backed by an unbounded deque; ``publish``
  appends and wakes the reader. A slow reader delays only itself.

``publish`` must be called on the event loop's thread; code running in a worker
thread hands events over with ``publish_threadsafe``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

log = logging.getLogger(__name__)

# the levels of a daemon's log lines (DaemonLogged.level), least severe first
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True, slots=True)
class Event:
    at: float = field(default_factory=time.time, kw_only=True)


@dataclass(frozen=True, slots=True)
class DaemonStatusChanged(Event):
    daemon: str
    message: str | None  # None: the status was cleared (daemon stopped)
    job_id: str | None = None
    job_type: str | None = None
    phase: str | None = None  # working | sleeping | waiting
    wake_at: float | None = None  # when a sleeping daemon checks again


@dataclass(frozen=True, slots=True)
class DaemonStateChanged(Event):
    daemon: str
    state: str  # running | stopped | error
    error: str | None = None


@dataclass(frozen=True, slots=True)
class DaemonHealthChanged(Event):
    """How a daemon is faring, besides its run state.

    ``health``: ok | retrying (its last pass failed; it will retry) | error (crashed;
    restarting with back-off) | stalled (no sign of life, or its job made no progress,
    for longer than expected) | stopped. ``reason`` says why, with the remedy;
    ``setting`` names the setting that fixes it, when one does.
    """

    daemon: str
    health: str
    reason: str | None = None
    setting: str | None = None


@dataclass(frozen=True, slots=True)
class DaemonLogged(Event):
    daemon: str
    level: str
    message: str


@dataclass(frozen=True, slots=True)
class DaemonJobActionTracked(Event):
    daemon: str
    job_id: str
    action: str
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class JobCreated(Event):
    job_id: str
    job_type: str
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class JobProgressed(Event):
    job_id: str
    job_type: str
    status: str
    progress: float
    message: str | None = None


@dataclass(frozen=True, slots=True)
class JobFinished(Event):
    job_id: str
    job_type: str
    status: str  # completed | failed | cancelled | interrupted
    error: str | None = None
    result: Any = None
    created_by: str | None = None


@dataclass(frozen=True, slots=True)
class DaemonConfigChanged(Event):
    """A daemon's saved configuration or its enabled/auto-start flags changed."""

    daemon: str
    enabled: bool
    auto_start: bool
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PlanChanged(Event):
    """A plan or some of its changes were reviewed, edited, cancelled or applied."""

    plan_id: int
    status: str | None = None


@dataclass(frozen=True, slots=True)
class SettingsChanged(Event):
    """Settings were saved or reset (their keys; never their values: some are secrets)."""

    keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HealthChecked(Event):
    """The health checks ran; ``checks``: their results (check, ok, message, remedy,
    setting)."""

    checks: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Notification(Event):
    """Something a user should hear about (the tray shows it)."""

    kind: str  # job_failed | job_completed | daemon_crashed | daemon_recovered | ...
    title: str
    message: str
    failure: bool = False  # failures and successes are switched on separately
    job_id: str | None = None


Listener = Callable[[Event], None]
E = TypeVar("E", bound=Event)

# Every event type by name: the engine API's event stream names them so.
EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        DaemonStatusChanged,
        DaemonStateChanged,
        DaemonHealthChanged,
        DaemonLogged,
        DaemonJobActionTracked,
        DaemonConfigChanged,
        JobCreated,
        JobProgressed,
        JobFinished,
        PlanChanged,
        SettingsChanged,
        HealthChecked,
        Notification,
    )
}
_FIELDS: dict[type[Event], tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in EVENT_TYPES.values()
}


def event_to_json(event: Event, seq: int) -> str:
    """An event as one JSON object of the engine API's event stream.

    ``type`` names its class, ``seq`` is its number in the stream, the other keys are
    its fields (times in POSIX seconds).
    """
    item: dict[str, Any] = {"seq": seq, "type": type(event).__name__}
    for name in _FIELDS[type(event)]:
        item[name] = getattr(event, name)
    return json.dumps(item, separators=(",", ":"), default=str)


def event_from_json(item: dict[str, Any]) -> Event | None:
    """The event ``event_to_json`` wrote; None for a type this version does not know."""
    cls = EVENT_TYPES.get(item.get("type", ""))
    if cls is None:
        return None
    values = {name: item[name] for name in _FIELDS[cls] if name in item}
    for name in ("keys", "checks"):  # tuples travel as JSON lists
        if name in values:
            values[name] = tuple(values[name] or ())
    return cls(**values)


class Subscription:
    """An async iterator over the events published after it was opened."""

    def __init__(self, bus: EventBus, types: tuple[type[Event], ...]) -> None:
        self._bus = bus
        self.types = types
        self._pending: deque[Event] = deque()
        self._wakeup = asyncio.Event()
        self.closed = False

    def _deliver(self, event: Event) -> None:
        self._pending.append(event)
        self._wakeup.set()

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        while not self._pending:
            if self.closed:
                raise StopAsyncIteration
            self._wakeup.clear()
            await self._wakeup.wait()
        return self._pending.popleft()

    def drain(self) -> list[Event]:
        """Everything delivered so far, without waiting."""
        events = list(self._pending)
        self._pending.clear()
        return events

    def close(self) -> None:
        self.closed = True
        self._wakeup.set()
        self._bus._subscriptions.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._listeners: list[tuple[tuple[type[Event], ...], Listener]] = []
        self._subscriptions: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    @overload
    def listen(self, listener: Listener) -> Callable[[], None]: ...

    @overload
    def listen(
        self, listener: Callable[[E], None], type_: type[E], /, *types: type[E]
    ) -> Callable[[], None]: ...

    def listen(self, listener: Callable[[Any], None], *types: type[Event]) -> Callable[[], None]:
        """Call ``listener`` inline for each event of ``types`` (all when empty).

        Returns a function that removes the listener.
        """
        entry = (types or (Event,), listener)
        self._listeners.append(entry)
        return lambda: self._listeners.remove(entry) if entry in self._listeners else None

    def subscribe(self, *types: type[Event]) -> Subscription:
        sub = Subscription(self, types or (Event,))
        self._subscriptions.add(sub)
        return sub

    def publish(self, event: Event) -> None:
        for types, listener in tuple(self._listeners):
            if isinstance(event, types):
                try:
                    listener(event)
                except Exception:  # a failing subscriber is logged, never fatal
                    log.exception("event listener %r failed on %s", listener, type(event).__name__)
        for sub in tuple(self._subscriptions):
            if isinstance(event, sub.types):
                sub._deliver(event)

    def publish_threadsafe(self, event: Event) -> None:
        if self._loop is None:
            raise RuntimeError("EventBus.bind_loop() was not called")
        self._loop.call_soon_threadsafe(self.publish, event)

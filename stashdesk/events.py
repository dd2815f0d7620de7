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
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


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
class Notification(Event):
    """Something a user should hear about (the tray shows it)."""

    kind: str  # job_failed | job_completed | daemon_crashed | daemon_recovered | ...
    title: str
    message: str
    failure: bool = False  # failures and successes are switched on separately
    job_id: str | None = None


Listener = Callable[[Event], None]


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

    def listen(self, listener: Listener, *types: type[Event]) -> Callable[[], None]:
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

"""The event stream's memory: every bus event numbered, the recent ones kept.

Each engine run has an ``instance`` id; events get sequence numbers from 1. A
client that reconnects with the instance and the last number it saw gets what it
missed, or, when those events have already left the buffer (or the engine
restarted), is told to reload a snapshot. Nothing is silently lost.

Publishing costs one append: events are turned into JSON only when a subscriber
first reads them, once for all subscribers.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

from stashdesk.events import Event, EventBus, event_to_json

CAPACITY = 20_000


class EventLog:
    """Attributes:
    instance: this engine run's id.
    last_seq: the number of the newest event (0 before the first).
    """

    def __init__(self, bus: EventBus, capacity: int = CAPACITY) -> None:
        self.instance = secrets.token_hex(8)
        self.capacity = capacity
        self.last_seq = 0
        self._events: list[Event | None] = [None] * capacity
        self._texts: list[str | None] = [None] * capacity
        self._waiters: set[asyncio.Event] = set()
        self._unlisten: Callable[[], None] | None = bus.listen(self._append)

    def close(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        for waiter in self._waiters:
            waiter.set()

    def _append(self, event: Event) -> None:
        self.last_seq += 1
        slot = self.last_seq % self.capacity
        self._events[slot] = event
        self._texts[slot] = None
        for waiter in self._waiters:
            waiter.set()

    @property
    def first_seq(self) -> int:
        """The oldest number still kept."""
        return max(1, self.last_seq - self.capacity + 1)

    def can_replay(self, after: int) -> bool:
        """Whether every event after number ``after`` is still kept."""
        return 0 <= after <= self.last_seq and after + 1 >= self.first_seq

    def read(self, after: int, limit: int = 2000) -> list[str]:
        """JSON texts of the events after number ``after`` (at most ``limit``); call
        ``can_replay`` first."""
        end = min(self.last_seq, after + limit)
        texts = []
        for seq in range(after + 1, end + 1):
            slot = seq % self.capacity
            text = self._texts[slot]
            if text is None:
                event = self._events[slot]
                assert event is not None
                text = self._texts[slot] = event_to_json(event, seq)
            texts.append(text)
        return texts

    async def wait(self, after: int, timeout: float | None = None) -> None:
        """Return once there is an event after number ``after`` (or on timeout/close)."""
        if self.last_seq > after:
            return
        waiter = asyncio.Event()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)

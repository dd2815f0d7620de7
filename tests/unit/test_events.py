"""The event bus: typed events, listeners and subscriptions that never block publishing."""

from __future__ import annotations

import asyncio
import logging

from stashdesk.events import DaemonStatusChanged, EventBus, JobProgressed, Notification


async def test_listeners_get_their_types_only_and_a_failing_one_is_logged(caplog) -> None:
    bus = EventBus()
    seen: list = []

    def broken(event) -> None:
        raise ValueError("subscriber bug")

    bus.listen(broken, DaemonStatusChanged)
    bus.listen(seen.append, DaemonStatusChanged)
    with caplog.at_level(logging.ERROR, logger="stashdesk.events"):
        bus.publish(DaemonStatusChanged(daemon="d", message="hi"))
        bus.publish(JobProgressed(job_id="j", job_type="SYNC", status="running", progress=5))
    assert [e.message for e in seen] == ["hi"]
    assert "subscriber bug" in caplog.text


async def test_unlisten_stops_delivery() -> None:
    bus = EventBus()
    seen: list = []
    unlisten = bus.listen(seen.append)
    bus.publish(Notification(kind="k", title="t", message="m"))
    unlisten()
    bus.publish(Notification(kind="k", title="t", message="m"))
    assert len(seen) == 1


async def test_publish_does_not_wait_for_a_slow_subscriber() -> None:
    bus = EventBus()
    sub = bus.subscribe(DaemonStatusChanged)
    for i in range(10_000):  # nobody reads yet: publishing must still return at once
        bus.publish(DaemonStatusChanged(daemon="d", message=str(i)))
    first = await asyncio.wait_for(sub.__anext__(), 1)
    assert first.message == "0"
    rest = sub.drain()
    assert len(rest) == 9_999 and rest[-1].message == "9999"
    sub.close()
    assert [e async for e in sub] == []


async def test_publish_threadsafe_reaches_the_loop() -> None:
    bus = EventBus()
    bus.bind_loop(asyncio.get_running_loop())
    sub = bus.subscribe()
    await asyncio.to_thread(
        bus.publish_threadsafe, Notification(kind="k", title="t", message="from a thread")
    )
    event = await asyncio.wait_for(sub.__anext__(), 1)
    assert event.message == "from a thread"

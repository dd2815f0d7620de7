"""Benchmark the status path: update_status -> bus -> batched writer -> SQLite.

Five daemons issue status updates as fast as they can (20,000 in all by default)
on one event loop. Printed:

- mean and p99 cost of one ``update_status`` call (target: mean < 100 us);
- p99 delay from the call to a bus subscriber, both an inline listener (the path
  the window's bridge uses) and an async subscription (target: p99 < 1 ms);
- time from the last call until every row is durable (target: < 1 s);
- rows lost (must be 0).

By default every secret the redaction must mask is set (an API key, a password and
credentials inside the three URL settings), so each call pays for masking them;
``--no-secrets`` measures without.

Usage: python benchmarks/status_path.py [--total 20000] [--daemons 5] [--no-secrets]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("STASHDESK_NO_KEYRING", "1")

from stashdesk.app import Engine
from stashdesk.daemons.base import BaseDaemon
from stashdesk.events import DaemonStatusChanged
from stashdesk.store.models import Daemon, DaemonStatus


class BenchDaemon(BaseDaemon):
    name = "bench"
    display_name = "Bench"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


SECRETS = {
    "stash.api_key": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.bench",
    "qbittorrent.password": "qbt-p@ss word",
    "stash.url": "http://alice:st%40sh-pass@nas:9999",
    "qbittorrent.url": "http://bob:qbt%2Fproxy@nas:8080",
    "analysis.video_server_url": "http://carol:ai-pass@gpu:8084",
}


async def run(total: int, daemons: int, yield_every: int, secrets: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp), use_keyring=False)
        services = await engine.start(auto_start=False, control=False)
        if secrets:
            await services.store.write(
                lambda: [services.settings.set(k, v) for k, v in SECRETS.items()]
            )
        names = [f"bench-{i}" for i in range(daemons)]
        await services.store.write(lambda: [Daemon.create(name=n) for n in names])
        instances = []
        for name in names:
            d = BenchDaemon(services)
            d.name = name
            instances.append(d)

        sent_at: dict[tuple[str, int], int] = {}
        inline_delays: list[float] = []
        async_delays: list[float] = []

        def listener(event: DaemonStatusChanged) -> None:
            key = (event.daemon, int(event.message.rsplit(" ", 1)[1]))
            inline_delays.append((time.perf_counter_ns() - sent_at[key]) / 1e3)

        services.bus.listen(listener, DaemonStatusChanged)
        subscription = services.bus.subscribe(DaemonStatusChanged)
        per_daemon = total // daemons

        async def consume() -> None:
            received = 0
            async for event in subscription:
                key = (event.daemon, int(event.message.rsplit(" ", 1)[1]))
                async_delays.append((time.perf_counter_ns() - sent_at[key]) / 1e3)
                received += 1
                if received == per_daemon * daemons:
                    return

        costs: list[float] = []

        async def publish(daemon: BaseDaemon) -> None:
            for i in range(per_daemon):
                start = time.perf_counter_ns()
                sent_at[(daemon.name, i)] = start
                await daemon.update_status(f"Processing item {i}")
                costs.append((time.perf_counter_ns() - start) / 1e3)
                if i % yield_every == 0:
                    await asyncio.sleep(0)  # a real daemon awaits I/O between statuses

        consumer = asyncio.create_task(consume())
        started = time.perf_counter()
        await asyncio.gather(*(publish(d) for d in instances))
        last_call = time.perf_counter()
        await services.store.writer.flush_async()
        durable = time.perf_counter() - last_call
        await asyncio.wait_for(consumer, 10)
        stored = await services.store.read(
            lambda: DaemonStatus.select().where(DaemonStatus.daemon.in_(names)).count()
        )
        batches = services.store.writer.batches_written
        await engine.stop()

    issued = per_daemon * daemons
    print(f"secrets to mask              : {len(SECRETS) if secrets else 0} settings")
    print(
        f"status updates issued        : {issued} by {daemons} daemons "
        f"in {last_call - started:.3f} s"
    )
    print(
        f"update_status cost           : mean {statistics.mean(costs):.1f} us, "
        f"p50 {percentile(costs, 50):.1f} us, p99 {percentile(costs, 99):.1f} us "
        f"(target mean < 100 us)"
    )
    print(
        f"call -> inline listener      : p50 {percentile(inline_delays, 50):.1f} us, "
        f"p99 {percentile(inline_delays, 99):.1f} us (target p99 < 1000 us)"
    )
    print(
        f"call -> async subscriber     : p50 {percentile(async_delays, 50):.1f} us, "
        f"p99 {percentile(async_delays, 99):.1f} us (yield every {yield_every} calls)"
    )
    print(
        f"last call -> all rows durable: {durable * 1000:.1f} ms (target < 1000 ms), "
        f"{batches} write batches"
    )
    print(f"rows lost                    : {issued - stored} (must be 0)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=20_000)
    parser.add_argument("--daemons", type=int, default=5)
    parser.add_argument("--yield-every", type=int, default=10)
    parser.add_argument("--no-secrets", action="store_true", help="measure without secrets to mask")
    args = parser.parse_args()
    asyncio.run(run(args.total, args.daemons, args.yield_every, not args.no_secrets))


if __name__ == "__main__":
    main()

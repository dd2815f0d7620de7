"""Benchmark the SYNC job: 50,000 scenes from a Stash stand-in on loopback.

The stand-in (tests/standins/stash_server.py) runs in a separate process, so its
own work does not count against StashDesk's event loop. It is seeded with
``--scenes`` scenes (3 tags, 2 performers, 1 studio, 1 file each; three scenes
per second of ``updated_at``). Printed:

- scenes per second for a first (full) sync into an empty database;
- the ratio of that sync's time to the time to merely fetch the same pages with
  the same client and the same paging (target <= 1.5);
- the event loop's lag during the sync, p99 and max (target p99 < 25 ms), from a
  task that asks to wake every 5 ms;
- peak RSS of the StashDesk process;
- the time of a second, incremental sync with nothing changed.

Usage: python benchmarks/sync.py [--scenes 50000] [--page-size 250]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("STASHDESK_NO_KEYRING", "1")

from stashdesk.app import Engine
from stashdesk.clients.stash import StashClient
from stashdesk.jobs.sync import _SceneSync
from stashdesk.store.models import Scene, SceneTag


def serve_standin(scenes: int, conn: Any) -> None:
    """Child process: seed a stand-in, report its address, serve until told to stop."""
    sys.path.insert(0, str(ROOT))
    from tests.standins.stash_server import StashStandin

    server = StashStandin()
    server.freeze_time("2026-01-01T00:00:00")
    tags = [f"Tag {i}" for i in range(60)]
    performers = [f"Performer {i}" for i in range(40)]
    studios = [f"Studio {i}" for i in range(12)]
    for i in range(scenes):
        server.add_scene(
            f"Scene {i}", f"/data/videos/{i // 1000:03d}/scene-{i}.mp4",
            tags=[tags[i % 60], tags[(i * 7 + 1) % 60], tags[(i * 13 + 2) % 60]],
            performers=[performers[i % 40], performers[(i * 3 + 1) % 40]],
            studio=studios[i % 12], details=f"Details of scene {i}", rating100=i % 100,
        )
        if i % 3 == 2:
            server.advance(1)
    server.start()
    conn.send(server.url)
    conn.recv()  # any message: stop
    server.stop()


class _FetchOnly(_SceneSync):
    """The SYNC job's paging with the writing left out: the cost of fetching alone."""

    async def _store(self, scenes: list[dict[str, Any]]) -> None:
        self.done += len(scenes)


class _QuietContext:
    def progress(self, *_args: Any) -> None:
        pass

    def check_cancelled(self) -> None:
        pass


async def measure_lag(lags: list[float], stop: asyncio.Event, every: float = 0.005) -> None:
    while not stop.is_set():
        asked = time.perf_counter()
        await asyncio.sleep(every)
        lags.append(time.perf_counter() - asked - every)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


async def run(url: str, scenes: int, page_size: int) -> None:
    client = StashClient(url, timeout=120)
    fetcher = _FetchOnly(_QuietContext(), client, page_size)  # type: ignore[arg-type]
    started = time.perf_counter()
    await fetcher.run(None)
    fetch_time = time.perf_counter() - started
    await client.aclose()
    assert fetcher.done >= scenes, fetcher.done

    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(Path(tmp), use_keyring=False)
        services = await engine.start(auto_start=False, control=False)
        await services.store.write(lambda: services.settings.set("stash.url", url))
        await services.store.write(lambda: services.settings.set("stash.timeout", 120))
        lags: list[float] = []
        stop = asyncio.Event()
        monitor = asyncio.create_task(measure_lag(lags, stop))
        started = time.perf_counter()
        job = await services.runner.submit("SYNC", {"page_size": page_size})
        outcome = await services.runner.wait(job.id)
        sync_time = time.perf_counter() - started
        stop.set()
        await monitor
        assert outcome.status == "completed", outcome.error
        stored = await services.store.read(lambda: (Scene.select().count(),
                                                    SceneTag.select().count()))
        started = time.perf_counter()
        again = await services.runner.wait(
            (await services.runner.submit("SYNC", {"page_size": page_size})).id)
        incremental_time = time.perf_counter() - started
        await engine.stop()

    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = outcome.result
    print(f"scenes in Stash              : {scenes} (page size {page_size})")
    print(f"full sync                    : {sync_time:.1f} s, {scenes / sync_time:.0f} scenes/s "
          f"(created {result['created']}, failed {result['failed']}; stored {stored[0]} "
          f"scenes, {stored[1]} scene tags)")
    print(f"fetch only, same pages       : {fetch_time:.1f} s")
    print(f"sync / fetch                 : {sync_time / fetch_time:.2f} (target <= 1.5)")
    print(f"event loop lag during sync   : p50 {percentile(lags, 50) * 1000:.1f} ms, "
          f"p99 {percentile(lags, 99) * 1000:.1f} ms, max {max(lags) * 1000:.1f} ms "
          f"({len(lags)} samples; target p99 < 25 ms)")
    print(f"peak RSS (StashDesk process) : {peak_kb / 1024:.0f} MiB")
    print(f"incremental sync, no changes : {incremental_time:.2f} s "
          f"(unchanged {again.result['unchanged']}, synced {again.result['synced']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=250)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=serve_standin, args=(args.scenes, child), daemon=True)
    process.start()
    try:
        if not parent.poll(600):
            raise SystemExit("the stand-in did not start within 10 minutes")
        url = parent.recv()
        asyncio.run(run(url, args.scenes, args.page_size))
    finally:
        parent.send("stop")
        process.join(30)
        if process.is_alive():
            process.terminate()


if __name__ == "__main__":
    main()

"""Benchmark the SYNC job against a Stash stand-in on loopback.

The stand-in (tests/standins/stash_server.py) runs in a separate process, so its
own work does not count against StashDesk's event loop. It is seeded with
``--scenes`` scenes (3 tags, 2 performers, 1 studio, 1 file each; three scenes
per second of ``updated_at``). With ``--fast-server`` it answers ``findScenes``
from pages pre-built once (tests/standins/stash_pages.py: each scene's JSON
rendered through the stand-in's own execution of StashDesk's document, cached
under ``benchmarks/.cache``), so the server is never the bottleneck. Printed:

- how fast the stand-in alone is: the same requests replayed, bodies not parsed;
- fetch-only: a bare httpx client fetching the same pages with the project's own
  ``FindScenes`` document and keyset paging, parsing the JSON with json (and, as
  StashClient does, with orjson);
- a first (full) SYNC into an empty database: time, scenes/s, sync/fetch ratio
  (target <= 1.2), the event loop's lag p50/p99/max from a task that asks to wake
  every 5 ms (target p99 < 25 ms), peak RSS of this process (target < 350 MB),
  and the database's size per 100,000 scenes;
- an incremental SYNC after 10 scenes changed (target < 1 s) and the idle check
  after it (requests, seconds);
- ``--bulk N``: a second library whose newest ``N`` scenes share one second of
  ``updated_at`` (a bulk import a minute before the sync): its sync, the idle checks
  after it, and an edit of one of its scenes (the check, the sync).

``STASHDESK_BENCH_ENGINE=/path/to/checkout`` measures that checkout's engine against
this stand-in (a before/after on the same machine at the same time).

Usage: python benchmarks/sync.py [--scenes 50000] [--page-size 250] [--fast-server]
                                 [--bulk 12743]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import inspect
import json
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
if os.environ.get("STASHDESK_BENCH_ENGINE"):  # another checkout's engine, for before/after
    sys.path.insert(0, os.environ["STASHDESK_BENCH_ENGINE"])
os.environ.setdefault("STASHDESK_NO_KEYRING", "1")

import httpx
import orjson

from stashdesk.app import Engine
from stashdesk.clients import stash_documents as docs
from stashdesk.jobs.sync import at_or_after, count_pending_scenes, in_second, newer_than
from stashdesk.store.models import Scene, SceneTag

CACHE = ROOT / "benchmarks" / ".cache"


# --- the stand-in (child process) ----------------------------------------------------------


def seed(server: Any, scenes: int, bulk: int) -> None:
    tags = [f"Tag {i}" for i in range(60)]
    performers = [f"Performer {i}" for i in range(40)]
    studios = [f"Studio {i}" for i in range(12)]
    for i in range(scenes):
        server.add_scene(
            f"Scene {i}",
            f"/data/videos/{i // 1000:03d}/scene-{i}.mp4",
            tags=[tags[i % 60], tags[(i * 7 + 1) % 60], tags[(i * 13 + 2) % 60]],
            performers=[performers[i % 40], performers[(i * 3 + 1) % 40]],
            studio=studios[i % 12],
            details=f"Details of scene {i}",
            rating100=i % 100,
        )
        if bulk == 0 and i % 3 == 2 or bulk and i == scenes - bulk - 1:
            server.advance(1)


def serve_standin(scenes: int, bulk: int, fast: bool, conn: Any) -> None:
    """Child process: seed a stand-in, report its address, then do what the parent asks."""
    sys.path.insert(0, str(ROOT))
    from tests.standins.stash_pages import PrebuiltScenePages
    from tests.standins.stash_server import StashStandin

    server = StashStandin()
    server.freeze_time("2026-01-01T00:00:00")
    seed(server, scenes, bulk)
    if bulk:
        server.advance(60)  # the sync comes a minute after the import, not during it
    built = 0.0
    server.start()  # rendering needs its address (scene paths are URLs on it)
    if fast:
        key = hashlib.sha1((docs.FIND_SCENES + inspect.getsource(seed)).encode()).hexdigest()
        path = CACHE / f"stash-pages-{scenes}-{bulk}-{key[:12]}.pickle"
        pages = PrebuiltScenePages.load(path, docs.FIND_SCENES)
        if pages is None:
            started = time.perf_counter()
            pages = PrebuiltScenePages.render(server, docs.FIND_SCENES)
            built = time.perf_counter() - started
            pages.save(path)
        # from the cache, the paths name an earlier run's port: the sync stores them
        # and never fetches them, so the figures are the same
        server.prebuilt = pages
    conn.send((server.url, built))
    while True:
        command, value = conn.recv()
        if command == "stop":
            break
        if command == "advance":
            server.advance(value)
        elif command == "edit":
            edited = [str(1 + i * (scenes // value)) for i in range(value)]
            for scene_id in edited:
                server.edit_scene(scene_id, title=f"Edited {scene_id}")
            if server.prebuilt is not None:
                server.prebuilt.refresh(server, edited)
        elif command == "requests":
            pass
        conn.send(len(server.requests))
    server.stop()


class Standin:
    """The parent's handle on the child process."""

    def __init__(self, scenes: int, bulk: int, fast: bool) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(
            target=serve_standin, args=(scenes, bulk, fast, child), daemon=True
        )
        self.process.start()
        if not self.conn.poll(900):
            raise SystemExit("the stand-in did not start within 15 minutes")
        self.url, self.built = self.conn.recv()

    def ask(self, command: str, value: Any = None) -> int:
        self.conn.send((command, value))
        return self.conn.recv()

    def close(self) -> None:
        self.conn.send(("stop", None))
        self.process.join(30)
        if self.process.is_alive():
            self.process.terminate()


# --- fetching without StashDesk --------------------------------------------------------------


async def fetch_only(
    url: str,
    page_size: int,
    loads: Any = json.loads,
) -> tuple[float, int, list[dict[str, Any]]]:
    """The SYNC job's keyset paging with a bare httpx client: (seconds, scenes, requests)."""
    sent: list[dict[str, Any]] = []

    def variables(scene_filter: Any, sort: str = "updated_at") -> dict[str, Any]:
        sent.append(
            {
                "filter": {"page": 1, "per_page": page_size, "sort": sort, "direction": "ASC"},
                "scene_filter": scene_filter,
                "ids": None,
            }
        )
        return sent[-1]

    async with httpx.AsyncClient(timeout=120) as http:

        async def page(scene_filter: Any, sort: str = "updated_at") -> list[dict[str, Any]]:
            answer = await http.post(
                f"{url}/graphql",
                json={"query": docs.FIND_SCENES, "variables": variables(scene_filter, sort)},
            )
            return loads(answer.content)["data"]["findScenes"]["scenes"]

        started = time.perf_counter()
        count, scene_filter = 0, None
        while True:
            scenes = await page(scene_filter)
            if len(scenes) < page_size:
                count += len(scenes)
                break
            last = scenes[-1]["updated_at"]
            head = sum(1 for s in scenes if s["updated_at"] != last)
            count += head
            if head:
                scene_filter = at_or_after(last)
                continue
            after = 0
            while True:
                second = await page(in_second(last, after), "id")
                count += len(second)
                if len(second) < page_size:
                    break
                after = int(second[-1]["id"])
            scene_filter = newer_than(last)
        return time.perf_counter() - started, count, sent


async def replay(url: str, sent: list[dict[str, Any]]) -> float:
    """The same requests, bodies read but not parsed: the stand-in and the transport alone."""
    async with httpx.AsyncClient(timeout=120) as http:
        started = time.perf_counter()
        for variables in sent:
            (
                await http.post(
                    f"{url}/graphql", json={"query": docs.FIND_SCENES, "variables": variables}
                )
            ).read()
        return time.perf_counter() - started


# --- measuring StashDesk ---------------------------------------------------------------------


async def measure_lag(lags: list[float], stop: asyncio.Event, every: float = 0.005) -> None:
    while not stop.is_set():
        asked = time.perf_counter()
        await asyncio.sleep(every)
        lags.append(time.perf_counter() - asked - every)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def database_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("stashdesk.db*"))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def timed_sync(services: Any, page_size: int) -> tuple[float, Any, list[float]]:
    lags: list[float] = []
    stop = asyncio.Event()
    monitor = asyncio.create_task(measure_lag(lags, stop))
    started = time.perf_counter()
    job = await services.runner.submit("SYNC", {"page_size": page_size})
    outcome = await services.runner.wait(job.id)
    elapsed = time.perf_counter() - started
    stop.set()
    await monitor
    assert outcome.status == "completed", outcome.error
    return elapsed, outcome, lags


async def idle_check(services: Any, standin: Standin) -> tuple[int, int, float]:
    before = standin.ask("requests")
    started = time.perf_counter()
    pending = await count_pending_scenes(services)
    elapsed = time.perf_counter() - started
    return pending, standin.ask("requests") - before, elapsed


async def start_engine(folder: str, url: str) -> tuple[Engine, Any]:
    engine = Engine(Path(folder), use_keyring=False)
    services = await engine.start(auto_start=False, control=False)
    await services.store.write(lambda: services.settings.set("stash.url", url))
    await services.store.write(lambda: services.settings.set("stash.timeout", 120))
    return engine, services


def lag_text(lags: list[float]) -> str:
    return (
        f"p50 {percentile(lags, 50) * 1000:.1f} ms, p99 {percentile(lags, 99) * 1000:.1f} ms, "
        f"max {max(lags) * 1000:.1f} ms ({len(lags)} samples; target p99 < 25 ms)"
    )


async def run(standin: Standin, scenes: int, page_size: int, fast: bool) -> None:
    fetch_time, fetched, sent = await fetch_only(standin.url, page_size)
    assert fetched >= scenes, fetched
    orjson_time, _, _ = await fetch_only(standin.url, page_size, orjson.loads)
    raw_time = await replay(standin.url, sent)
    rss_before = peak_rss_mib()

    with tempfile.TemporaryDirectory() as tmp:
        engine, services = await start_engine(tmp, standin.url)
        sync_time, outcome, lags = await timed_sync(services, page_size)
        stored = await services.store.read(
            lambda: (Scene.select().count(), SceneTag.select().count())
        )
        standin.ask("advance", 10)
        standin.ask("edit", 10)
        standin.ask("advance", 10)
        incremental_time, again, incremental_lags = await timed_sync(services, page_size)
        standin.ask("advance", 10)
        checks = [await idle_check(services, standin) for _ in range(3)]
        await engine.stop()  # the last connection to close folds the WAL into the file
        db_bytes = database_bytes(Path(tmp))

    result = outcome.result
    print(
        f"scenes in Stash              : {scenes} (page size {page_size}; "
        f"{'pre-built pages' if fast else 'graphql-core stand-in'}"
        + (f", built in {standin.built:.0f} s" if standin.built else "")
        + ")"
    )
    print(
        f"stand-in alone (replay, raw) : {raw_time:.1f} s, {scenes / raw_time:.0f} scenes/s, "
        f"{len(sent)} requests"
    )
    print(
        f"fetch only (bare httpx+json) : {fetch_time:.1f} s, {scenes / fetch_time:.0f} scenes/s"
        f" (parsing with orjson, as StashClient does: {orjson_time:.1f} s)"
    )
    print(
        f"full sync                    : {sync_time:.1f} s, {scenes / sync_time:.0f} scenes/s "
        f"(created {result['created']}, failed {result['failed']}; stored {stored[0]} "
        f"scenes, {stored[1]} scene tags)"
    )
    print(
        f"sync / fetch                 : {sync_time / fetch_time:.2f} (target <= 1.2; "
        f"against the orjson fetch {sync_time / orjson_time:.2f})"
    )
    print(f"event loop lag during sync   : {lag_text(lags)}")
    print(
        f"peak RSS (StashDesk process) : {peak_rss_mib():.0f} MiB (before the sync "
        f"{rss_before:.0f} MiB; target < 350 MB)"
    )
    print(
        f"database size                : {db_bytes / 2**20:.1f} MiB, "
        f"{db_bytes / 2**20 / stored[0] * 100_000:.1f} MiB per 100,000 scenes"
    )
    print(
        f"incremental sync, 10 changed : {incremental_time:.2f} s (updated "
        f"{again.result['updated']}, unchanged {again.result['unchanged']}; "
        f"lag p99 {percentile(incremental_lags, 99) * 1000:.1f} ms; target < 1 s)"
    )
    print(
        "idle checks after it         : "
        + "; ".join(
            f"{requests} request(s), {seconds * 1000:.0f} ms, {pending} pending"
            for pending, requests, seconds in checks
        )
    )


async def run_bulk(standin: Standin, scenes: int, bulk: int, page_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        engine, services = await start_engine(tmp, standin.url)
        sync_time, outcome, lags = await timed_sync(services, page_size)
        checks = [await idle_check(services, standin) for _ in range(3)]
        standin.ask("advance", 10)
        standin.ask("edit", 1)  # one scene edited later
        edited = await idle_check(services, standin)
        again, outcome_after_edit, _ = await timed_sync(services, page_size)
        await engine.stop()
    print(f"bulk import: {scenes} scenes, the newest {bulk} in one second of updated_at")
    print(
        f"  its sync                   : {sync_time:.1f} s (created "
        f"{outcome.result['created']}; lag {lag_text(lags)})"
    )
    print(
        "  idle checks after its sync : "
        + "; ".join(
            f"{requests} request(s), {seconds * 1000:.0f} ms, {pending} pending"
            for pending, requests, seconds in checks
        )
        + "  (issue 15 before: 62 requests, ~11 s each)"
    )
    pending, requests, seconds = edited
    print(
        f"  after 1 scene is edited    : idle check {requests} request(s), "
        f"{seconds * 1000:.0f} ms, {pending} pending; its sync {again:.2f} s (updated "
        f"{outcome_after_edit.result['updated']}, unchanged "
        f"{outcome_after_edit.result['unchanged']} read again)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=50_000)
    parser.add_argument("--page-size", type=int, default=250)
    parser.add_argument(
        "--fast-server",
        action="store_true",
        help="serve findScenes from pre-built pages (see the docstring)",
    )
    parser.add_argument(
        "--bulk",
        type=int,
        default=0,
        metavar="N",
        help="also measure the idle check after N scenes in one second",
    )
    parser.add_argument("--skip-main", action="store_true", help="only the --bulk part")
    args = parser.parse_args()
    if not args.skip_main:
        standin = Standin(args.scenes, 0, args.fast_server)
        try:
            asyncio.run(run(standin, args.scenes, args.page_size, args.fast_server))
        finally:
            standin.close()
    if args.bulk:
        total = args.bulk + 1000
        standin = Standin(total, args.bulk, args.fast_server)
        try:
            asyncio.run(run_bulk(standin, total, args.bulk, args.page_size))
        finally:
            standin.close()


if __name__ == "__main__":
    main()

"""Benchmark the video-tag server pool: 500 scenes over 3 stand-in servers.

Each stand-in takes a fixed time per video (``--seconds``) and answers like the real
server (tags, spans, totals, a model identity); each is given ``--concurrency``
slots. The engine analyses every scene in one ANALYSIS job (the daemon's batches
add their own tail per batch; ``--batch`` runs the Auto Video Analysis daemon with
that batch size instead). Printed:

- scenes/s against the ideal: servers x concurrency / seconds per video (target
  >= 90 %);
- how busy the servers' slots were, and how long a video really took the stand-ins
  (more than asked when the machine is loaded);
- the engine's CPU time per scene (all its threads; the stand-ins run in another
  process, as real servers would), which does not depend on the machine's load;
- the event loop's lag while the work runs: a 10 ms ticker measures how late it
  wakes (target p99 < 25 ms);
- how the scenes were spread over the servers, and that each was analysed once.

Usage: python benchmarks/analysis_pool.py [--scenes 500] [--servers 3]
       [--concurrency 4] [--seconds 0.2] [--batch N]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("STASHDESK_NO_KEYRING", "1")

from stashdesk.app import Engine
from stashdesk.store.models import SceneAnalysis
from tests.analysis_helpers import seed_scene
from tests.standins.video_tag_server import DEFAULT_MODELS, VideoTagServer

TICK = 0.010


def serve(
    count: int,
    seconds: float,
    urls: multiprocessing.Queue,
    done: multiprocessing.Event,
    results: multiprocessing.Queue,
) -> None:
    """The stand-ins, in their own process: like real servers, they do not share the
    engine's interpreter (and its GIL)."""
    servers = [VideoTagServer().start() for _ in range(count)]
    for server in servers:
        server.set_model(DEFAULT_MODELS)
        server.set_realistic_default(duration=1800)
        server.delay(seconds)
    urls.put([s.url for s in servers])
    done.wait()
    results.put(
        [
            [(r.path, r.status, r.received_at, r.answered_at) for r in s.requests if r.path]
            for s in servers
        ]
    )
    for server in servers:
        server.stop()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] if ordered else 0.0


async def measure_lag(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        planned = time.perf_counter() + TICK
        await asyncio.sleep(TICK)
        lags.append(max(0.0, time.perf_counter() - planned) * 1000)


async def run_daemon(services, batch: int, scenes: int) -> None:
    await services.manager.set_config(
        "video-analysis", {"batch_size": batch, "auto_apply_plans": False}
    )
    await services.manager.start("video-analysis")
    while True:  # (polled: the daemon runs one job per batch)
        if await services.store.read(lambda: SceneAnalysis.select().count()) >= scenes:
            break
        await asyncio.sleep(0.05)
    await services.manager.stop("video-analysis")


async def run(args: argparse.Namespace) -> None:
    context = multiprocessing.get_context("spawn")
    urls, results, done = context.Queue(), context.Queue(), context.Event()
    process = context.Process(
        target=serve, args=(args.servers, args.seconds, urls, done, results), daemon=True
    )
    process.start()
    server_urls = urls.get(timeout=60)
    ids = [str(i) for i in range(1, args.scenes + 1)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            engine = Engine(Path(tmp), use_keyring=False)
            services = await engine.start(auto_start=False, control=False)
            pool = [{"url": url, "concurrency": args.concurrency} for url in server_urls]
            await services.store.write(
                lambda: services.settings.set("analysis.video_servers", pool)
            )
            await services.store.write(lambda: [seed_scene(i) for i in ids])
            # The same ticker with nothing to do first: what the machine's load alone costs.
            at_rest: list[float] = []
            resting = asyncio.Event()
            ticker = asyncio.create_task(measure_lag(at_rest, resting))
            await asyncio.sleep(2.0)
            resting.set()
            await ticker
            lags: list[float] = []
            stop = asyncio.Event()
            ticker = asyncio.create_task(measure_lag(lags, stop))
            started, cpu_started = time.perf_counter(), time.process_time()
            if args.batch:
                await run_daemon(services, args.batch, len(ids))
                result = {}
            else:
                info = await services.runner.submit(
                    "ANALYSIS",
                    {"scene_ids": ids, "detectors": ["video_tags"], "plan_name": "bench"},
                )
                final = await services.runner.wait(info.id, timeout=3600)
                if final.status != "completed":
                    raise SystemExit(f"the analysis {final.status}: {final.error}")
                result = final.result
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            stop.set()
            await ticker
            recorded = await services.store.read(
                lambda: SceneAnalysis.select().where(SceneAnalysis.status == "analysed").count()
            )
            await engine.stop()
    finally:
        done.set()
        requests = results.get(timeout=60)
        process.join(30)

    answered = Counter(
        path.rsplit("/", 1)[1]
        for per_server in requests
        for path, status, _r, _a in per_server
        if status == 200
    )
    served = [a - r for per_server in requests for _p, _s, r, a in per_server if a]
    busy = sum(served) / (args.servers * args.concurrency * elapsed)
    ideal = args.servers * args.concurrency / args.seconds
    rate = len(ids) / elapsed
    how = f"daemon, batches of {args.batch}" if args.batch else "one ANALYSIS job"
    print(f"scenes analysed          : {recorded} of {len(ids)} in {elapsed:.2f} s ({how})")
    print(
        f"throughput               : {rate:.1f} scenes/s; ideal {ideal:.1f} "
        f"({args.servers} servers x {args.concurrency} / {args.seconds:g} s) -> "
        f"{100 * rate / ideal:.1f} % (target >= 90 %)"
    )
    print(
        f"slots busy               : {100 * busy:.1f} % of the time; a video took the "
        f"stand-ins {sum(served) / max(1, len(served)):.3f} s on average (asked: "
        f"{args.seconds:g} s)"
    )
    print(
        f"engine CPU               : {cpu:.2f} s, {1000 * cpu / len(ids):.2f} ms per scene "
        f"(the ideal rate needs < {1000 / ideal:.1f} ms per scene of one core)"
    )
    print(
        f"event loop lag           : p50 {percentile(lags, 50):.2f} ms, "
        f"p99 {percentile(lags, 99):.2f} ms, max {max(lags, default=0):.2f} ms "
        f"(target p99 < 25 ms); at rest before: p50 {percentile(at_rest, 50):.2f} ms, "
        f"p99 {percentile(at_rest, 99):.2f} ms (the machine's load alone)"
    )
    print(
        f"machine load average     : {', '.join(f'{x:.2f}' for x in os.getloadavg())} on "
        f"{os.cpu_count()} cores"
    )
    spread = ", ".join(
        f"{url.rsplit(':', 1)[1]}: {sum(1 for _p, status, _r, _a in per_server if status == 200)}"
        for url, per_server in zip(server_urls, requests, strict=True)
    )
    print(f"spread over the servers  : {spread}")
    twice = sum(1 for n in answered.values() if n > 1)
    print(
        f"analysed more than once  : {twice} (must be 0); "
        f"left out by rules: {result.get('left_out', '-')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=500)
    parser.add_argument("--servers", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=0.2)
    parser.add_argument("--batch", type=int, default=0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

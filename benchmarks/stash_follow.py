"""Benchmark following a Stash job: live over jobsSubscribe versus polling findJob.

For each path, ``--jobs`` STASH_SCAN jobs run against the Stash stand-in; each Stash
job goes through ``--steps`` progress updates, then FINISHED. Printed per path:

- the delay from Stash's progress update to the StashDesk job showing it (mean, p95);
- the delay from Stash's FINISHED to the StashDesk job's end (mean, p95);
- findJob requests per job.

Usage: python benchmarks/stash_follow.py [--jobs 10] [--steps 5]
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
from tests.standins.stash_server import StashStandin


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


async def wait_for(predicate, timeout: float = 10.0) -> float:
    start = time.perf_counter()
    while not predicate():
        if time.perf_counter() - start > timeout:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.001)
    return time.perf_counter() - start


async def run_path(live: bool, jobs: int, steps: int) -> dict[str, object]:
    stash = StashStandin().start()
    stash.job_step_seconds = 3600  # the benchmark moves the jobs itself
    if not live:
        stash.refuse_websockets(400)
    data = Path(tempfile.mkdtemp(prefix="stashdesk-bench-"))
    engine = Engine(data, use_keyring=False)
    services = await engine.start(auto_start=False, control=False)
    await services.store.write(lambda: services.settings.set("stash.url", stash.url))
    progress_delays: list[float] = []
    end_delays: list[float] = []
    polls_before = 0
    try:
        for _ in range(jobs):
            job = await services.runner.submit("STASH_SCAN", {"paths": ["/data"]})
            await wait_for(
                lambda j=job: (
                    (s := services.runner.snapshot(j.id)) is not None
                    and s.metadata.get("stash_job_id")
                )
            )
            stash_id = services.runner.snapshot(job.id).metadata["stash_job_id"]
            if live:
                await wait_for(lambda: services.stash().job_feed.live.is_set())
            await asyncio.sleep(0.05)
            for step in range(1, steps + 1):
                value = step / (steps + 1)
                stash.set_job(stash_id, status="RUNNING", progress=value)
                progress_delays.append(
                    await wait_for(
                        lambda j=job, v=value: (
                            abs(services.runner.snapshot(j.id).progress - v * 100) < 1e-6
                        )
                    )
                )
            stash.set_job(stash_id, status="FINISHED", progress=1.0)
            started = time.perf_counter()
            await services.runner.wait(job.id, 10)
            end_delays.append(time.perf_counter() - started)
        polls = len(stash.requests_for("findJob")) - polls_before
    finally:
        await engine.stop()
        stash.stop()
    return {"progress": progress_delays, "end": end_delays, "polls": polls / jobs}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    for live in (True, False):
        figures = asyncio.run(run_path(live, args.jobs, args.steps))
        name = "live (jobsSubscribe)" if live else "polling (socket refused)"
        progress, end = figures["progress"], figures["end"]
        print(
            f"{name:26} progress seen after mean {statistics.mean(progress) * 1000:7.1f} ms, "
            f"p95 {p95(progress) * 1000:7.1f} ms; end after mean "
            f"{statistics.mean(end) * 1000:7.1f} ms, p95 {p95(end) * 1000:7.1f} ms; "
            f"{figures['polls']:.1f} findJob per job"
        )


if __name__ == "__main__":
    main()

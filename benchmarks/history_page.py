"""Benchmark the History and Jobs listings over a large database (the store functions).

Builds once (cached under ``benchmarks/.cache``) a database with ``--rows`` status
rows (default 1,000,000, five daemons, floods of rows sharing one instant), 100,000
job actions, 200,000 log lines (one in ten a warning or error) and ``--jobs`` jobs
(default 100,000), migrated to the current schema. Then, through ``Store.read`` as
the window does, prints the median and worst of several runs of:

- open: the first timeline page (all daemons, all kinds; one daemon; errors only);
- scroll: 50 successive pages from the top, and pages deep in the history (after
  the middle, after 95 %), each timed on its own (target: < 200 ms to open, no page
  much slower than the first);
- the jobs table: the first page and the count for all jobs and for a status filter,
  and a deep page.

Usage: python benchmarks/history_page.py [--rows 1000000] [--jobs 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("STASHDESK_NO_KEYRING", "1")

from stashdesk.store import Store
from stashdesk.store.db import DB_FILENAME, SCHEMA_VERSION
from stashdesk.store.history import timeline_page
from stashdesk.store.jobs import JobQuery, count_jobs, job_page

CACHE = ROOT / "benchmarks" / ".cache"
DAEMONS = ("stash-sync", "stash-generation", "video-analysis", "plan-applier", "downloads")
START = 1_760_000_000.0


def build(folder: Path, rows: int, jobs: int) -> None:
    store = Store(folder)

    def fill() -> None:
        cursor = store.db.connection().cursor()
        batch = 50_000
        for start in range(0, rows, batch):
            cursor.executemany(
                "INSERT INTO daemon_status (daemon, message, job_id, job_type, at) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        DAEMONS[i % 5],
                        f"Synced {i % 997} of 1000 scenes",
                        f"job-{i // 50:07d}" if i % 3 == 0 else None,
                        "SYNC" if i % 3 == 0 else None,
                        # every 1,000th block of 500 rows shares one instant (a flood)
                        START + (i // 500 * 500 if (i // 500) % 1000 == 7 else i) * 0.5,
                    )
                    for i in range(start, min(rows, start + batch))
                ],
            )
        cursor.executemany(
            "INSERT INTO daemon_job_action (daemon, job_id, action, reason, at) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (
                    DAEMONS[i % 5],
                    f"job-{i:07d}",
                    ("LAUNCHED", "FINISHED")[i % 2],
                    None,
                    START + i * 5.0,
                )
                for i in range(rows // 10)
            ],
        )
        cursor.executemany(
            "INSERT INTO daemon_log (daemon, level, message, at) VALUES (?, ?, ?, ?)",
            [
                (DAEMONS[i % 5], "WARNING" if i % 10 == 0 else "INFO", f"line {i}", START + i * 2.5)
                for i in range(rows // 5)
            ],
        )
        cursor.executemany(
            "INSERT INTO job (id, type, status, progress, metadata, created_at) "
            "VALUES (?, ?, ?, 0, '{}', ?)",
            [
                (
                    f"job-{i:07d}",
                    ("SYNC", "ANALYSIS", "APPLY_PLAN")[i % 3],
                    "running" if i % 5000 == 0 else ("completed", "failed")[i % 7 == 0],
                    START + i * 10.0,
                )
                for i in range(jobs)
            ],
        )

    store.writer.submit(fill).result(3600)
    store.close()


def cached_database(rows: int, jobs: int) -> Path:
    folder = CACHE / f"history-{rows}-{jobs}-v{SCHEMA_VERSION}"
    if not (folder / DB_FILENAME).exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.perf_counter()
        build(folder, rows, jobs)
        print(f"built {folder} in {time.perf_counter() - started:.0f} s")
    return folder


async def timed(store: Store, fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = await store.read(fn)
    return (time.perf_counter() - started) * 1000, result


async def one_run(store: Store, rows: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    figures["open: all daemons, all kinds"], first = await timed(
        store, lambda: timeline_page(None, limit=200)
    )
    figures["open: one daemon"], _ = await timed(
        store, lambda: timeline_page("video-analysis", limit=200)
    )
    figures["open: errors only"], _ = await timed(
        store, lambda: timeline_page(None, ("error",), limit=200)
    )
    after = first[-1].cursor
    pages = []
    for _ in range(50):
        ms, page = await timed(store, lambda after=after: timeline_page(None, after=after))
        pages.append(ms)
        after = page[-1].cursor
    figures["scroll: 50 pages, median page"] = statistics.median(pages)
    figures["scroll: 50 pages, slowest page"] = max(pages)
    for label, share in (("middle", 0.5), ("95 % down", 0.05)):
        at = START + rows * share * 0.5
        figures[f"deep page ({label})"], _ = await timed(
            store, lambda at=at: timeline_page(None, after=(at, 10**9, "status"))
        )
    figures["flooded instant (500 rows at one time)"], _ = await timed(
        store,
        lambda: timeline_page(None, ("status",), after=(START + 7 * 500 * 0.5, 10**9, "status")),
    )
    figures["jobs: first page"], jobs = await timed(store, lambda: job_page(JobQuery(), None, 200))
    figures["jobs: count all"], _ = await timed(store, lambda: count_jobs(JobQuery()))
    figures["jobs: first page, running only"], _ = await timed(
        store, lambda: job_page(JobQuery(("running",)), None, 200)
    )
    figures["jobs: count completed"], _ = await timed(
        store, lambda: count_jobs(JobQuery(("completed",)))
    )
    figures["jobs: first page, one type"], _ = await timed(
        store, lambda: job_page(JobQuery(types=("ANALYSIS",)), None, 200)
    )
    figures["jobs: deep page"], _ = await timed(
        store, lambda: job_page(JobQuery(), (START + 1000.0, "job-0000100"), 200)
    )
    return figures


async def measure(folder: Path, rows: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(folder / DB_FILENAME, Path(tmp) / DB_FILENAME)
        store = Store(Path(tmp))
        try:
            results = [await one_run(store, rows) for _ in range(runs)]
        finally:
            store.close()
        size = (Path(tmp) / DB_FILENAME).stat().st_size
    print(
        f"database: {rows} status rows, {rows // 10} job actions, {rows // 5} log lines; "
        f"{size / 2**20:.0f} MiB"
    )
    print(f"{'':42} median    worst   ({runs} runs)")
    for name in results[0]:
        values = [r[name] for r in results]
        print(f"{name:42} {statistics.median(values):6.1f} ms {max(values):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    folder = cached_database(args.rows, args.jobs)
    asyncio.run(measure(folder, args.rows, args.runs))


if __name__ == "__main__":
    main()

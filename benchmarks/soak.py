"""Soak a headless engine: all five daemons cycling every few seconds against the
Stash and video-tag stand-ins and a real qbittorrent-nox, fed new scenes, edits and
torrents all along (tests/soak.py). Prints every sample of the engine process (RSS,
open files, threads, database size, history rows, jobs), then the slopes over the
run after the warm-up, the jobs done and the rows each daemon keeps.

Usage: python benchmarks/soak.py [--minutes 20] [--every 30] [--interval 2]
                                 [--warm-up 60] [--max-rows 5000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("STASHDESK_NO_KEYRING", "1")

from tests.soak import Sample, SoakRun, slope
from tests.standins.qbittorrent_harness import QBittorrentProcess


def show(sample: Sample) -> None:
    print(
        f"{sample.at:7.0f} s  rss {sample.rss_kb / 1024:6.1f} MB  fds {sample.fds:3d}  "
        f"threads {sample.threads:2d}  db {sample.db_bytes / 1e6:6.2f} MB  "
        f"status rows {sample.status_rows:6d}  log rows {sample.log_rows:6d}  "
        f"jobs {sample.jobs:5d}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="every daemon's job_interval_seconds"
    )
    parser.add_argument(
        "--warm-up", type=float, default=60.0, help="seconds left out of the slopes"
    )
    parser.add_argument("--max-rows", type=int, default=5000, help="history.max_rows_per_daemon")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        qbittorrent = QBittorrentProcess()
        qbittorrent.start(tmp / "qbt")
        run = SoakRun(
            tmp / "soak", qbittorrent, interval=args.interval, max_rows_per_daemon=args.max_rows
        )
        try:
            run.start()
            samples = run.run(args.minutes * 60, args.every, show)
            jobs = run.job_counts()
            rows = run.rows_per_daemon()
        finally:
            code = run.stop()
            qbittorrent.stop()

    measured = [s for s in samples if s.at >= args.warm_up] or samples
    window = measured[-1].at - measured[0].at
    per_hour = 3600.0
    print()
    print(f"engine exit code             : {code}")
    print(
        f"fed                          : {run.fed['scenes']} scenes, {run.fed['edits']} "
        f"edits, {run.fed['torrents']} torrents in {samples[-1].at / 60:.1f} min"
    )
    print(f"slopes over {window / 60:.1f} min after {args.warm_up:g} s warm-up:")
    print(
        f"  RSS                        : {slope(measured, 'rss_kb') * per_hour / 1024:+.2f} "
        f"MB/hour (from {measured[0].rss_kb / 1024:.1f} to {measured[-1].rss_kb / 1024:.1f} "
        f"MB; min {min(s.rss_kb for s in measured) / 1024:.1f}, max "
        f"{max(s.rss_kb for s in measured) / 1024:.1f})"
    )
    print(
        f"  open files                 : {slope(measured, 'fds') * per_hour:+.2f} /hour "
        f"(min {min(s.fds for s in measured)}, max {max(s.fds for s in measured)})"
    )
    print(
        f"  threads                    : {slope(measured, 'threads') * per_hour:+.2f} /hour "
        f"(min {min(s.threads for s in measured)}, max {max(s.threads for s in measured)})"
    )
    print(
        f"  database + WAL             : {slope(measured, 'db_bytes') * per_hour / 1e6:+.2f} "
        f"MB/hour (now {measured[-1].db_bytes / 1e6:.2f} MB; scenes, plans and jobs are "
        f"kept, history is capped)"
    )
    print(
        f"  status history rows        : {slope(measured, 'status_rows') * per_hour:+.0f} "
        f"/hour (now {measured[-1].status_rows})"
    )
    print(
        f"  log rows                   : {slope(measured, 'log_rows') * per_hour:+.0f} /hour "
        f"(now {measured[-1].log_rows})"
    )
    print(
        "jobs (type, status: count)   : "
        + ", ".join(f"{t} {s}: {n}" for (t, s), n in sorted(jobs.items()))
    )
    print(
        "rows kept per daemon         : "
        + ", ".join(f"{name} {status}/{logs}" for name, (status, logs) in rows.items())
        + f" (status/log; cap {args.max_rows})"
    )


if __name__ == "__main__":
    main()

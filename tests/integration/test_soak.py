"""Long runs do not grow: a few minutes of a headless engine with all five daemons
cycling every two seconds (tests/soak.py); its memory, open files and threads stay
flat, and the history it writes stays under its cap. ``benchmarks/soak.py`` runs
the same for longer and prints every sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.soak import SoakRun, slope
from tests.standins.qbittorrent_harness import QBittorrentProcess

pytestmark = pytest.mark.slow

SECONDS = 180
WARM_UP = 45  # imports, first syncs, caches and pools filling
MAX_ROWS = 300


def test_a_busy_engine_stays_flat(tmp_path: Path, qbittorrent: QBittorrentProcess) -> None:
    run = SoakRun(tmp_path, qbittorrent, interval=2, max_rows_per_daemon=MAX_ROWS)
    run.start()
    try:
        samples = run.run(SECONDS, every=5)
        jobs = run.job_counts()
        rows = run.rows_per_daemon()
    finally:
        assert run.stop() == 0, run.engine.log()[-4000:] if run.engine else ""
    measured = [s for s in samples if s.at >= WARM_UP]
    window = measured[-1].at - measured[0].at
    table = "\n".join(
        f"{s.at:6.0f} s  rss {s.rss_kb / 1024:6.1f} MB  fds {s.fds:3d}  "
        f"threads {s.threads:2d}  db {s.db_bytes / 1e6:5.2f} MB  "
        f"status {s.status_rows}  log {s.log_rows}  jobs {s.jobs}"
        for s in samples
    )

    # every daemon really worked, and nothing failed
    done = {job_type for (job_type, status) in jobs if status == "completed"}
    assert {
        "SYNC",
        "ANALYSIS",
        "APPLY_PLAN",
        "PROCESS_DOWNLOADS",
        "STASH_SCAN",
        "STASH_GENERATE",
    } <= done, jobs
    assert not [k for k in jobs if k[1] == "failed"], jobs
    assert run.fed["scenes"] > 30 and run.fed["torrents"] >= 5, run.fed

    rss_growth = slope(measured, "rss_kb") * window / 1024
    fd_growth = slope(measured, "fds") * window
    assert rss_growth < 4, f"RSS grew {rss_growth:.1f} MB over {window:.0f} s:\n{table}"
    assert fd_growth < 3, f"open files grew {fd_growth:.1f} over {window:.0f} s:\n{table}"
    assert max(s.fds for s in measured) - min(s.fds for s in measured) <= 12, table
    assert max(s.threads for s in measured) - min(s.threads for s in measured) <= 6, table
    # the history and logs stay under their cap however fast the daemons report
    slack = max(50, MAX_ROWS // 10)
    for name, (status_rows, log_rows) in rows.items():
        assert status_rows <= MAX_ROWS + slack and log_rows <= MAX_ROWS + slack, (name, rows)
    assert max(r[0] for r in rows.values()) >= MAX_ROWS, rows  # the cap was reached

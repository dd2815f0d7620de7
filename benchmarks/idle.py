"""Benchmark an idle engine: ``stashdesk --headless`` with all five daemons enabled,
their services reachable (Stash and video-tag stand-ins, a real qbittorrent-nox on
127.0.0.1) and nothing to do.

Printed:
- time from process start to every daemon's first status, and the same minus the
  time Python needs for StashDesk's imports (target: under 1 s after the imports);
- CPU seconds the process used in the 60 s after every daemon reported
  (target: under 0.6 s, i.e. under 1 %);
- database writes while every daemon sleeps (target: 0), measured as changes to
  the database and WAL files between "all asleep" and the first daemon's wake-up.

Usage: python benchmarks/idle.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("STASHDESK_NO_KEYRING", "1")

from tests.standins.qbittorrent_harness import QBittorrentProcess
from tests.standins.stash_server import StashStandin
from tests.standins.video_tag_server import VideoTagServer

DAEMONS = ["video-analysis", "stash-sync", "plan-applier", "download-processor", "stash-generation"]


def cli(data_dir: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "stashdesk", "--data-dir", str(data_dir), *args],
        check=True,
        cwd=REPO,
        capture_output=True,
    )


def query(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def file_state(data_dir: Path) -> tuple:
    state = []
    for name in ("stashdesk.db", "stashdesk.db-wal"):
        path = data_dir / name
        stat = path.stat() if path.exists() else None
        state.append((name, stat.st_size if stat else None, stat.st_mtime_ns if stat else None))
    return tuple(state)


def import_seconds() -> float:
    code = (
        "import time; t = time.perf_counter(); import stashdesk.cli, stashdesk.app, "
        "stashdesk.headless; stashdesk.app.load_plugins(); print(time.perf_counter() - t)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    return float(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        stash = StashStandin().start()
        video = VideoTagServer().start()
        qbt = QBittorrentProcess()
        qbt.start(tmp / "qbt")
        data_dir = tmp / "data"
        destination = tmp / "library"
        destination.mkdir()
        try:
            for key, value in (
                ("stash.url", stash.url),
                ("qbittorrent.url", qbt.url),
                ("qbittorrent.username", qbt.username),
                ("qbittorrent.password", qbt.password),
                ("analysis.video_server_url", video.url),
                ("downloads.destination", str(destination)),
            ):
                cli(data_dir, "config", "set", key, value)
            for name in DAEMONS:
                cli(data_dir, "daemons", "enable", name)
            imports = import_seconds()
            db = data_dir / "stashdesk.db"

            spawned_wall, spawned = time.time(), time.monotonic()
            proc = subprocess.Popen(
                [sys.executable, "-m", "stashdesk", "--headless", "--data-dir", str(data_dir)],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                first: dict[str, float] = {}
                while len(first) < len(DAEMONS) and time.monotonic() - spawned < 30:
                    for name, at in query(
                        db, "SELECT daemon, MIN(at) FROM daemon_status GROUP BY daemon"
                    ):
                        if name in DAEMONS and at:
                            first[name] = at - spawned_wall
                    time.sleep(0.02)
                reported = time.monotonic()
                cpu_at_report = cpu_seconds(proc.pid)

                # wait until every daemon sleeps, then watch the files until one wakes
                while time.monotonic() - reported < 30:
                    phases = query(db, "SELECT current_phase, wake_at FROM daemon")
                    if len(phases) >= len(DAEMONS) and all(p == "sleeping" for p, _ in phases):
                        break
                    time.sleep(0.05)
                asleep_at = time.time()
                first_wake = min(w for _p, w in phases if w)
                before = file_state(data_dir)
                rows_before = query(
                    db,
                    "SELECT (SELECT COUNT(*) FROM daemon_status), "
                    "(SELECT COUNT(*) FROM daemon_log)",
                )[0]
                quiet_until = min(first_wake - 0.5, asleep_at + args.seconds)
                while time.time() < quiet_until:
                    time.sleep(0.2)
                after = file_state(data_dir)
                rows_after = query(
                    db,
                    "SELECT (SELECT COUNT(*) FROM daemon_status), "
                    "(SELECT COUNT(*) FROM daemon_log)",
                )[0]
                remaining = args.seconds - (time.monotonic() - reported)
                if remaining > 0:
                    time.sleep(remaining)
                cpu_total = cpu_seconds(proc.pid)
                cpu_window = cpu_total - cpu_at_report
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        finally:
            qbt.stop()
            video.stop()
            stash.stop()

    slowest = max(first.values()) if first else float("nan")
    print(f"imports (python + stashdesk)         : {imports:.3f} s")
    for name in DAEMONS:
        print(f"  first status of {name:<19}: {first.get(name, float('nan')):.3f} s after spawn")
    print(
        f"every daemon's first status          : {slowest:.3f} s after spawn, "
        f"{slowest - imports:.3f} s after the imports (target < 1 s)"
    )
    print(
        f"CPU in the {args.seconds:g} s after that          : {cpu_window:.2f} s "
        f"({100 * cpu_window / args.seconds:.2f} %; target < 0.6 s); "
        f"{cpu_total:.2f} s since spawn, start-up included"
    )
    changed = before != after
    print(
        f"database writes while all slept      : {'some' if changed else 0} over "
        f"{quiet_until - asleep_at:.1f} s (files {'changed' if changed else 'unchanged'}; "
        f"status rows +{rows_after[0] - rows_before[0]}, log rows "
        f"+{rows_after[1] - rows_before[1]}; target 0)"
    )


if __name__ == "__main__":
    main()

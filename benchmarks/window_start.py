"""Benchmark the window's start and its idle cost on a large database.

Builds once (cached under ``benchmarks/.cache``) a data folder with 200,000 scenes,
1,000,000 status-history rows and 100,000 jobs (the history benchmark's database plus
the scenes). Then, each in a fresh process started the same way:

- the floor: a bare PySide6 ``QMainWindow`` (Python plus Qt, nothing of ours);
- StashDesk's window on a copy of that folder (its engine inside, no daemon started).

For each it prints the time from process start to the first painted frame (median of
``--runs``, and the first, cold run) and the resident memory then; the ratio to the
floor is the figure issue 15 asks for (target: at most 1.4x). With ``--idle SECONDS``
it also measures the CPU seconds the StashDesk window uses per minute with its cards
shown, then hidden (as in the tray), every daemon enabled and sleeping.

Usage: python benchmarks/window_start.py [--runs 3] [--idle 60] [--platform offscreen]
(under Xvfb: ``xvfb-run -a python benchmarks/window_start.py --platform xcb``)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("STASHDESK_NO_KEYRING", "1")

from benchmarks.history_page import cached_database
from stashdesk.store import Store
from stashdesk.store.db import DB_FILENAME, SCHEMA_VERSION

CACHE = ROOT / "benchmarks" / ".cache"
SCENES = 200_000
DAEMONS = ("video-analysis", "stash-sync", "plan-applier", "download-processor", "stash-generation")

# Runs in the child: the time of the first paint of a main window, the RSS then, and
# (with idle) the CPU used over two periods, shown and hidden. ``time.time()`` is the
# clock the parent took before starting the process.
CHILD = r"""
import json, os, resource, sys, time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QMainWindow

app = QApplication(sys.argv[:1])
report = {}
idle = float(os.environ.get("BENCH_IDLE", "0"))

def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

def finish():
    print("BENCH " + json.dumps(report), flush=True)
    os._exit(0)

class FirstPaint(QObject):
    window = None
    def eventFilter(self, obj, event):
        if (self.window is None and event.type() == QEvent.Type.Paint
                and obj.isWidgetType() and isinstance(obj.window(), QMainWindow)):
            self.window = obj.window()
            report["painted"] = time.time()
            report["rss_mb"] = rss_mb()
            if not idle:
                QTimer.singleShot(0, finish)
            else:
                QTimer.singleShot(5000, self.shown_start)
        return False
    def shown_start(self):
        self.mark = cpu()
        QTimer.singleShot(int(idle * 1000), self.shown_end)
    def shown_end(self):
        report["idle_shown_cpu_per_min"] = (cpu() - self.mark) * 60 / idle
        self.window.hide()
        self.mark = cpu()
        QTimer.singleShot(int(idle * 1000), self.hidden_end)
    def hidden_end(self):
        report["idle_hidden_cpu_per_min"] = (cpu() - self.mark) * 60 / idle
        finish()

watcher = FirstPaint()
app.installEventFilter(watcher)
if os.environ["BENCH_WHAT"] == "bare":
    window = QMainWindow()
    window.resize(1280, 820)
    window.show()
    app.exec()
else:
    from stashdesk.ui.main import run_gui
    run_gui(os.environ["BENCH_DATA"], tray_available=True)
"""


def cached_folder() -> Path:
    folder = CACHE / f"window-{SCENES}-v{SCHEMA_VERSION}"
    if (folder / DB_FILENAME).exists():
        return folder
    history = cached_database(1_000_000, 100_000)
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(history, folder)
    store = Store(folder)

    def fill() -> None:
        cursor = store.db.connection().cursor()
        for start in range(0, SCENES, 50_000):
            ids = range(start, min(SCENES, start + 50_000))
            cursor.executemany(
                "INSERT INTO scene (id, title, organized, updated_at_epoch, removed, "
                "generated) VALUES (?, ?, 0, ?, 0, 1)",
                [(str(i), f"Scene {i}", 1_760_000_000.0 + i) for i in ids],
            )
            cursor.executemany(
                "INSERT INTO scene_file (id, scene_id, path) VALUES (?, ?, ?)",
                [(f"f{i}", str(i), f"/data/videos/scene-{i}.mp4") for i in ids],
            )

    started = time.perf_counter()
    store.writer.submit(fill).result(3600)
    store.close()
    print(f"built {folder} in {time.perf_counter() - started:.0f} s (+ the history database)")
    return folder


def one_start(what: str, platform: str, data: Path | None, idle: float) -> dict[str, float]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": platform,
        "BENCH_WHAT": what,
        "BENCH_IDLE": str(idle),
        "PYTHONPATH": str(ROOT),
    }
    if data is not None:
        env["BENCH_DATA"] = str(data)
    started = time.time()
    done = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=600 + 3 * idle,
    )
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH ")), None)
    if line is None:
        raise SystemExit(f"{what} did not paint:\n{done.stdout}\n{done.stderr[-3000:]}")
    report = json.loads(line[6:])
    report["start_s"] = report.pop("painted") - started
    return report


def fresh_copy(folder: Path) -> Path:
    target = Path(tempfile.mkdtemp(prefix="stashdesk-window-")) / "data"
    shutil.copytree(folder, target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--idle",
        type=float,
        default=0.0,
        help="also measure idle CPU over this many seconds, shown and hidden",
    )
    parser.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    args = parser.parse_args()
    folder = cached_folder()
    print(
        f"database: {SCENES:,} scenes, 1,000,000 status rows, 100,000 jobs "
        f"({(folder / DB_FILENAME).stat().st_size / 2**20:.0f} MiB); "
        f"Qt platform: {args.platform}"
    )
    figures: dict[str, list[dict[str, float]]] = {"bare": [], "stashdesk": []}
    for _ in range(args.runs):
        figures["bare"].append(one_start("bare", args.platform, None, 0))
        copy = fresh_copy(folder)
        try:
            figures["stashdesk"].append(one_start("stashdesk", args.platform, copy, 0))
        finally:
            shutil.rmtree(copy.parent, ignore_errors=True)
    medians = {}
    for what, runs in figures.items():
        starts = [r["start_s"] for r in runs]
        medians[what] = statistics.median(starts)
        print(
            f"{what:>10}: first frame {medians[what]:.2f} s median of {len(runs)} "
            f"(cold first run {starts[0]:.2f} s), RSS {runs[-1]['rss_mb']:.0f} MB"
        )
    print(
        f"     ratio: {medians['stashdesk'] / medians['bare']:.2f}x the bare window "
        "(target <= 1.4x)"
    )
    if args.idle:
        copy = fresh_copy(folder)
        try:
            for name in DAEMONS:  # as a user would: every daemon on, sleeping when idle
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "stashdesk",
                        "--data-dir",
                        str(copy),
                        "daemons",
                        "enable",
                        name,
                    ],
                    check=True,
                    capture_output=True,
                    cwd=ROOT,
                )
            report = one_start("stashdesk", args.platform, copy, args.idle)
        finally:
            shutil.rmtree(copy.parent, ignore_errors=True)
        print(
            f"      idle: {report['idle_shown_cpu_per_min']:.3f} CPU-s/min shown, "
            f"{report['idle_hidden_cpu_per_min']:.3f} hidden (target < 0.2 shown)"
        )


if __name__ == "__main__":
    main()

"""Benchmark the window attached to a remote engine over the engine API (TLS on).

A headless engine runs in its own process on a data folder holding 100,000 jobs (the
history benchmark's database), with five benchmark daemons that publish statuses at a
chosen total rate, each status carrying the wall-clock time it was published. This
process attaches a window through ``RemoteClient`` (a real TLS handshake, the
certificate pinned) and prints:

- status to repaint: p50/p99 from ``update_status`` in the engine to the remote card's
  status label painting it, with the daemons at 1,000 statuses/s in all (target p99 <
  60 ms; the in-process window measures ~33 ms, its coalescing interval);
- the engine loop's lag (p50/p99/max, measured inside the engine by a probe daemon) with
  10 event-stream subscribers attached and 5,000 events/s (target p99 < 25 ms);
- the first page of the 100,000-row jobs table over the API (median of 10; target <
  100 ms).

Usage: python benchmarks/remote_latency.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("STASHDESK_NO_KEYRING", "1")

from stashdesk.daemons.base import BaseDaemon, Rest
from stashdesk.daemons.manager import register_daemon
from stashdesk.options import Option

DAEMONS = [f"bench-{i}" for i in range(1, 6)]
LAG_FILE = "bench-lag.json"


# --- inside the engine (this module is its STASHDESK_PLUGINS) ---------------------------------


def _publisher(index: int) -> type[BaseDaemon]:
    class Publisher(BaseDaemon):
        name = f"bench-{index}"
        display_name = f"Benchmark publisher {index}"
        config_options = [
            Option("rate", "float", 200.0, "Statuses per second.", minimum=1),
            Option("seconds", "float", 10.0, "For how long.", minimum=0.1),
        ]

        async def run_pass(self) -> Rest:
            rate, seconds = self.config["rate"], self.config["seconds"]
            start, sent = time.perf_counter(), 0
            while (elapsed := time.perf_counter() - start) < seconds:
                while sent < int(elapsed * rate):
                    await self.update_status(f"#{sent} t={time.time():.6f} processing batch")
                    sent += 1
                await asyncio.sleep(0.002)
            return Rest(3600, "Benchmark run over")

    return register_daemon(Publisher)


class LagProbe(BaseDaemon):
    """Measures the engine loop's lag while it runs; writes what it saw to a file."""

    name = "bench-lag"
    display_name = "Benchmark lag probe"
    config_options = [Option("seconds", "float", 10.0, "For how long.", minimum=0.1)]

    async def run_pass(self) -> Rest:
        lags: list[float] = []
        end = time.perf_counter() + self.config["seconds"]
        while time.perf_counter() < end:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)
        path = self.services.data_dir / LAG_FILE
        path.write_text(json.dumps(lags))
        return Rest(3600, "Lag measured")


if os.environ.get("STASHDESK_PLUGINS") == "benchmarks.remote_latency":
    for _index in range(1, 6):
        _publisher(_index)
    register_daemon(LagProbe)


# --- the benchmark ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def cli(data_dir: Path, *args: str, env: dict[str, str]) -> str:
    return subprocess.run(
        [sys.executable, "-m", "stashdesk", "--data-dir", str(data_dir), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def run(
    data_dir: Path, port: int, env: dict[str, str], seconds: float, lag_rate: float
) -> None:
    from PySide6.QtCore import QEvent, QObject

    from stashdesk.engine_client.remote import RemoteClient
    from stashdesk.ui.theme import apply_theme
    from stashdesk.ui.window import MainWindow

    info = json.loads(cli(data_dir, "api", "info", "--json", env=env))
    key = cli(data_dir, "api", "key", env=env).strip()
    url = f"https://127.0.0.1:{port}"
    client = RemoteClient(url, key, fingerprint=info["fingerprint"])
    await client.start()
    from PySide6.QtWidgets import QApplication

    apply_theme(QApplication.instance())
    (data_dir.parent / "desktop").mkdir(exist_ok=True)
    window = MainWindow(client, data_dir=data_dir.parent / "desktop", tray_available=False)
    window.resize(1280, 820)
    window.show()

    latencies: list[float] = []

    class Probe(QObject):
        def eventFilter(self, watched: QObject, event: QEvent) -> bool:
            if event.type() == QEvent.Type.Paint:
                text = watched.text()
                if text.startswith("#") and " t=" in text:
                    published = float(text.split(" t=", 1)[1].split(" ", 1)[0])
                    latencies.append(time.time() - published)
            return False

    probe = Probe()
    for name in DAEMONS:
        window.card(name).status_label.installEventFilter(probe)
    ops = client.ops
    try:
        for name in DAEMONS:
            await ops.set_daemon_config(name, {"rate": 200.0, "seconds": seconds})
        for name in DAEMONS:
            await ops.daemon_action(name, "start")
        await wait_for(
            lambda: all(
                client.mirror.daemons[n].status == "Benchmark run over, sleeping for 3600 seconds"
                for n in DAEMONS
            ),
            seconds * 3 + 30,
            "the publishers to finish",
        )
        print(
            f"status to remote repaint at 1,000 statuses/s: p50 "
            f"{percentile(latencies, 0.5) * 1000:.1f} ms, p99 "
            f"{percentile(latencies, 0.99) * 1000:.1f} ms over {len(latencies):,} paints "
            f"(target p99 < 60 ms)"
        )

        subscribers = [
            RemoteClient(url, key, fingerprint=info["fingerprint"]) for _ in range(9)
        ]  # and the window's: 10 streams
        for subscriber in subscribers:
            await subscriber.start()
        for name in DAEMONS:
            await ops.daemon_action(name, "stop")
            await ops.set_daemon_config(name, {"rate": lag_rate / len(DAEMONS), "seconds": seconds})
        await ops.set_daemon_config("bench-lag", {"seconds": seconds})
        lag_file = data_dir / LAG_FILE
        lag_file.unlink(missing_ok=True)
        await ops.daemon_action("bench-lag", "start")
        for name in DAEMONS:
            await ops.daemon_action(name, "start")
        await wait_for(lag_file.exists, seconds * 3 + 30, "the lag probe")
        lags = json.loads(lag_file.read_text())
        print(
            f"engine loop lag at {lag_rate:,.0f} events/s with 10 subscribers: p50 "
            f"{percentile(lags, 0.5) * 1000:.1f} ms, p99 {percentile(lags, 0.99) * 1000:.1f}"
            f" ms, max {max(lags) * 1000:.1f} ms (target p99 < 25 ms)"
        )
        for subscriber in subscribers:
            await subscriber.close()
        for name in DAEMONS:
            await ops.daemon_action(name, "stop")

        timings = []
        for _ in range(10):
            started = time.perf_counter()
            page = await ops.list_jobs(limit=100)
            timings.append(time.perf_counter() - started)
        print(
            f"first page of the jobs table ({page['total']:,} jobs) over the API: median "
            f"{statistics.median(timings) * 1000:.1f} ms, worst {max(timings) * 1000:.1f} ms"
            f" (target < 100 ms)"
        )
    finally:
        window.shutdown()
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--lag-rate",
        type=float,
        default=5000.0,
        help="events per second in all for the loop-lag figure",
    )
    args = parser.parse_args()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtWidgets import QApplication

    from benchmarks.history_page import cached_database
    from tests.cli_helpers import free_port

    work = Path(tempfile.mkdtemp(prefix="stashdesk-remote-"))
    data_dir = work / "engine"
    shutil.copytree(cached_database(1_000_000, 100_000), data_dir)
    env = {
        **os.environ,
        "STASHDESK_PLUGINS": "benchmarks.remote_latency",
        "PYTHONPATH": str(ROOT),
        "STASHDESK_NO_KEYRING": "1",
    }
    cli(data_dir, "config", "set", "api.tls", "on", env=env)
    port = free_port()
    log = (work / "engine.log").open("wb")
    engine = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stashdesk",
            "--headless",
            "--data-dir",
            str(data_dir),
            "--listen",
            f"127.0.0.1:{port}",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not (data_dir / "engine.json").exists():
            if engine.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((work / "engine.log").read_text())
            time.sleep(0.1)
        app = QApplication.instance() or QApplication([])
        loop = qasync.QEventLoop(app)
        loop.run_until_complete(run(data_dir, port, env, args.seconds, args.lag_rate))
    finally:
        engine.terminate()
        engine.wait(60)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""How fast a status reaches the screen, and whether the window stays responsive.

An offscreen window over a real engine (temporary data directory, the store's
writer thread persisting every status) with five daemons whose
``update_status`` is called at a steady total rate. For every update it measures
the time until its card paints that status or a newer one (coalescing may skip
an update, never delay it), and it measures how late the event loop wakes up
from a 5 ms sleep while this goes on.

    QT_QPA_PLATFORM=offscreen python benchmarks/ui_latency.py
    QT_QPA_PLATFORM=offscreen python benchmarks/ui_latency.py --rates 1000 --seconds 10

Targets: p99 update-to-repaint under 100 ms at 1,000 updates/s; event-loop lag
p99 under 25 ms. It prints figures; it does not pass or fail.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("STASHDESK_NO_KEYRING", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import qasync
from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication

from stashdesk.app import Engine, load_plugins
from stashdesk.daemons.base import BaseDaemon, Rest
from stashdesk.daemons.manager import DAEMON_TYPES
from stashdesk.engine_client.local import LocalClient
from stashdesk.ui.theme import apply_theme
from stashdesk.ui.window import MainWindow

DAEMONS = 5


def _bench_daemon(index: int) -> type[BaseDaemon]:
    class BenchDaemon(BaseDaemon):
        name = f"bench-{index}"
        display_name = f"Benchmark daemon {index}"
        description = "Publishes statuses as fast as the benchmark tells it to."

        async def run_pass(self) -> Rest:
            return Rest(3600, "Driven by the benchmark")

    return BenchDaemon


class PaintProbe(QObject):
    """Sees each card's status label paint, and settles the updates it shows."""

    def __init__(self, cards: dict[str, Any]) -> None:
        super().__init__()
        self.cards = cards
        self.pending: dict[str, deque[tuple[int, float]]] = {n: deque() for n in cards}
        self.latencies: list[float] = []
        self.by_label = {card.status_label: name for name, card in cards.items()}
        for label in self.by_label:
            label.installEventFilter(self)

    def published(self, daemon: str, seq: int) -> None:
        self.pending[daemon].append((seq, time.perf_counter()))

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint:
            daemon = self.by_label.get(watched)
            if daemon is not None:
                text = watched.text()
                if text.startswith("#"):
                    shown = int(text[1 : text.index(" ")])
                    now = time.perf_counter()
                    queue = self.pending[daemon]
                    while queue and queue[0][0] <= shown:
                        self.latencies.append(now - queue.popleft()[1])
        return False

    def unsettled(self) -> int:
        return sum(len(q) for q in self.pending.values())


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def measure(
    window: MainWindow, services: Any, names: list[str], rate: int, seconds: float
) -> dict[str, float]:
    probe = PaintProbe({n: window.card(n) for n in names})
    daemons = [services.manager.handle(n).instance for n in names]
    lags: list[float] = []
    stop = asyncio.Event()

    async def lag_probe() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)

    lagger = asyncio.ensure_future(lag_probe())
    flushes_before = window.bridge.flushes
    start = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate)
        while sent < due:
            daemon = daemons[sent % len(daemons)]
            await daemon.update_status(
                f"#{sent} Processing batch {sent} of {rate * seconds:.0f} (50 scenes)"
            )
            probe.published(daemon.name, sent)
            sent += 1
        await asyncio.sleep(0.002)
    deadline = time.perf_counter() + 2
    while probe.unsettled() and time.perf_counter() < deadline:  # noqa: ASYNC110 - bounded
        await asyncio.sleep(0.01)
    stop.set()
    await lagger
    for label in probe.by_label:
        label.removeEventFilter(probe)
    latencies = probe.latencies
    return {
        "rate": rate,
        "sent": sent,
        "painted": len(latencies),
        "unsettled": probe.unsettled(),
        "flushes": window.bridge.flushes - flushes_before,
        "p50": percentile(latencies, 0.50) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "max": max(latencies, default=float("nan")) * 1000,
        "lag_p50": percentile(lags, 0.50) * 1000,
        "lag_p99": percentile(lags, 0.99) * 1000,
        "lag_max": max(lags, default=float("nan")) * 1000,
        "writes": services.store.writer.rows_written,
    }


async def run(rates: list[int], seconds: float) -> list[dict[str, float]]:
    load_plugins()  # the real daemons register now, and make way for the bench ones
    DAEMON_TYPES.clear()
    for index in range(1, DAEMONS + 1):
        cls = _bench_daemon(index)
        DAEMON_TYPES[cls.name] = cls
    names = [f"bench-{i}" for i in range(1, DAEMONS + 1)]
    data_dir = Path(tempfile.mkdtemp(prefix="stashdesk-bench-"))
    engine = Engine(data_dir, use_keyring=False)
    services = await engine.start(auto_start=False, control=False)
    client = LocalClient.of(engine)
    await client.start()
    window = MainWindow(client, data_dir=data_dir, tray_available=False)
    window.resize(1280, 820)
    window.show()
    results = []
    try:
        for name in names:
            await services.manager.start(name)
        while any(  # noqa: ASYNC110 - start-up poll
            services.manager.handle(n).instance is None
            or services.manager.handle(n).instance.status is None
            for n in names
        ):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)
        for rate in rates:
            results.append(await measure(window, services, names, rate, seconds))
    finally:
        window.shutdown()
        await engine.stop()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rates", default="100,1000,5000", help="total status updates per second, comma-separated"
    )
    parser.add_argument("--seconds", type=float, default=5.0, help="per rate")
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")]
    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    results = loop.run_until_complete(run(rates, args.seconds))
    print(
        f"StashDesk UI latency: {DAEMONS} daemons, {args.seconds:g} s per rate, "
        f"platform {app.platformName()}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"{'updates/s':>9} {'sent':>7} {'flushes':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'lag p50':>8} {'lag p99':>8} {'lag max':>8}"
    )
    for r in results:
        print(
            f"{r['rate']:>9} {r['sent']:>7} {r['flushes']:>7} {r['p50']:>7.1f} "
            f"{r['p99']:>7.1f} {r['max']:>7.1f} {r['lag_p50']:>8.1f} {r['lag_p99']:>8.1f} "
            f"{r['lag_max']:>8.1f}"
        )
        if r["unsettled"]:
            print(f"          ({r['unsettled']} updates never painted)")
    target = next((r for r in results if r["rate"] == 1000), None)
    if target is not None:
        print(
            f"targets at 1,000/s: p99 repaint {target['p99']:.1f} ms (< 100), "
            f"loop lag p99 {target['lag_p99']:.1f} ms (< 25)"
        )
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark PROCESS_DOWNLOADS against a real qbittorrent-nox on loopback.

Three runs, each a fresh engine and qBittorrent:

- ``links``: one torrent of ``--files`` small files (default 2,000), hard-linked;
- ``copies``: the same torrent with linking failing (EXDEV simulated), so every
  file is copied through a temporary name, fsync'ed and renamed;
- ``big copy``: one file of ``--big-mib`` MiB (default 512) copied.

Printed for each: wall time of the job, files per second and MiB/s, and the
event loop's p99 / max lag while the job ran (a ticker every 5 ms; the loop
must stay responsive because file work runs on worker threads).

Usage: python benchmarks/downloads.py [--files 2000] [--big-mib 512]
Needs qbittorrent-nox on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import errno
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("STASHDESK_NO_KEYRING", "1")

from stashdesk.app import Engine
from stashdesk.jobs.base import JobType
from tests.standins.qbittorrent_harness import QBittorrentProcess

MiB = 1 << 20


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] if ordered else 0.0


async def measure(tmp: Path, make_content, exdev: bool) -> dict:
    qb = QBittorrentProcess()
    qb.start(tmp / "qbt")
    try:
        content = make_content(tmp / "dl" / "save")
        torrent = qb.add_completed_torrent(content, timeout=600, piece_length=1 << 20)
        library = tmp / "library"
        library.mkdir()
        engine = Engine(tmp / "data", use_keyring=False)
        services = await engine.start(auto_start=False, control=False)
        for key, value in {
            "qbittorrent.url": qb.url,
            "qbittorrent.password": qb.password,
            "downloads.destination": str(library),
        }.items():
            await services.store.write(lambda k=key, v=value: services.settings.set(k, v))
        real_link = os.link
        if exdev:

            def cross_device(src, dst, *a, **k):
                raise OSError(errno.EXDEV, os.strerror(errno.EXDEV))

            os.link = cross_device
        lags: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                before = time.perf_counter()
                await asyncio.sleep(0.005)
                lags.append(time.perf_counter() - before - 0.005)

        tick = asyncio.create_task(ticker())
        started = time.perf_counter()
        try:
            job = await services.runner.submit(JobType.PROCESS_DOWNLOADS, {})
            info = await services.runner.wait(job.id, timeout=3600)
        finally:
            elapsed = time.perf_counter() - started
            os.link = real_link
            stop.set()
            await tick
            await engine.stop()
        assert info.status == "completed", info.error
        assert qb.torrent(torrent)["tags"] == "synced"
        result = info.result
        files = result["files_linked"] + result["files_copied"]
        return {
            "seconds": elapsed,
            "files": files,
            "bytes": result["bytes"],
            "p99_lag_ms": percentile(lags, 99) * 1000,
            "max_lag_ms": max(lags) * 1000,
        }
    finally:
        qb.stop()


def many_files(count: int):
    def make(root: Path) -> Path:
        pack = root / "Pack"
        for i in range(count):
            path = pack / f"dir{i // 100:03d}" / f"file{i:05d}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(4096))
        return pack

    return make


def one_big_file(mib: int):
    def make(root: Path) -> Path:
        pack = root / "Big"
        pack.mkdir(parents=True)
        chunk = os.urandom(MiB)
        with open(pack / "movie.mkv", "wb") as fh:
            for _ in range(mib):
                fh.write(chunk)
        return pack

    return make


def report(name: str, m: dict) -> None:
    print(
        f"{name:>9}: {m['files']:>5} files, {m['bytes'] / MiB:8.1f} MiB in "
        f"{m['seconds']:6.2f} s = {m['files'] / m['seconds']:8.0f} files/s, "
        f"{m['bytes'] / MiB / m['seconds']:7.1f} MiB/s; loop lag p99 "
        f"{m['p99_lag_ms']:.1f} ms, max {m['max_lag_ms']:.1f} ms"
    )


async def main(files: int, big_mib: int) -> None:
    runs = [
        ("links", many_files(files), False),
        ("copies", many_files(files), True),
        ("big copy", one_big_file(big_mib), True),
    ]
    for name, make, exdev in runs:
        with tempfile.TemporaryDirectory() as tmp:
            report(name, await measure(Path(tmp), make, exdev))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--big-mib", type=int, default=512)
    args = parser.parse_args()
    asyncio.run(main(args.files, args.big_mib))

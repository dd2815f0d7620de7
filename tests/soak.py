"""A soak run: a headless engine with all five daemons cycling every few seconds against
the stand-ins (Stash, the video-tag server) and a real qbittorrent-nox, fed new work
all along, with the engine process's memory, open files and threads sampled.

Shared by ``tests/integration/test_soak.py`` (a few minutes, in the suite) and
``benchmarks/soak.py`` (as long as you like, printing every sample).

The feed keeps every daemon busy: a new scene in Stash every few seconds (Auto
Stash Sync copies it, Auto Video Analysis sends it to the video-tag stand-in and
applies the plan back to Stash, Auto Stash Generation has Stash generate for it),
an edit of an older scene, and now and then a finished torrent in qBittorrent
(the Download Processor places it; Stash scans it).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.cli_helpers import HeadlessProcess, configure_data_dir, query
from tests.integration.downloads_helpers import make_pack
from tests.standins.qbittorrent_harness import QBittorrentProcess
from tests.standins.stash_server import StashStandin
from tests.standins.video_tag_server import VideoTagServer

DAEMONS = ("video-analysis", "stash-sync", "plan-applier", "download-processor", "stash-generation")


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the engine started
    rss_kb: int
    fds: int
    threads: int
    db_bytes: int  # the database file and its WAL
    status_rows: int
    log_rows: int
    jobs: int


def slope(samples: list[Sample], field: str) -> float:
    """Least-squares growth of ``field`` per second over ``samples``."""
    xs = [s.at for s in samples]
    ys = [float(getattr(s, field)) for s in samples]
    n = len(xs)
    if n < 2:
        return 0.0
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    spread = sum((x - mean_x) ** 2 for x in xs)
    if not spread:
        return 0.0
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / spread


def _proc_status(pid: int) -> dict[str, str]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        fields[name] = value.strip()
    return fields


class SoakRun:
    """Stand-ins, qBittorrent, a configured data folder and the headless engine.

    Attributes:
        samples: what ``sample`` recorded, oldest first.
        fed: scenes added, scenes edited and torrents added so far.
    """

    def __init__(
        self,
        root: Path,
        qbittorrent: QBittorrentProcess,
        *,
        interval: float = 2.0,
        scene_every: float = 3.0,
        torrent_every: float = 20.0,
        max_rows_per_daemon: int = 300,
    ) -> None:
        self.root = root
        self.qbittorrent = qbittorrent
        self.interval = interval
        self.scene_every = scene_every
        self.torrent_every = torrent_every
        self.max_rows_per_daemon = max_rows_per_daemon
        self.data_dir = root / "data"
        self.library = root / "library"
        self.downloads = root / "downloads"
        self.stash = StashStandin()
        self.video = VideoTagServer()
        self.engine: HeadlessProcess | None = None
        self.samples: list[Sample] = []
        self.fed = {"scenes": 0, "edits": 0, "torrents": 0}
        self.feed_errors: list[BaseException] = []
        self._stop_feeding = threading.Event()
        self._feeder: threading.Thread | None = None
        self._started = 0.0

    # --- set-up ---------------------------------------------------------------------------

    def start(self) -> None:
        self.library.mkdir(parents=True)
        self.downloads.mkdir(parents=True)
        self.stash.start()
        self.stash.job_script = [("RUNNING", 0.5), ("FINISHED", 1.0)]
        self.video.start()
        self.video.set_default(
            video_tags={"actions": ["kissing", "dancing"]},
            tag_timespans={"actions": {"kissing": [(4.0, 8.0)]}},
        )
        self._configure()
        self.engine = HeadlessProcess(self.data_dir, self.root / "headless.log")
        self._started = time.monotonic()
        self.engine.wait_for(self._every_daemon_reported, 60, "every daemon's first status")
        self._feeder = threading.Thread(target=self._feed, name="soak-feeder", daemon=True)
        self._feeder.start()

    def _configure(self) -> None:
        configure_data_dir(
            self.data_dir,
            {
                "stash.url": self.stash.url,
                "stash.timeout": 10,
                "qbittorrent.url": self.qbittorrent.url,
                "qbittorrent.username": self.qbittorrent.username,
                "qbittorrent.password": self.qbittorrent.password,
                "qbittorrent.timeout": 10,
                "analysis.video_server_url": self.video.url,
                "downloads.destination": str(self.library),
                "history.max_rows_per_daemon": self.max_rows_per_daemon,
            },
            {
                name: {"job_interval_seconds": self.interval, "heartbeat_interval": 1}
                for name in DAEMONS
            },
        )

    def _every_daemon_reported(self) -> bool:
        rows = query(self.data_dir, "SELECT DISTINCT daemon FROM daemon_status")
        return set(DAEMONS) <= {name for (name,) in rows}

    # --- the feed -------------------------------------------------------------------------

    def _feed(self) -> None:
        next_torrent = time.monotonic() + self.torrent_every / 2
        scenes: list[str] = []
        while not self._stop_feeding.wait(self.scene_every):
            try:
                number = self.fed["scenes"] + 1
                scenes.append(
                    self.stash.add_scene(f"Soak scene {number}", path=f"/data/soak/{number}.mp4")
                )
                self.fed["scenes"] = number
                if len(scenes) > 3:
                    self.stash.edit_scene(scenes[-3], details=f"edited at {time.time():.0f}")
                    self.fed["edits"] += 1
                if time.monotonic() >= next_torrent:
                    next_torrent = time.monotonic() + self.torrent_every
                    count = self.fed["torrents"] + 1
                    pack = make_pack(
                        self.downloads,
                        f"Soak pack {count}",
                        {"video.mkv": os.urandom(20_000), "info.nfo": b"n" * 200},
                    )
                    self.qbittorrent.add_completed_torrent(pack)
                    self.fed["torrents"] = count
            except BaseException as exc:  # reported by the caller, never silently
                self.feed_errors.append(exc)
                return

    # --- sampling -------------------------------------------------------------------------

    def sample(self) -> Sample:
        assert self.engine is not None
        pid = self.engine.proc.pid
        if self.engine.proc.poll() is not None:
            raise AssertionError(
                f"the engine exited ({self.engine.proc.returncode}):\n{self.engine.log()[-4000:]}"
            )
        status = _proc_status(pid)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        db_bytes = sum(
            p.stat().st_size
            for p in (self.data_dir / "stashdesk.db", self.data_dir / "stashdesk.db-wal")
            if p.exists()
        )
        counts = query(
            self.data_dir,
            "SELECT (SELECT COUNT(*) FROM daemon_status), "
            "(SELECT COUNT(*) FROM daemon_log), "
            "(SELECT COUNT(*) FROM job)",
        )
        status_rows, log_rows, jobs = counts[0] if counts else (0, 0, 0)
        sample = Sample(
            time.monotonic() - self._started,
            int(status["VmRSS"].split()[0]),
            fds,
            int(status["Threads"]),
            db_bytes,
            status_rows,
            log_rows,
            jobs,
        )
        self.samples.append(sample)
        return sample

    def run(self, seconds: float, every: float, on_sample=None) -> list[Sample]:
        """Sample every ``every`` seconds for ``seconds``; ``on_sample(sample)`` hears each."""
        deadline = time.monotonic() + seconds
        while True:
            sample = self.sample()
            if on_sample is not None:
                on_sample(sample)
            if self.feed_errors:
                raise AssertionError(f"feeding work failed: {self.feed_errors[0]!r}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return self.samples
            time.sleep(min(every, remaining))

    def job_counts(self) -> dict[tuple[str, str], int]:
        return {
            (t, s): n
            for t, s, n in query(
                self.data_dir, "SELECT type, status, COUNT(*) FROM job GROUP BY type, status"
            )
        }

    def rows_per_daemon(self) -> dict[str, tuple[int, int]]:
        status = dict(
            query(self.data_dir, "SELECT daemon, COUNT(*) FROM daemon_status GROUP BY daemon")
        )
        logs = dict(query(self.data_dir, "SELECT daemon, COUNT(*) FROM daemon_log GROUP BY daemon"))
        return {name: (status.get(name, 0), logs.get(name, 0)) for name in DAEMONS}

    # --- tear-down --------------------------------------------------------------------------

    def stop(self) -> int | None:
        self._stop_feeding.set()
        if self._feeder is not None:
            self._feeder.join(60)
        code = None
        try:
            if self.engine is not None and self.engine.proc.poll() is None:
                code = self.engine.terminate(60)
        finally:
            self.video.stop()
            self.stash.stop()
        return code

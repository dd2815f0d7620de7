"""Shared pieces of the download tests: content on disk, engine settings, job runs."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from stashdesk.app import Services
from stashdesk.jobs.base import JobInfo, JobType
from stashdesk.store.models import DaemonStatus, HandledDownload
from tests.standins.qbittorrent_harness import QBittorrentProcess

JOB_TIMEOUT = 30.0


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_pack(root: Path, name: str = "Pack", files: dict[str, bytes] | None = None) -> Path:
    """A multi-file content folder ``root/name``."""
    files = files or {
        "movie.mkv": os.urandom(40_000),
        "sub/extra.nfo": b"n" * 1000,
        "sample.txt": b"s" * 300,
    }
    pack = root / name
    for relative, data in files.items():
        write(pack / relative, data)
    return pack


def settings_for(qb: QBittorrentProcess, library: Path, **extra: Any) -> dict[str, Any]:
    settings = {
        "qbittorrent.url": qb.url,
        "qbittorrent.username": qb.username,
        "qbittorrent.password": qb.password,
        "qbittorrent.category": "stash",
        "qbittorrent.timeout": 5,
        "downloads.destination": str(library),
    }
    settings.update(extra)
    return settings


async def run_process_job(services: Services, metadata: dict | None = None) -> JobInfo:
    job = await services.runner.submit(JobType.PROCESS_DOWNLOADS, metadata or {})
    return await services.runner.wait(job.id, timeout=JOB_TIMEOUT)


def tags(qb: QBittorrentProcess, torrent_hash: str) -> list[str]:
    info = qb.torrent(torrent_hash)
    assert info is not None
    return sorted(t.strip() for t in info["tags"].split(",") if t.strip())


def tree(root: Path) -> list[str]:
    """Every entry under root (relative, sorted), symlinks not followed."""
    found = []
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            found.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(found)


async def handled(services: Services) -> list[tuple[str, str, str, int]]:
    rows = await services.store.read(
        lambda: list(HandledDownload.select().order_by(HandledDownload.destination))
    )
    return [(r.torrent_hash, r.destination, r.method, r.size) for r in rows]


async def statuses(services: Services, daemon: str) -> list[tuple[str, str | None, str | None]]:
    await services.store.writer.flush_async()
    rows = await services.store.read(
        lambda: list(
            DaemonStatus.select()
            .where(DaemonStatus.daemon == daemon)
            .order_by(DaemonStatus.at, DaemonStatus.id)
        )
    )
    return [(r.message, r.job_id, r.job_type) for r in rows]


async def in_thread(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Harness calls block (they poll qBittorrent): keep them off the engine's loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)

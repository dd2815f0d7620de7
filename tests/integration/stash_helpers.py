"""Helpers shared by the Stash pipeline tests (jobs and daemons against the stand-in)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from stashdesk.jobs.base import JobInfo
from stashdesk.jobs.sync import read_watermark
from stashdesk.store.models import DaemonLog, DaemonStatus, Job, Scene


async def start_with_stash(engines, stash_server, **settings: Any):
    return await engines.start(settings={"stash.url": stash_server.url, **settings})


async def run_job(
    services, job_type: str, metadata: dict | None = None, timeout: float = 20
) -> JobInfo:
    job = await services.runner.submit(job_type, metadata or {})
    return await services.runner.wait(job.id, timeout)


async def local_scenes(services) -> dict[str, dict[str, Any]]:
    def read() -> dict[str, dict[str, Any]]:
        return {
            s.id: {
                "title": s.title,
                "updated_at": s.updated_at,
                "removed": s.removed,
                "generated": s.generated,
                "hash": s.content_hash,
            }
            for s in Scene.select()
        }

    return await services.store.read(read)


async def watermark(services) -> str | None:
    return (await services.store.read(read_watermark)).updated_at


async def job_row(services, job_id: str) -> Job:
    return await services.store.read(lambda: Job.get(Job.id == job_id))


async def history(services, daemon: str) -> list[tuple[str, str | None, str | None]]:
    await services.store.writer.flush_async()
    rows = await services.store.read(
        lambda: list(
            DaemonStatus.select().where(DaemonStatus.daemon == daemon).order_by(DaemonStatus.id)
        )
    )
    return [(r.message, r.job_id, r.job_type) for r in rows]


async def logs(services, daemon: str) -> list[tuple[str, str]]:
    await services.store.writer.flush_async()
    rows = await services.store.read(
        lambda: list(DaemonLog.select().where(DaemonLog.daemon == daemon).order_by(DaemonLog.id))
    )
    return [(r.level, r.message) for r in rows]


def hook_find_scenes(services, after_call: Callable[[int], Awaitable[None] | None]) -> list:
    """Call ``after_call(n)`` after the n-th ``find_scenes`` answer (1-based) of the job's
    Stash client: a way to act "between pages" of a sync. Returns the list of filters sent."""
    client = services.stash()
    original = client.find_scenes
    sent: list = []

    async def find_scenes(scene_filter=None, **kwargs):
        sent.append(scene_filter)
        answer = await original(scene_filter, **kwargs)
        outcome = after_call(len(sent))
        if outcome is not None:
            await outcome
        return answer

    client.find_scenes = find_scenes
    return sent

"""Stash's own tasks as StashDesk jobs: start one in Stash and follow it until it ends.

STASH_SCAN metadata: ``paths`` (default: setting ``downloads.stash_path``, else
``downloads.destination``; an explicit ``[]`` scans every library path);
``expect_files`` (optional): the files the scan should find (as Stash sees them).
STASH_GENERATE metadata: ``scene_ids`` (default: every scene), ``options``
(overrides of :data:`GENERATE_DEFAULTS`).
STASH_IDENTIFY metadata: ``scene_ids`` (or ``paths``), ``sources`` and
``field_strategies`` (see :mod:`stashdesk.jobs.stash_identify`).
STASH_AUTO_TAG metadata: ``paths``: Stash's auto tagger for performers, studios and
tags on those paths only.

Each stores Stash's job id in its metadata (``stash_job_id``) before it follows the
job (:func:`stashdesk.jobs.stash_follow.follow_stash_job`: live over Stash's
WebSocket, polling when it is unavailable), so a StashDesk restart re-attaches to the
same Stash job instead of starting another: all four types are resumable.

When Stash has forgotten the job (it ended unseen, and Stash keeps only its last ten
finished jobs), the outcome comes from the scenes: a scan with ``expect_files`` is
complete when Stash has a scene for each of them (else it fails, so it is run
again); identify and auto tag are taken as finished, their result saying the
outcome is unknown; a generation fails (its scenes stay marked as needing it).

A completed STASH_GENERATE marks the scenes it covered as generated: its
``scene_ids``, or, without ids, every scene synced before the generation started.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from stashdesk.jobs.base import JobContext, JobFailed, JobType, job_type
from stashdesk.jobs.stash_follow import (
    STASH_ACTIVE,
    OnVanished,
    follow_stash_job,
    forgotten_job_error,
)
from stashdesk.store.scenes import mark_generated

if TYPE_CHECKING:
    from stashdesk.clients.stash import StashClient

__all__ = ["GENERATE_DEFAULTS", "STASH_ACTIVE", "is_scan", "run_stash_task"]

GENERATE_DEFAULTS: dict[str, Any] = {
    "covers": True,
    "sprites": True,
    "previews": True,
    "phashes": True,
    "imagePreviews": False,
    "markers": False,
    "transcodes": False,
    "overwrite": False,
}


def is_scan(stash_job: dict[str, Any]) -> bool:
    """Whether an entry of Stash's job queue is a scan (Stash describes it "Scanning...")."""
    return str(stash_job.get("description") or "").lower().startswith("scan")


async def run_stash_task(
    ctx: JobContext,
    what: str,
    start: Callable[[StashClient], Awaitable[tuple[str, dict[str, Any]]]],
    on_vanished: Callable[[StashClient], Awaitable[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    """Start the Stash task (unless this job already did: then re-attach) and follow it."""
    stash = ctx.services.stash()
    stash_job_id = ctx.metadata.get("stash_job_id")
    reattached = stash_job_id is not None
    if not reattached:
        ctx.check_cancelled()
        started_at = time.time()
        stash_job_id, extra = await start(stash)
        # Saved before the first poll: a restart from here on re-attaches to this job.
        await ctx.save_metadata(stash_job_id=stash_job_id, stash_started_at=started_at, **extra)
        ctx.progress(0.0, f"Started Stash job {stash_job_id}")
    else:
        ctx.log.info("re-attaching to Stash job %s", stash_job_id)
        ctx.progress(None, f"Re-attached to Stash job {stash_job_id}")
    ctx.result["stash_job_id"] = stash_job_id
    vanished: OnVanished | None = None
    if on_vanished is not None:

        async def vanished() -> dict[str, Any]:
            return await on_vanished(stash)

    result = await follow_stash_job(ctx, stash, str(stash_job_id), what, vanished)
    result["reattached"] = reattached
    return result


def scan_paths(ctx: JobContext) -> list[str]:
    if "paths" in ctx.metadata and ctx.metadata["paths"] is not None:
        return [str(p) for p in ctx.metadata["paths"]]
    settings = ctx.services.settings
    path = settings.get("downloads.stash_path") or settings.get("downloads.destination")
    if not path:
        raise JobFailed(
            "No folder to scan: set downloads.stash_path (the library folder as "
            "Stash sees it) or downloads.destination, or give the job paths"
        )
    return [str(path)]


@job_type(
    JobType.STASH_SCAN,
    exclusive=True,
    resumable=True,
    description="Run a metadata scan in Stash and follow it",
)
async def stash_scan_job(ctx: JobContext) -> dict[str, Any]:
    async def start(stash: StashClient) -> tuple[str, dict[str, Any]]:
        paths = scan_paths(ctx)
        return await stash.metadata_scan(paths), {"paths": paths}

    async def from_scenes(stash: StashClient) -> dict[str, Any]:
        expected = [str(p) for p in ctx.metadata.get("expect_files") or []]
        if not expected:
            raise forgotten_job_error(str(ctx.metadata["stash_job_id"]), "metadata scan")
        found = await stash.scene_ids_for_paths(expected)
        missing = [p for p in expected if p not in found]
        if missing:
            raise JobFailed(
                f"Stash no longer knows its scan (job {ctx.metadata['stash_job_id']}) "
                f"and {len(missing)} of {len(expected)} new files are not in Stash "
                f"(e.g. {missing[0]}): the scan did not finish - scan again"
            )
        ctx.note(f"All {len(expected)} new files are in Stash: the scan is taken as finished")
        return {"resolved_from": "scenes", "scene_ids": sorted(set(found.values()), key=int)}

    result = await run_stash_task(ctx, "metadata scan", start, from_scenes)
    result["paths"] = ctx.metadata.get("paths")
    return result


@job_type(
    JobType.STASH_GENERATE,
    exclusive=True,
    resumable=True,
    description="Generate covers, sprites, previews and phashes in Stash and follow it",
)
async def stash_generate_job(ctx: JobContext) -> dict[str, Any]:
    raw_ids = ctx.metadata.get("scene_ids")
    scene_ids = [str(i) for i in raw_ids] if raw_ids else None

    async def start(stash: StashClient) -> tuple[str, dict[str, Any]]:
        options = {**GENERATE_DEFAULTS, **(ctx.metadata.get("options") or {})}
        if scene_ids:
            options["sceneIDs"] = scene_ids
        return await stash.metadata_generate(options), {}

    result = await run_stash_task(ctx, "metadata generation", start)
    started_at = float(ctx.metadata.get("stash_started_at") or time.time())
    now = time.time()
    result["scenes_marked_generated"] = await ctx.services.store.write(
        lambda: mark_generated(scene_ids, started_at, now)
    )
    result["scene_ids"] = len(scene_ids) if scene_ids else "all"
    return result

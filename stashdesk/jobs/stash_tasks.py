"""STASH_SCAN and STASH_GENERATE: start a task in Stash and mirror it until it ends.

STASH_SCAN metadata: ``paths`` (default: setting ``downloads.stash_path``, else
``downloads.destination``; an explicit ``[]`` scans every library path).
STASH_GENERATE metadata: ``scene_ids`` (default: every scene), ``options``
(overrides of :data:`GENERATE_DEFAULTS`).

Both store Stash's job id in their metadata (``stash_job_id``) before they poll
``findJob``, so a StashDesk restart re-attaches to the same Stash job instead of
starting another: both types are resumable. Stash's progress (0..1) becomes the
job's percentage and its description the job's message; FINISHED completes the
job, FAILED fails it with Stash's error, CANCELLED cancels it. Cancelling sends
``stopJob`` and waits until Stash reports the job stopped.

A Stash job whose state (status, progress, description, sub-tasks) has not
changed for ``stash.stalled_job_minutes`` is reported: in the job's message, in
the log, and in ``metadata["stalled"]``, which a waiting daemon shows in its
status (``BaseDaemon.wait_for_job``).

A completed STASH_GENERATE marks the scenes it covered as generated: its
``scene_ids``, or, without ids, every scene synced before the generation started.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from stashdesk.clients.errors import (
    MalformedAnswer,
    ServiceAnswerError,
    ServiceUnreachable,
)
from stashdesk.jobs.base import JobCancelled, JobContext, JobFailed, JobType, job_type
from stashdesk.store.models import Scene

if TYPE_CHECKING:
    from stashdesk.clients.stash import StashClient

POLL_SECONDS = 1.0
# Stash may be briefly unreachable while its job runs on: keep polling this long first.
POLL_ERROR_TOLERANCE_SECONDS = 300.0

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

STASH_FINAL = ("FINISHED", "FAILED", "CANCELLED")
STASH_ACTIVE = ("READY", "RUNNING", "STOPPING")


def describe_duration(seconds: float) -> str:
    if seconds >= 90:
        minutes = seconds / 60
        return f"{minutes:.0f} minutes" if minutes >= 2 else f"{minutes:.1f} minutes"
    return f"{seconds:.0f} seconds" if seconds >= 2 else f"{seconds:.1f} seconds"


def is_scan(stash_job: dict[str, Any]) -> bool:
    """Whether an entry of Stash's job queue is a scan (Stash describes it "Scanning...")."""
    return str(stash_job.get("description") or "").lower().startswith("scan")


def _percent(progress: Any) -> float | None:
    try:
        return None if progress is None else max(0.0, min(100.0, float(progress) * 100.0))
    except (TypeError, ValueError):
        return None


def _message(job: dict[str, Any]) -> str:
    text = str(job.get("description") or f"Stash job {job.get('id')}")
    sub_tasks = job.get("subTasks") or []
    if sub_tasks:
        text += f" - {sub_tasks[0]}"
    if job.get("status") == "READY":
        text += " (waiting in Stash's queue)"
    return text


async def _poll_pause(ctx: JobContext, stopping: bool) -> None:
    if stopping or ctx.cancelled:
        await asyncio.sleep(POLL_SECONDS)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(ctx.cancel_requested.wait(), POLL_SECONDS)


async def mirror_stash_job(ctx: JobContext, stash: StashClient, stash_job_id: str,
                           what: str) -> dict[str, Any]:
    """Follow Stash job ``stash_job_id`` until it ends; returns the result dict."""
    stalled_after = float(ctx.services.settings.get("stash.stalled_job_minutes")) * 60
    stop_sent = False
    last_state: tuple | None = None
    last_change = time.monotonic()
    errors_since: float | None = None
    stalled = ctx.metadata.get("stalled")
    while True:
        try:
            if ctx.cancelled and not stop_sent:
                ctx.progress(None, f"Stopping Stash job {stash_job_id}...")
                await stash.stop_job(stash_job_id)
                stop_sent = True
            job = await stash.find_job(stash_job_id)
            errors_since = None
        except (ServiceUnreachable, ServiceAnswerError, MalformedAnswer) as exc:
            errors_since = errors_since or time.monotonic()
            if time.monotonic() - errors_since > POLL_ERROR_TOLERANCE_SECONDS:
                raise
            ctx.progress(None, f"{exc} - trying again")
            ctx.log.warning("polling Stash job %s: %s", stash_job_id, exc)
            await _poll_pause(ctx, stop_sent)
            continue
        if job is None:
            raise JobFailed(
                f"Stash no longer knows its job {stash_job_id} ({what}); Stash forgets jobs "
                f"when it restarts, so the outcome is unknown - check Stash's logs and run "
                f"the {what} again if needed")
        status = str(job.get("status"))
        state = (status, job.get("progress"), job.get("description"),
                 tuple(job.get("subTasks") or ()))
        if state != last_state:
            last_state, last_change = state, time.monotonic()
            if stalled:
                stalled = None
                ctx.log.info("Stash job %s is moving again", stash_job_id)
                await ctx.save_metadata(stalled=None)
        percent = _percent(job.get("progress"))
        if status == "FINISHED":
            return {"stash_job_id": stash_job_id, "stash_status": status}
        if status == "FAILED":
            raise JobFailed(f"Stash's {what} (job {stash_job_id}) failed: "
                            f"{job.get('error') or 'Stash gave no reason'}")
        if status == "CANCELLED":
            if stop_sent or ctx.cancelled:
                raise JobCancelled()
            raise JobCancelled(f"Cancelled in Stash (job {stash_job_id})")
        if stop_sent:
            ctx.progress(percent, f"Stopping Stash job {stash_job_id} ({status.lower()})...")
        elif stalled:
            ctx.progress(percent, stalled)
        else:
            ctx.progress(percent, _message(job))
        idle = time.monotonic() - last_change
        if not stalled and not stop_sent and idle >= stalled_after:
            at = f" at {percent:.0f}%" if percent is not None else ""
            stalled = (f"Stash job {stash_job_id} ({what}) has made no progress for "
                       f"{describe_duration(idle)} ({status}{at}: "
                       f"{job.get('description') or 'no description'}) - check Stash's task "
                       f"queue")
            ctx.log.warning(stalled)
            ctx.progress(percent, stalled)
            await ctx.save_metadata(stalled=stalled)
        await _poll_pause(ctx, stop_sent)


async def run_stash_task(
    ctx: JobContext, what: str,
    start: Callable[[StashClient], Awaitable[tuple[str, dict[str, Any]]]],
) -> dict[str, Any]:
    """Start the Stash task (unless this job already did: then re-attach) and mirror it."""
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
    result = await mirror_stash_job(ctx, stash, str(stash_job_id), what)
    result["reattached"] = reattached
    return result


def scan_paths(ctx: JobContext) -> list[str]:
    if "paths" in ctx.metadata and ctx.metadata["paths"] is not None:
        return [str(p) for p in ctx.metadata["paths"]]
    settings = ctx.services.settings
    path = settings.get("downloads.stash_path") or settings.get("downloads.destination")
    if not path:
        raise JobFailed("No folder to scan: set downloads.stash_path (the library folder as "
                        "Stash sees it) or downloads.destination, or give the job paths")
    return [str(path)]


@job_type(JobType.STASH_SCAN, exclusive=True, resumable=True,
          description="Run a metadata scan in Stash and follow it")
async def stash_scan_job(ctx: JobContext) -> dict[str, Any]:
    async def start(stash: StashClient) -> tuple[str, dict[str, Any]]:
        paths = scan_paths(ctx)
        return await stash.metadata_scan(paths), {"paths": paths}

    result = await run_stash_task(ctx, "metadata scan", start)
    result["paths"] = ctx.metadata.get("paths")
    return result


def mark_generated(scene_ids: list[str] | None, started_at: float, now: float) -> int:
    """Scenes a completed generation covered become generated (writer thread)."""
    if scene_ids is None:
        return Scene.update(generated=True, generated_at=now).where(
            (Scene.removed == False) & (Scene.synced_at <= started_at)).execute()  # noqa: E712 - peewee SQL
    count = 0
    for start in range(0, len(scene_ids), 500):
        chunk = scene_ids[start:start + 500]
        count += Scene.update(generated=True, generated_at=now).where(
            (Scene.removed == False) & Scene.id.in_(chunk)).execute()  # noqa: E712 - peewee SQL
    return count


@job_type(JobType.STASH_GENERATE, exclusive=True, resumable=True,
          description="Generate covers, sprites, previews and phashes in Stash and follow it")
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
        lambda: mark_generated(scene_ids, started_at, now))
    result["scene_ids"] = len(scene_ids) if scene_ids else "all"
    return result

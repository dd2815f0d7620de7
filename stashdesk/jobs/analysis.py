"""ANALYSIS: run detectors over scenes of the local copy and build one plan of changes.

Metadata: ``scene_ids`` (Stash ids), ``detectors`` (["video_tags"], ["path"] or
both), ``plan_name``; optional ``only_unanalysed`` (skip an analyser that has
already analysed a scene successfully - what the daemon asks for).

* The plan is created with the first change (status pending while it is built)
  and finalised to draft when the job ends, however it ends (completed, failed,
  cancelled), so a partial plan can still be reviewed.
* Each scene is recorded (its changes and its SceneAnalysis rows) in one write
  as soon as it is done: a scene counts as analysed exactly when that write
  commits.
* Video tags are requested for ``analysis.concurrency`` scenes at once (one limit
  for the whole engine, read live from the setting) with the long
  ``analysis.server_timeout``. A scene the server fails on (HTTP error, malformed
  answer, no answer in time) is recorded as errored and gets AI_Errored; the
  batch goes on. A server that cannot be reached at all fails the job instead:
  proposing AI_Errored for every scene because the server is down would be wrong.
* Resumable: a job cut off by a restart (or a kill) continues with the scenes it
  has not recorded yet, in the same plan, instead of being run a second time.
* Cancelling stops at once between scenes; requests still in flight are dropped,
  and those scenes stay unanalysed.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from stashdesk.analysis.detectors import (
    DETECTORS,
    PathDetector,
    ProposedChange,
    keep_confident,
    map_path,
    status_tag_changes,
    video_tag_changes,
)
from stashdesk.analysis.plans import finalise_built_plan, plan_for_job
from stashdesk.analysis.scenes import SceneSnapshot, load_known_names, load_scene_snapshots
from stashdesk.analysis.tracking import (
    analysed_by_job,
    record_scene_outcome,
    successfully_analysed,
)
from stashdesk.clients.errors import VideoTagError, VideoTagTimeout, VideoTagUnreachable
from stashdesk.jobs.base import JobCancelled, JobContext, JobFailed, JobType, job_type

if TYPE_CHECKING:
    from stashdesk.app import Services


class ConcurrencyLimit:
    """At most ``limit()`` holders at once; the limit is read again at every acquire, so a
    changed setting takes effect without a restart."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self.in_use = 0
        self._waiters: list[asyncio.Future] = []

    async def __aenter__(self) -> None:
        while self.in_use >= max(1, int(self._limit())):
            future = asyncio.get_running_loop().create_future()
            self._waiters.append(future)
            try:
                await future
            finally:
                if future in self._waiters:
                    self._waiters.remove(future)
        self.in_use += 1

    async def __aexit__(self, *exc: object) -> None:
        self.in_use -= 1
        # Wake everyone: each re-checks, so a waiter cancelled meanwhile loses no slot.
        waiters, self._waiters = self._waiters, []
        for future in waiters:
            if not future.done():
                future.set_result(None)


_video_limits: weakref.WeakKeyDictionary[Services, ConcurrencyLimit] = (
    weakref.WeakKeyDictionary())


def video_server_limit(services: Services) -> ConcurrencyLimit:
    """The engine-wide limit on requests to the video-tag server."""
    limit = _video_limits.get(services)
    if limit is None:
        limit = ConcurrencyLimit(lambda: services.settings.get("analysis.concurrency"))
        _video_limits[services] = limit
    return limit


def default_plan_name() -> str:
    return f"Analysis - {datetime.now().strftime('%Y-%m-%d %H:%M:%S')}"


def _dedupe(changes: list[ProposedChange]) -> list[ProposedChange]:
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for change in changes:
        value = change.proposed_value
        key = (change.field, change.action,
               value.casefold() if isinstance(value, str) else repr(value))
        if key not in seen:
            seen.add(key)
            kept.append(change)
    return kept


class _Analysis:
    """One run of the job: settings read once, counters, the plan once it exists."""

    def __init__(self, ctx: JobContext, scene_ids: list[str], detectors: list[str],
                 plan_name: str, only_unanalysed: bool) -> None:
        settings = ctx.services.settings
        self.ctx = ctx
        self.store = ctx.services.store
        self.scene_ids = scene_ids
        self.detectors = detectors
        self.plan_name = plan_name
        self.only_unanalysed = only_unanalysed
        self.threshold = float(settings.get("analysis.threshold"))
        self.frame_interval = float(settings.get("analysis.frame_interval"))
        self.create_markers = bool(settings.get("analysis.create_markers"))
        self.path_map = list(settings.get("analysis.path_map"))
        self.workers = int(settings.get("analysis.concurrency"))
        self.plan_id: int | None = ctx.metadata.get("plan_id")
        self.path_detector: PathDetector | None = None
        self.settled: dict[str, set[str]] = {}
        self.processed = 0
        self.counts = {"analysed": 0, "errored": 0, "changes": 0}

    @property
    def total(self) -> int:
        return len(self.scene_ids)

    def report(self) -> None:
        percent = 100.0 * self.processed / self.total if self.total else 100.0
        self.ctx.progress(percent, f"Processed {self.processed}/{self.total} scenes")

    async def detect(self, scene: SceneSnapshot) -> tuple[list[ProposedChange],
                                                          dict[str, str | None]]:
        changes: list[ProposedChange] = []
        errors: dict[str, str | None] = {}
        if "video_tags" in self.detectors and scene.id not in self.settled.get("video_tags", ()):
            error, found = await self._video_tags(scene)
            errors["video_tags"] = error
            changes.extend(found)
        if "path" in self.detectors and scene.id not in self.settled.get("path", ()):
            assert self.path_detector is not None
            changes.extend(keep_confident(self.path_detector.detect(scene), self.threshold))
            errors["path"] = None
        return _dedupe(changes), errors

    async def _video_tags(self, scene: SceneSnapshot) -> tuple[str | None, list[ProposedChange]]:
        path = scene.primary_path
        if path is None:
            return "the scene has no file to analyse", []
        client = self.ctx.services.video_tags()
        try:
            async with video_server_limit(self.ctx.services):
                result = await client.process_video(
                    map_path(path, self.path_map), frame_interval=self.frame_interval,
                    threshold=self.threshold)
        except VideoTagUnreachable as exc:
            if not isinstance(exc, VideoTagTimeout):
                raise  # the server, not this scene: the job fails (see the module docstring)
            self.ctx.log.warning("video-tag analysis of scene %s failed: %s", scene.id, exc)
            return str(exc), status_tag_changes(scene, success=False)
        except VideoTagError as exc:
            self.ctx.log.warning("video-tag analysis of scene %s failed: %s", scene.id, exc)
            return str(exc), status_tag_changes(scene, success=False)
        found = video_tag_changes(scene, result, threshold=self.threshold,
                                  create_markers=self.create_markers)
        return None, found + status_tag_changes(scene, success=True)

    async def record(self, scene: SceneSnapshot, changes: list[ProposedChange],
                     errors: dict[str, str | None]) -> None:
        rows = [c.as_row() for c in changes]
        job_id, name = self.ctx.job_id, self.plan_name
        meta = {"created_by": self.ctx.created_by, "detectors": self.detectors}
        plan_id = await self.store.write(lambda: record_scene_outcome(
            job_id=job_id, plan_name=name, plan_metadata=meta, scene_id=scene.id,
            changes=rows, errors=errors))
        if plan_id is not None and self.plan_id is None:
            self.plan_id = plan_id
            await self.ctx.save_metadata(plan_id=plan_id)
        self.counts["changes"] += len(rows)
        if errors:
            self.counts["errored" if any(errors.values()) else "analysed"] += 1

    async def finalise(self) -> str | None:
        job_id = self.ctx.job_id

        def finalise() -> str | None:
            plan = plan_for_job(job_id)
            return None if plan is None else finalise_built_plan(plan.id)

        return await self.store.write(finalise)


async def _run_workers(run: _Analysis, queue: list[SceneSnapshot]) -> None:
    """Analyse ``queue`` with a few workers; stop at once on cancel or a fatal error."""

    async def worker() -> None:
        while queue:
            if run.ctx.cancelled:
                return
            scene = queue.pop(0)
            changes, errors = await run.detect(scene)
            await run.record(scene, changes, errors)
            run.processed += 1
            run.report()

    tasks = [asyncio.ensure_future(worker()) for _ in range(max(1, min(run.workers, len(queue))))]
    cancel = asyncio.ensure_future(run.ctx.cancel_requested.wait())
    try:
        pending = set(tasks)
        while pending:
            done, _ = await asyncio.wait(pending | {cancel}, return_when=asyncio.FIRST_COMPLETED)
            if cancel in done:
                return
            for task in done:
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            pending -= done
    finally:
        cancel.cancel()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


@job_type(JobType.ANALYSIS, resumable=True,
          description="Analyse scenes with the chosen detectors and build a plan of changes")
async def analysis_job(ctx: JobContext) -> dict[str, Any]:
    meta = ctx.metadata
    scene_ids = [str(s) for s in meta.get("scene_ids") or []]
    detectors = list(meta.get("detectors") or ["video_tags"])
    unknown = [d for d in detectors if d not in DETECTORS]
    if unknown or not detectors:
        raise JobFailed(f"unknown detector(s) {', '.join(unknown)}; use one or more of "
                        f"{', '.join(DETECTORS)}")
    if not scene_ids:
        raise JobFailed("no scenes to analyse (metadata scene_ids is empty)")
    run = _Analysis(ctx, scene_ids, detectors, str(meta.get("plan_name") or default_plan_name()),
                    bool(meta.get("only_unanalysed")))
    store = ctx.services.store
    job_id = ctx.job_id

    snapshots = await store.read(lambda: load_scene_snapshots(scene_ids))
    done = await store.read(lambda: analysed_by_job(job_id, scene_ids, detectors))
    if run.only_unanalysed:
        run.settled = {d: await store.read(lambda d=d: successfully_analysed(scene_ids, d))
                       for d in detectors}
    if "path" in detectors:
        run.path_detector = PathDetector(await store.read(load_known_names))
    missing = [s for s in scene_ids if s not in snapshots]
    if missing:
        ctx.log.info("%d scene(s) are not in the local copy (or were removed from Stash): %s",
                     len(missing), ", ".join(missing[:20]))
    queue = [snapshots[s] for s in scene_ids if s in snapshots and s not in done]
    run.processed = run.total - len(queue)
    run.report()

    def result() -> dict[str, Any]:
        return {"plan_id": run.plan_id, "scenes": run.total, **run.counts,
                "missing": len(missing), "already_done": len(done & set(snapshots)),
                "detectors": detectors}

    try:
        await _run_workers(run, queue)
    except asyncio.CancelledError:
        # Stopped hard (StashDesk quitting): the runner hands the job over to the next
        # start, which resumes it, so the plan stays pending for it.
        raise
    except BaseException:
        ctx.result.update(result())
        await run.finalise()
        raise
    ctx.result.update(result())
    status = await run.finalise()
    if ctx.cancelled:
        ctx.result["plan_status"] = status
        raise JobCancelled()
    return {**result(), "plan_status": status}

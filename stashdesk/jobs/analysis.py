"""ANALYSIS: run detectors over scenes of the local copy and build one plan of changes.

Metadata: ``scene_ids`` (Stash ids), ``detectors`` (["video_tags"], ["path"] or
both), ``plan_name``; optional ``only_unanalysed`` (skip an analyser whose result
for a scene is current: analysed, not requested again, and - with
``analysis.reanalyse_on_change`` - produced as it would be now; what the daemon
asks for).

* The plan is created with the first change (status pending while it is built)
  and finalised to draft when the job ends, however it ends (completed, failed,
  cancelled), so a partial plan can still be reviewed.
* Each scene is recorded (its changes, the notes on what the tag rules and mapping
  left out, and its SceneAnalysis rows with what produced the result) in one write
  as soon as it is done: a scene counts as analysed exactly when that write
  commits.
* Video tags go to the engine's video-tag server pool
  (:mod:`stashdesk.analysis.server_pool`), which bounds the requests per server and
  moves a scene to another server when one fails. A scene the servers fail on
  (HTTP error, malformed answer, no answer in time) is recorded as errored and gets
  AI_Errored; the batch goes on. When no server can be reached at all the job
  fails instead: proposing AI_Errored for every scene because the servers are down
  would be wrong. Scenes carrying Stash's VR tag are sent with ``vr_video``.
* Resumable: a job cut off by a restart (or a kill) continues with the scenes it
  has not recorded yet, in the same plan, instead of being run a second time.
* Cancelling stops at once between scenes; requests still in flight are dropped,
  and those scenes stay unanalysed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from stashdesk.analysis.detectors import (
    DETECTORS,
    PathDetector,
    ProposedChange,
    keep_confident,
    map_path,
    status_tag_changes,
)
from stashdesk.analysis.plans import finalise_built_plan, plan_for_job
from stashdesk.analysis.provenance import (
    CurrentProducer,
    Producer,
    list_requests,
    load_current_producer,
    read_vr_tag,
    save_server_models,
)
from stashdesk.analysis.scenes import SceneSnapshot, load_known_names, load_scene_snapshots
from stashdesk.analysis.server_pool import SceneAttempt, pool_for
from stashdesk.analysis.tag_mapping import load_tag_resolver
from stashdesk.analysis.tag_rules import load_rulebook
from stashdesk.analysis.tracking import (
    analysed_by_job,
    current_analyses,
    record_scene_outcome,
)
from stashdesk.analysis.video_tag_plan import LeftOut, VideoTagPolicy, plan_video_tags
from stashdesk.clients.errors import (
    VideoTagError,
    VideoTagServerError,
    VideoTagTimeout,
    VideoTagUnreachable,
)
from stashdesk.clients.video_tags import read_video_tag_answer
from stashdesk.jobs.base import JobCancelled, JobContext, JobFailed, JobType, job_type
from stashdesk.jobs.outcomes import FAILED_ITEMS_KEPT


def default_plan_name() -> str:
    return f"Analysis - {datetime.now().strftime('%Y-%m-%d %H:%M:%S')}"


def _dedupe(changes: list[ProposedChange]) -> list[ProposedChange]:
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for change in changes:
        value = change.proposed_value
        key = (
            change.field,
            change.action,
            value.casefold() if isinstance(value, str) else repr(value),
        )
        if key not in seen:
            seen.add(key)
            kept.append(change)
    return kept


@dataclass
class _SceneOutcome:
    changes: list[ProposedChange] = field(default_factory=list)
    errors: dict[str, str | None] = field(default_factory=dict)
    producers: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[LeftOut] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)


class _Analysis:
    """One run of the job: settings read once, counters, the plan once it exists."""

    def __init__(
        self,
        ctx: JobContext,
        scene_ids: list[str],
        detectors: list[str],
        plan_name: str,
        only_unanalysed: bool,
    ) -> None:
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
        self.pool = pool_for(ctx.services)
        # One worker per slot: a scene is recorded before its worker takes the next one,
        # so a stop or a cancel always falls between scenes.
        self.workers = max(1, self.pool.capacity)
        self.policy = VideoTagPolicy(self.threshold, self.create_markers, self.frame_interval)
        self.vr_tag: str | None = None
        self.requested: set[str] = set()
        self.plan_id: int | None = ctx.metadata.get("plan_id")
        self.path_detector: PathDetector | None = None
        self.settled: dict[str, set[str]] = {}
        self.processed = 0
        self.counts = {"analysed": 0, "errored": 0, "changes": 0, "left_out": 0}
        # each scene whose analysis failed, for the job's details (bounded)
        self.failed_scenes: list[dict[str, str]] = []
        self.by_server: dict[str, int] = {}

    @property
    def total(self) -> int:
        return len(self.scene_ids)

    def report(self) -> None:
        percent = 100.0 * self.processed / self.total if self.total else 100.0
        self.ctx.progress(percent, f"Processed {self.processed}/{self.total} scenes")

    async def prepare(self) -> None:
        """Read the tag rules, the mapping and Stash's VR tag once for the whole job."""
        await self.load_requests()
        settings = self.ctx.services.settings
        if "video_tags" not in self.detectors:
            return
        policy, create = (
            settings.get("analysis.tag_policy"),
            settings.get("analysis.create_missing_tags"),
        )
        rules = await self.store.read(load_rulebook)
        resolver = await self.store.read(lambda: load_tag_resolver(policy, bool(create)))
        self.policy = VideoTagPolicy(
            self.threshold, self.create_markers, self.frame_interval, rules, resolver
        )
        self.vr_tag = await self.store.read(read_vr_tag)

    async def load_requests(self) -> None:
        self.requested = {r["scene_id"] for r in await self.store.read(list_requests)}

    async def current_producer(self) -> CurrentProducer | None:
        settings = self.ctx.services.settings
        if not settings.get("analysis.reanalyse_on_change"):
            return None
        urls = [s.spec.url for s in self.pool.servers()]
        return await self.store.read(lambda: load_current_producer(settings, urls))

    async def detect(self, scene: SceneSnapshot) -> _SceneOutcome:
        outcome = _SceneOutcome()
        if "video_tags" in self.detectors and scene.id not in self.settled.get("video_tags", ()):
            await self._video_tags(scene, outcome)
        if "path" in self.detectors and scene.id not in self.settled.get("path", ()):
            assert self.path_detector is not None
            outcome.changes.extend(keep_confident(self.path_detector.detect(scene), self.threshold))
            outcome.errors["path"] = None
        return outcome

    async def _video_tags(self, scene: SceneSnapshot, outcome: _SceneOutcome) -> None:
        path = scene.primary_path
        vr_video = bool(self.vr_tag) and scene.has_tag(self.vr_tag or "")
        if path is None:
            return self._video_error(scene, outcome, "the scene has no file to analyse")
        attempt = SceneAttempt()
        while True:
            server = await self.pool.acquire(attempt)  # PoolUnreachable fails the job
            if server is None:  # it failed on every server it could try
                return self._video_error(scene, outcome, attempt.last_error or "failed")
            try:
                answer = await server.client.request_video(
                    map_path(path, server.spec.path_map),
                    frame_interval=self.frame_interval,
                    threshold=self.threshold,
                    vr_video=vr_video,
                )
            except VideoTagTimeout as exc:
                self.pool.failed(server, exc, attempt)
                continue
            except VideoTagUnreachable as exc:
                self.ctx.log.info("%s; scene %s goes to another server", exc, scene.id)
                self.pool.unreachable(server, exc, attempt)
                continue
            except VideoTagServerError as exc:
                if (exc.status or 0) < 500:
                    return self._video_error(scene, outcome, str(exc))
                self.pool.failed(server, exc, attempt)
                continue
            except VideoTagError as exc:
                return self._video_error(scene, outcome, str(exc))
            finally:
                self.pool.release(server)
            break
        try:
            # Decoding hundreds of spans takes milliseconds: off the event loop, and after
            # the server's slot went back to the pool.
            result = await asyncio.to_thread(read_video_tag_answer, answer, self.frame_interval)
        except VideoTagError as exc:
            return self._video_error(scene, outcome, str(exc))
        url, models = server.spec.url, result.models
        if self.pool.succeeded(server, models):
            await self.store.write(lambda: save_server_models(url, models))
        self.by_server[url] = self.by_server.get(url, 0) + 1
        # Hundreds of spans make milliseconds of work: not on the event loop.
        planned = await asyncio.to_thread(plan_video_tags, scene, result, self.policy)
        outcome.changes += planned.changes + status_tag_changes(scene, success=True)
        outcome.notes += planned.notes
        outcome.errors["video_tags"] = None
        outcome.producers["video_tags"] = Producer(
            url, models, self.frame_interval, self.threshold, vr_video
        ).as_fields()

    def _video_error(self, scene: SceneSnapshot, outcome: _SceneOutcome, error: str) -> None:
        self.ctx.log.warning("video-tag analysis of scene %s failed: %s", scene.id, error)
        if len(self.failed_scenes) < FAILED_ITEMS_KEPT:
            name = scene.title or (scene.paths[0] if scene.paths else "")
            self.failed_scenes.append(
                {"scene": f"scene {scene.id}" + (f" ({name})" if name else ""), "reason": error}
            )
        outcome.changes += status_tag_changes(scene, success=False)
        outcome.errors["video_tags"] = error

    async def record(self, scene: SceneSnapshot, outcome: _SceneOutcome) -> None:
        job_id, name, known_plan = self.ctx.job_id, self.plan_name, self.plan_id
        meta = {"created_by": self.ctx.created_by, "detectors": self.detectors}
        # A request made after the job started stays for the next pass (harmless).
        requested = scene.id in self.requested

        def write() -> tuple[int | None, int]:
            # (the rows are built here, on the writer thread, not on the event loop)
            rows = [c.as_row() for c in _dedupe(outcome.changes)]
            return record_scene_outcome(
                job_id=job_id,
                plan_name=name,
                plan_metadata=meta,
                scene_id=scene.id,
                changes=rows,
                errors=outcome.errors,
                producers=outcome.producers,
                notes=[n.as_row(scene.id) for n in outcome.notes],
                analysed_from=outcome.started_at,
                plan_id=known_plan,
                has_request=requested,
            ), len(rows)

        plan_id, written = await self.store.write(write)
        if plan_id is not None and self.plan_id is None:
            self.plan_id = plan_id
            await self.ctx.save_metadata(plan_id=plan_id)
        self.counts["changes"] += written
        self.counts["left_out"] += len(outcome.notes)
        if outcome.errors:
            self.counts["errored" if any(outcome.errors.values()) else "analysed"] += 1

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
            await run.record(scene, await run.detect(scene))
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


@job_type(
    JobType.ANALYSIS,
    resumable=True,
    description="Analyse scenes with the chosen detectors and build a plan of changes",
)
async def analysis_job(ctx: JobContext) -> dict[str, Any]:
    meta = ctx.metadata
    scene_ids = [str(s) for s in meta.get("scene_ids") or []]
    detectors = list(meta.get("detectors") or ["video_tags"])
    unknown = [d for d in detectors if d not in DETECTORS]
    if unknown or not detectors:
        raise JobFailed(
            f"unknown detector(s) {', '.join(unknown)}; use one or more of {', '.join(DETECTORS)}"
        )
    if not scene_ids:
        raise JobFailed("no scenes to analyse (metadata scene_ids is empty)")
    run = _Analysis(
        ctx,
        scene_ids,
        detectors,
        str(meta.get("plan_name") or default_plan_name()),
        bool(meta.get("only_unanalysed")),
    )
    store = ctx.services.store
    job_id = ctx.job_id

    snapshots = await store.read(lambda: load_scene_snapshots(scene_ids))
    done = await store.read(lambda: analysed_by_job(job_id, scene_ids, detectors))
    await run.prepare()
    if run.only_unanalysed:
        current = await run.current_producer()
        run.settled = {
            d: await store.read(partial(current_analyses, scene_ids, d, current)) for d in detectors
        }
    if "path" in detectors:
        run.path_detector = PathDetector(await store.read(load_known_names))
    missing = [s for s in scene_ids if s not in snapshots]
    if missing:
        ctx.log.info(
            "%d scene(s) are not in the local copy (or were removed from Stash): %s",
            len(missing),
            ", ".join(missing[:20]),
        )
    queue = [snapshots[s] for s in scene_ids if s in snapshots and s not in done]
    run.processed = run.total - len(queue)
    run.report()

    def result() -> dict[str, Any]:
        return {
            "plan_id": run.plan_id,
            "scenes": run.total,
            **run.counts,
            "missing": len(missing),
            "already_done": len(done & set(snapshots)),
            "detectors": detectors,
            "servers": dict(run.by_server),
            "failed_scenes": list(run.failed_scenes),
        }

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

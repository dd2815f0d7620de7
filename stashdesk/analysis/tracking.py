"""Which scenes each analyser has seen (SceneAnalysis), and which still need it.

A scene counts as analysed by an analyser once its changes, or its error, are
recorded: both happen in :func:`record_scene_outcome`, in one transaction with
the plan changes, so a crash never leaves changes without the row (which would
analyse the scene twice) or the row without its changes (which would lose them).

A scene the video-tag server failed on is ``errored``; it needs analysis again
once ``retry_after`` seconds have passed since the attempt, until it has been
tried ``max_attempts`` times. A scene analysed before is due again when what
produced its video analysis changed, or on request (see
:mod:`stashdesk.analysis.provenance`).

Which scenes are candidates at all (``analysis.select``): ``new``, every synced
scene; ``tagged``, only scenes carrying AI_TagMe (the peers' workflow) - scenes
due because their producer changed, or requested, are due in either mode.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import peewee as pw

from stashdesk.analysis.detectors import TAG_ME
from stashdesk.analysis.plans import add_changes, ensure_plan_for_job
from stashdesk.analysis.provenance import (
    CurrentProducer,
    requested_scenes,
    settle_request,
    stale_video_analyses,
)
from stashdesk.store.bulk import execute_many
from stashdesk.store.models import PlanNote, Scene, SceneAnalysis, SceneFile, SceneTag, Tag

SELECT_MODES = ("new", "tagged")
PRODUCER_FIELDS = ("server_url", "model_key", "models", "frame_interval", "threshold", "vr_video")


def record_scene_outcome(
    *,
    job_id: str,
    plan_name: str,
    plan_metadata: dict[str, Any],
    scene_id: str,
    changes: list[dict[str, Any]],
    errors: dict[str, str | None],
    now: float | None = None,
    producers: dict[str, dict[str, Any]] | None = None,
    notes: list[dict[str, Any]] | None = None,
    analysed_from: float | None = None,
    plan_id: int | None = None,
    has_request: bool = True,
) -> int | None:
    """Record one scene: its changes and notes (creating the job's plan on the first
    one, unless its ``plan_id`` is known) and, per analyser, ``analysed`` (error None)
    or ``errored`` with what produced it (``producers``). A request to analyse the
    scene made before ``analysed_from`` is done (``has_request`` False: the caller
    knows there is none to look for). Returns the plan id, if any."""
    now = now or time.time()
    if changes or notes:
        if plan_id is None:
            plan_id = ensure_plan_for_job(job_id, plan_name, plan_metadata).id
        add_changes(plan_id, changes)
        json_of = PlanNote.data.db_value
        execute_many(
            PlanNote,
            "INSERT",
            ["plan_id", "scene_id", "ai_tag", "rule", "message", "data", "created_at"],
            [
                (
                    plan_id,
                    n["scene_id"],
                    n["ai_tag"],
                    n["rule"],
                    n["message"],
                    json_of(n.get("data")),
                    now,
                )
                for n in notes or ()
            ],
        )
    for analyzer, error in errors.items():
        produced = {name: None for name in PRODUCER_FIELDS}
        produced.update((producers or {}).get(analyzer, {}))
        values = {
            "status": "errored" if error else "analysed",
            "last_error": error,
            "last_attempt_at": now,
            "job_id": job_id,
            **produced,
        }
        # One statement: a second attempt counts on the row the first one left.
        SceneAnalysis.insert(
            scene_id=scene_id, analyzer=analyzer, attempts=1, **values
        ).on_conflict(
            conflict_target=[SceneAnalysis.scene_id, SceneAnalysis.analyzer],
            update={
                **{getattr(SceneAnalysis, k): v for k, v in values.items()},
                SceneAnalysis.attempts: SceneAnalysis.attempts + 1,
            },
        ).execute()
    if analysed_from is not None and has_request:
        settle_request(scene_id, analysed_from)
    return plan_id


def analysed_by_job(job_id: str, scene_ids: Iterable[str], analyzers: Iterable[str]) -> set[str]:
    """Scenes this job has already recorded for every one of ``analyzers`` (for a resume)."""
    analyzers = list(analyzers)
    ids = [str(s) for s in scene_ids]
    seen: dict[str, int] = {}
    for start in range(0, len(ids), 500):
        rows = SceneAnalysis.select(SceneAnalysis.scene_id).where(
            SceneAnalysis.scene_id.in_(ids[start : start + 500])
            & SceneAnalysis.analyzer.in_(analyzers)
            & (SceneAnalysis.job_id == job_id)
        )
        for (scene_id,) in rows.tuples():
            seen[scene_id] = seen.get(scene_id, 0) + 1
    return {scene_id for scene_id, n in seen.items() if n == len(analyzers)}


def current_analyses(
    scene_ids: Iterable[str], analyzer: str, current: CurrentProducer | None = None
) -> set[str]:
    """Scenes ``analyzer`` analysed successfully and that need nothing now: not
    requested again, and (with ``current``) not produced by something else."""
    ids = [str(s) for s in scene_ids]
    done: set[str] = set()
    for start in range(0, len(ids), 500):
        clause = (
            SceneAnalysis.scene_id.in_(ids[start : start + 500])
            & (SceneAnalysis.analyzer == analyzer)
            & (SceneAnalysis.status == "analysed")
            & SceneAnalysis.scene_id.not_in(requested_scenes())
        )
        if current is not None and analyzer == "video_tags":
            clause &= SceneAnalysis.scene_id.not_in(stale_video_analyses(current))
        rows = SceneAnalysis.select(SceneAnalysis.scene_id).where(clause)
        done.update(scene_id for (scene_id,) in rows.tuples())
    return done


def tagged_for_analysis() -> Any:
    """A query of the scene ids carrying AI_TagMe (any case)."""
    tag_ids = Tag.select(Tag.id).where(pw.fn.LOWER(Tag.name) == TAG_ME.lower())
    return SceneTag.select(SceneTag.scene).where(SceneTag.tag_id.in_(tag_ids))


def _settled(analyzer: str, now: float, retry_after: float, max_attempts: int) -> Any:
    """Scene ids that need nothing from ``analyzer`` now: analysed, or errored and either
    out of attempts or still inside the back-off."""
    return SceneAnalysis.select(SceneAnalysis.scene_id).where(
        (SceneAnalysis.analyzer == analyzer)
        & (
            (SceneAnalysis.status == "analysed")
            | (SceneAnalysis.attempts >= max_attempts)
            | (SceneAnalysis.last_attempt_at > now - retry_after)
        )
    )


def scenes_needing_analysis(
    analyzers: Iterable[str],
    *,
    retry_after: float,
    max_attempts: int,
    exclude: Iterable[str] = (),
    now: float | None = None,
    limit: int | None = None,
    select: str = "new",
    current: CurrentProducer | None = None,
) -> list[str]:
    """Ids of synced scenes (not removed, with a file) that one of ``analyzers`` has not
    analysed yet or should retry now (with ``select`` "tagged": of those carrying
    AI_TagMe), or whose video analysis ``current`` makes due again, or that were
    requested; in Stash id order, minus ``exclude``."""
    now = now or time.time()
    analyzers = list(analyzers)
    if not analyzers:
        return []
    if select not in SELECT_MODES:
        raise ValueError(f"analysis.select must be one of {', '.join(SELECT_MODES)}")
    clause = None
    for analyzer in analyzers:
        needs = Scene.id.not_in(_settled(analyzer, now, retry_after, max_attempts))
        clause = needs if clause is None else clause | needs
    if select == "tagged":
        clause &= Scene.id.in_(tagged_for_analysis())
    if current is not None and "video_tags" in analyzers:
        clause |= Scene.id.in_(stale_video_analyses(current))
    clause |= Scene.id.in_(requested_scenes())
    with_file = SceneFile.select(SceneFile.scene)
    query = (
        Scene.select(Scene.id)
        .where(~Scene.removed & Scene.id.in_(with_file) & clause)
        .order_by(Scene.id.cast("INTEGER"), Scene.id)
    )
    excluded = {str(s) for s in exclude}
    found = []
    for (scene_id,) in query.tuples():
        if scene_id in excluded:
            continue
        found.append(scene_id)
        if limit is not None and len(found) >= limit:
            break
    return found

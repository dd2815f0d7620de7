"""Which scenes each analyser has seen (SceneAnalysis), and which still need it.

A scene counts as analysed by an analyser once its changes, or its error, are
recorded: both happen in :func:`record_scene_outcome`, in one transaction with
the plan changes, so a crash never leaves changes without the row (which would
analyse the scene twice) or the row without its changes (which would lose them).

A scene the video-tag server failed on is ``errored``; it needs analysis again
once ``retry_after`` seconds have passed since the attempt, until it has been
tried ``max_attempts`` times.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from stashdesk.analysis.plans import add_changes, ensure_plan_for_job
from stashdesk.store.models import Scene, SceneAnalysis, SceneFile


def record_scene_outcome(
    *, job_id: str, plan_name: str, plan_metadata: dict[str, Any], scene_id: str,
    changes: list[dict[str, Any]], errors: dict[str, str | None], now: float | None = None,
) -> int | None:
    """Record one scene: its changes (creating the job's plan on the first one) and, per
    analyser, ``analysed`` (error None) or ``errored``. Returns the plan id, if any."""
    now = now or time.time()
    plan_id = None
    if changes:
        plan = ensure_plan_for_job(job_id, plan_name, plan_metadata)
        add_changes(plan.id, changes)
        plan_id = plan.id
    for analyzer, error in errors.items():
        row = SceneAnalysis.get_or_none((SceneAnalysis.scene_id == scene_id) &
                                        (SceneAnalysis.analyzer == analyzer))
        attempts = (row.attempts if row is not None else 0) + 1
        SceneAnalysis.insert(
            scene_id=scene_id, analyzer=analyzer, status="errored" if error else "analysed",
            attempts=attempts, last_error=error, last_attempt_at=now, job_id=job_id,
        ).on_conflict_replace().execute()
    return plan_id


def analysed_by_job(job_id: str, scene_ids: Iterable[str], analyzers: Iterable[str]) -> set[str]:
    """Scenes this job has already recorded for every one of ``analyzers`` (for a resume)."""
    analyzers = list(analyzers)
    ids = [str(s) for s in scene_ids]
    seen: dict[str, int] = {}
    for start in range(0, len(ids), 500):
        rows = SceneAnalysis.select(SceneAnalysis.scene_id).where(
            SceneAnalysis.scene_id.in_(ids[start:start + 500]) &
            SceneAnalysis.analyzer.in_(analyzers) & (SceneAnalysis.job_id == job_id))
        for (scene_id,) in rows.tuples():
            seen[scene_id] = seen.get(scene_id, 0) + 1
    return {scene_id for scene_id, n in seen.items() if n == len(analyzers)}


def successfully_analysed(scene_ids: Iterable[str], analyzer: str) -> set[str]:
    ids = [str(s) for s in scene_ids]
    done: set[str] = set()
    for start in range(0, len(ids), 500):
        rows = SceneAnalysis.select(SceneAnalysis.scene_id).where(
            SceneAnalysis.scene_id.in_(ids[start:start + 500]) &
            (SceneAnalysis.analyzer == analyzer) & (SceneAnalysis.status == "analysed"))
        done.update(scene_id for (scene_id,) in rows.tuples())
    return done


def _settled(analyzer: str, now: float, retry_after: float, max_attempts: int) -> Any:
    """Scene ids that need nothing from ``analyzer`` now: analysed, or errored and either
    out of attempts or still inside the back-off."""
    return SceneAnalysis.select(SceneAnalysis.scene_id).where(
        (SceneAnalysis.analyzer == analyzer) & (
            (SceneAnalysis.status == "analysed")
            | (SceneAnalysis.attempts >= max_attempts)
            | (SceneAnalysis.last_attempt_at > now - retry_after)))


def scenes_needing_analysis(
    analyzers: Iterable[str], *, retry_after: float, max_attempts: int,
    exclude: Iterable[str] = (), now: float | None = None, limit: int | None = None,
) -> list[str]:
    """Ids of synced scenes (not removed, with a file) that one of ``analyzers`` has not
    analysed yet or should retry now, in Stash id order, minus ``exclude``."""
    now = now or time.time()
    analyzers = list(analyzers)
    if not analyzers:
        return []
    clause = None
    for analyzer in analyzers:
        needs = Scene.id.not_in(_settled(analyzer, now, retry_after, max_attempts))
        clause = needs if clause is None else clause | needs
    with_file = SceneFile.select(SceneFile.scene)
    query = (Scene.select(Scene.id)
             .where(~Scene.removed & Scene.id.in_(with_file) & clause)
             .order_by(Scene.id.cast("INTEGER"), Scene.id))
    excluded = {str(s) for s in exclude}
    found = []
    for (scene_id,) in query.tuples():
        if scene_id in excluded:
            continue
        found.append(scene_id)
        if limit is not None and len(found) >= limit:
            break
    return found

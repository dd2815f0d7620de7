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

from stashdesk.analysis.detectors import TAG_ME
from stashdesk.analysis.plans import add_changes, ensure_plan_for_job
from stashdesk.store import analysis as analysis_store
from stashdesk.store.analysis import (  # re-exported: what the ANALYSIS job asks of them
    SELECT_MODES,
    CurrentProducer,
    add_plan_notes,
    analysed_by_job,
    current_analyses,
    record_analysis,
    settle_request,
)

__all__ = [
    "PRODUCER_FIELDS",
    "SELECT_MODES",
    "analysed_by_job",
    "current_analyses",
    "record_scene_outcome",
    "scenes_needing_analysis",
]
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
        add_plan_notes(plan_id, notes or (), now)
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
        record_analysis(scene_id, analyzer, values)
    if analysed_from is not None and has_request:
        settle_request(scene_id, analysed_from)
    return plan_id


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
    return analysis_store.scenes_needing_analysis(
        analyzers,
        retry_after=retry_after,
        max_attempts=max_attempts,
        tag_me=TAG_ME,
        exclude=exclude,
        now=now,
        limit=limit,
        select=select,
        current=current,
    )

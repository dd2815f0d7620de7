"""Plan operations: review (approve, reject, edit) and lifecycle of analysis plans.

The queries themselves live in ``stashdesk.store.plans`` and are re-exported here:
synchronous functions the CLI calls directly, the engine and the window through
``Store.write``. Selectors are combined with AND: a change id, a field, a minimum
confidence; none selects every change. Only changes still open for review
(pending, approved, rejected) are touched: applied, skipped or failed changes keep
their status.

Lifecycle: an ANALYSIS job creates its plan (status pending) with the first
change it finds, adds changes scene by scene, and finalises it to draft (applied
when empty). Reviewing moves a draft to reviewing. APPLY_PLAN marks each change
applied, skipped or failed, and the plan becomes applied once nothing approved
or pending is left.
"""

from __future__ import annotations

from typing import Any

from stashdesk.store.plans import (  # re-exported: the plan operations
    CHANGE_STATUSES,
    OPEN_PLAN_STATUSES,
    PLAN_STATUSES,
    REVIEWABLE,
    ChangeSelector,
    PlanError,
    PlanStateError,
    add_changes,
    approve_changes,
    cancel_plan,
    change_counts,
    change_tag,
    changes_to_apply,
    check_change_ids,
    count_to_apply,
    edit_proposed_value,
    ensure_plan_for_job,
    finalise_built_plan,
    finalise_orphaned_plans,
    finalise_plan_status,
    get_plan,
    list_plans,
    mark_change,
    open_plans,
    plan_changes,
    plan_for_job,
    reject_changes,
)

# The daemon whose plans these mostly are (the Auto Video Analysis): the plan applier
# leaves its plans to it when it applies them itself.
ANALYSIS_DAEMON = "video-analysis"

__all__ = [
    "ANALYSIS_DAEMON",
    "PLAN_STATUSES",
    "CHANGE_STATUSES",
    "REVIEWABLE",
    "OPEN_PLAN_STATUSES",
    "PlanError",
    "PlanStateError",
    "change_tag",
    "ChangeSelector",
    "get_plan",
    "check_change_ids",
    "approve_changes",
    "reject_changes",
    "edit_proposed_value",
    "cancel_plan",
    "list_plans",
    "plan_changes",
    "change_counts",
    "finalise_plan_status",
    "plan_for_job",
    "ensure_plan_for_job",
    "add_changes",
    "finalise_built_plan",
    "finalise_orphaned_plans",
    "changes_to_apply",
    "count_to_apply",
    "mark_change",
    "open_plans",
    "change_as_json",
    "plan_as_json",
]


# --- as JSON (the CLI's stable contract) -------------------------------------------------------


def plan_as_json(plan: Any, counts: dict[str, int] | None = None) -> dict[str, Any]:
    counts = counts or {}
    return {
        "id": plan.id,
        "name": plan.name,
        "status": plan.status,
        "job_id": plan.job_id,
        "created_at": plan.created_at,
        "updated_at": plan.updated_at,
        "applied_at": plan.applied_at,
        "changes": sum(counts.values()),
        "change_counts": {status: counts.get(status, 0) for status in CHANGE_STATUSES},
        "metadata": plan.metadata or {},
    }


def change_as_json(change: Any) -> dict[str, Any]:
    return {
        "id": change.id,
        "plan_id": change.plan_id,
        "scene_id": change.scene_id,
        "field": change.field,
        "action": change.action,
        "current_value": change.current_value,
        "proposed_value": change.proposed_value,
        "confidence": change.confidence,
        "status": change.status,
        "reason": change.reason,
        "applied_at": change.applied_at,
        "created_at": change.created_at,
    }

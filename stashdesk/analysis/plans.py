"""Plan operations: review (approve, reject, edit) and lifecycle of analysis plans.

These are synchronous Peewee functions: the CLI calls them directly, the engine
and the window through ``Store.write``. Selectors are combined with AND: a
change id, a field, a minimum confidence; none selects every change. Only
changes still open for review (pending, approved, rejected) are touched:
applied, skipped or failed changes keep their status.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import peewee as pw

from stashdesk.store.models import Plan, PlanChange

PLAN_STATUSES = ("pending", "draft", "reviewing", "applied", "cancelled")
CHANGE_STATUSES = ("pending", "approved", "rejected", "applied", "skipped", "failed")
REVIEWABLE = ("pending", "approved", "rejected")
OPEN_PLAN_STATUSES = ("draft", "reviewing")


class PlanError(ValueError):
    pass


@dataclass(frozen=True)
class ChangeSelector:
    change_ids: tuple[int, ...] = ()
    field: str | None = None
    min_confidence: float | None = None

    def where(self, plan_id: int) -> Any:
        clause = (PlanChange.plan == plan_id) & PlanChange.status.in_(REVIEWABLE)
        if self.change_ids:
            clause &= PlanChange.id.in_(list(self.change_ids))
        if self.field:
            clause &= PlanChange.field == self.field
        if self.min_confidence is not None:
            clause &= PlanChange.confidence >= self.min_confidence
        return clause


def get_plan(plan_id: int) -> Plan:
    plan = Plan.get_or_none(Plan.id == plan_id)
    if plan is None:
        raise PlanError(f"no plan with id {plan_id}")
    return plan


def _review(plan_id: int, selector: ChangeSelector, status: str) -> int:
    plan = get_plan(plan_id)
    if plan.status not in ("pending",) + OPEN_PLAN_STATUSES:
        raise PlanError(f"plan {plan_id} is {plan.status}; only draft or reviewing plans "
                        f"can be reviewed")
    count = PlanChange.update(status=status).where(selector.where(plan_id)).execute()
    if count and plan.status == "draft":
        plan.status = "reviewing"
    plan.updated_at = time.time()
    plan.save()
    return count


def approve_changes(plan_id: int, selector: ChangeSelector = ChangeSelector()) -> int:
    """Approve the selected changes; returns how many changed."""
    return _review(plan_id, selector, "approved")


def reject_changes(plan_id: int, selector: ChangeSelector = ChangeSelector()) -> int:
    return _review(plan_id, selector, "rejected")


def edit_proposed_value(change_id: int, value: Any) -> PlanChange:
    change = PlanChange.get_or_none(PlanChange.id == change_id)
    if change is None:
        raise PlanError(f"no change with id {change_id}")
    if change.status not in REVIEWABLE:
        raise PlanError(f"change {change_id} is {change.status} and can no longer be edited")
    change.proposed_value = value
    change.save()
    Plan.update(updated_at=time.time()).where(Plan.id == change.plan_id).execute()
    return change


def cancel_plan(plan_id: int) -> Plan:
    plan = get_plan(plan_id)
    if plan.status == "applied":
        raise PlanError(f"plan {plan_id} is already applied")
    plan.status = "cancelled"
    plan.updated_at = time.time()
    plan.save()
    return plan


def change_counts(plan_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
    """{plan id: {change status: count}} for the given plans (all when None)."""
    query = PlanChange.select(PlanChange.plan, PlanChange.status,
                              pw.fn.COUNT(PlanChange.id).alias("n"))
    if plan_ids is not None:
        query = query.where(PlanChange.plan.in_(list(plan_ids)))
    counts: dict[int, dict[str, int]] = {}
    for row in query.group_by(PlanChange.plan, PlanChange.status).namedtuples():
        counts.setdefault(row.plan, {})[row.status] = row.n
    return counts


def finalise_plan_status(plan_id: int) -> str:
    """A plan with nothing approved or pending left becomes applied."""
    plan = get_plan(plan_id)
    open_changes = PlanChange.select().where(
        (PlanChange.plan == plan_id) & PlanChange.status.in_(("pending", "approved"))).count()
    if open_changes == 0 and plan.status in ("pending",) + OPEN_PLAN_STATUSES:
        plan.status = "applied"
        plan.applied_at = plan.updated_at = time.time()
        plan.save()
    return plan.status

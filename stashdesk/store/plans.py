"""Plans and their proposed changes: the queries analysis, review, apply and the
notifications run.

Blocking Peewee functions: reads through ``Store.read``, writes on the writer thread
(``Store.write``), as their callers always did.
"""

from __future__ import annotations

from typing import Any

from stashdesk.store.models import Plan, PlanChange


def plan_summary(plan_id: int) -> dict[str, Any] | None:
    """The plan's id, name and up to two of its scenes' ids, or None."""
    plan = Plan.get_or_none(Plan.id == plan_id)
    if plan is None:
        return None
    scenes = [
        row[0]
        for row in PlanChange.select(PlanChange.scene_id)
        .where(PlanChange.plan == plan_id)
        .distinct()
        .limit(2)
        .tuples()
    ]
    return {"id": plan.id, "name": plan.name, "scene_ids": scenes}

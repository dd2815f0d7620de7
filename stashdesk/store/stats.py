"""Counts of what StashDesk holds (``stashdesk stats``, ``GET /api/v1/stats``)."""

from __future__ import annotations

from typing import Any

from stashdesk.store.jobs import counts_by_status
from stashdesk.store.models import HandledDownload, Job, Plan, PlanChange, Scene


def collect_stats() -> dict[str, Any]:
    return {
        "scenes": Scene.select().where(~Scene.removed).count(),
        "plans": counts_by_status(Plan),
        "changes": counts_by_status(PlanChange),
        "jobs": counts_by_status(Job),
        "handled_downloads": HandledDownload.select().count(),
    }

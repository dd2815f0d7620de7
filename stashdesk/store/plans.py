"""Plans and their proposed changes: review (approve, reject, edit), the lifecycle of
analysis plans, and the lookups applying and notifying need.

These are synchronous Peewee functions: the CLI calls them directly, the engine
and the window through ``Store.write``/``Store.read``. Selectors are combined with
AND: a change id, a field, a minimum confidence; none selects every change. Only
changes still open for review (pending, approved, rejected) are touched:
applied, skipped or failed changes keep their status.

Lifecycle: an ANALYSIS job creates its plan (status pending) with the first
change it finds, adds changes scene by scene, and finalises it to draft (applied
when empty). Reviewing moves a draft to reviewing. APPLY_PLAN marks each change
applied, skipped or failed, and the plan becomes applied once nothing approved
or pending is left.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import peewee as pw

from stashdesk.store.bulk import execute_many
from stashdesk.store.models import (
    Job,
    Plan,
    PlanChange,
    PlanNote,
    Scene,
    SceneFile,
    SceneTag,
    Studio,
    Tag,
)
from stashdesk.store.typed import dicts, namedtuples, rows_changed, tuples

PLAN_STATUSES = ("pending", "draft", "reviewing", "applied", "cancelled")
CHANGE_STATUSES = ("pending", "approved", "rejected", "applied", "skipped", "failed")
REVIEWABLE = ("pending", "approved", "rejected")
OPEN_PLAN_STATUSES = ("draft", "reviewing")


class PlanError(ValueError):
    """Bad input: no such plan or change, an unknown field (the CLI exits 2)."""


class PlanStateError(PlanError):
    """The plan exists but is in a state that does not allow this (the CLI exits 1)."""


def change_tag(field: str, value: Any) -> str | None:
    """The tag a change is about: a tag change's name, a marker's primary tag."""
    if field == "tags" and isinstance(value, str):
        return value
    if field == "markers" and isinstance(value, dict):
        tag = value.get("primary_tag") or value.get("title")
        return tag if isinstance(tag, str) else None
    return None


@dataclass(frozen=True)
class ChangeSelector:
    """Which changes of a plan: combined with AND; nothing given selects all.

    ``tag`` matches tag changes and markers of that tag (any case); ``scene_ids``
    the changes of those scenes.
    """

    change_ids: tuple[int, ...] = ()
    field: str | None = None
    min_confidence: float | None = None
    scene_ids: tuple[str, ...] = ()
    tag: str | None = None

    def where(self, plan_id: int) -> Any:
        clause = (PlanChange.plan == plan_id) & PlanChange.status.in_(REVIEWABLE)
        if self.change_ids:
            clause &= PlanChange.id.in_(list(self.change_ids))
        if self.field:
            clause &= PlanChange.field == self.field
        if self.min_confidence is not None:
            clause &= PlanChange.confidence >= self.min_confidence
        if self.scene_ids:
            clause &= PlanChange.scene_id.in_([str(s) for s in self.scene_ids])
        if self.tag is not None:
            folded = self.tag.strip().casefold()
            candidates = PlanChange.select(
                PlanChange.id, PlanChange.field, PlanChange.proposed_value
            ).where(clause & PlanChange.field.in_(("tags", "markers")))
            ids = [
                c.id
                for c in candidates
                if (change_tag(c.field, c.proposed_value) or "").casefold() == folded
            ]
            clause &= PlanChange.id.in_(ids)
        return clause


def get_plan(plan_id: int) -> Plan:
    plan = Plan.get_or_none(Plan.id == plan_id)
    if plan is None:
        raise PlanError(f"no plan with id {plan_id}")
    return plan


def check_change_ids(plan_id: int, change_ids: Iterable[int]) -> None:
    wanted = set(change_ids)
    if not wanted:
        return
    found = {
        row.id
        for row in PlanChange.select(PlanChange.id).where(
            (PlanChange.plan == plan_id) & PlanChange.id.in_(list(wanted))
        )
    }
    missing = sorted(wanted - found)
    if missing:
        listed = ", ".join(map(str, missing))
        raise PlanError(f"plan {plan_id} has no change with id {listed}")


def _review(plan_id: int, selector: ChangeSelector, status: str) -> int:
    plan = get_plan(plan_id)
    if plan.status not in ("pending",) + OPEN_PLAN_STATUSES:
        raise PlanStateError(
            f"plan {plan_id} is {plan.status}; only draft or reviewing plans can be reviewed"
        )
    check_change_ids(plan_id, selector.change_ids)
    count = rows_changed(PlanChange.update(status=status).where(selector.where(plan_id)))
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


def edit_proposed_value(change_id: int, value: Any, plan_id: int | None = None) -> PlanChange:
    """Replace what a change proposes (before it is applied); ``plan_id`` guards the id."""
    change = PlanChange.get_or_none(PlanChange.id == change_id)
    if change is None or (plan_id is not None and change.plan_id != plan_id):
        where = f" in plan {plan_id}" if plan_id is not None else ""
        raise PlanError(f"no change with id {change_id}{where}")
    if change.status not in REVIEWABLE:
        raise PlanStateError(f"change {change_id} is {change.status} and can no longer be edited")
    change.proposed_value = value
    change.save()
    Plan.update(updated_at=time.time()).where(Plan.id == change.plan_id).execute()
    return change


def cancel_plan(plan_id: int) -> Plan:
    plan = get_plan(plan_id)
    if plan.status == "applied":
        raise PlanStateError(f"plan {plan_id} is already applied")
    plan.status = "cancelled"
    plan.updated_at = time.time()
    plan.save()
    return plan


def list_plans(status: str | None = None) -> list[tuple[Plan, dict[str, int]]]:
    """Plans newest first, each with its change counts by status."""
    query = Plan.select()
    if status:
        query = query.where(Plan.status == status)
    plans = list(query.order_by(Plan.id.desc()))
    counts = change_counts([p.id for p in plans]) if plans else {}
    return [(plan, counts.get(plan.id, {})) for plan in plans]


def plan_changes(
    plan_id: int, offset: int = 0, limit: int | None = None
) -> list[tuple[PlanChange, str | None, str | None]]:
    """A plan's changes by scene, then id; each with its scene's title and first file path."""
    query = (
        PlanChange.select()
        .where(PlanChange.plan == plan_id)
        .order_by(PlanChange.scene_id, PlanChange.id)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    changes = list(query)
    scene_ids = sorted({c.scene_id for c in changes})
    titles: dict[str, str] = {}
    paths: dict[str, str] = {}
    for start in range(0, len(scene_ids), 500):
        chunk = scene_ids[start : start + 500]
        titles.update(tuples(Scene.select(Scene.id, Scene.title).where(Scene.id.in_(chunk))))
        paths.update(
            tuples(
                SceneFile.select(SceneFile.scene, pw.fn.MIN(SceneFile.path))
                .where(SceneFile.scene.in_(chunk))
                .group_by(SceneFile.scene)
            )
        )
    return [(c, titles.get(c.scene_id), paths.get(c.scene_id)) for c in changes]


def change_counts(plan_ids: Iterable[int] | None = None) -> dict[int, dict[str, int]]:
    """{plan id: {change status: count}} for the given plans (all when None)."""
    query = PlanChange.select(
        PlanChange.plan, PlanChange.status, pw.fn.COUNT(PlanChange.id).alias("n")
    )
    if plan_ids is not None:
        query = query.where(PlanChange.plan.in_(list(plan_ids)))
    counts: dict[int, dict[str, int]] = {}
    for row in namedtuples(query.group_by(PlanChange.plan, PlanChange.status)):
        counts.setdefault(row.plan, {})[row.status] = row.n
    return counts


def finalise_plan_status(plan_id: int) -> str:
    """A plan with nothing approved or pending left becomes applied."""
    plan = get_plan(plan_id)
    open_changes = (
        PlanChange.select()
        .where((PlanChange.plan == plan_id) & PlanChange.status.in_(("pending", "approved")))
        .count()
    )
    if open_changes == 0 and plan.status in ("pending",) + OPEN_PLAN_STATUSES:
        plan.status = "applied"
        plan.applied_at = plan.updated_at = time.time()
        plan.save()
    return plan.status


# --- building (the ANALYSIS job) ---------------------------------------------------------


def plan_for_job(job_id: str) -> Plan | None:
    return Plan.get_or_none(Plan.job_id == job_id)


def ensure_plan_for_job(job_id: str, name: str, metadata: dict[str, Any] | None = None) -> Plan:
    """The job's plan, created (status pending) if it has none yet: one plan per job."""
    plan = plan_for_job(job_id)
    if plan is None:
        now = time.time()
        plan = Plan.create(
            name=name,
            status="pending",
            job_id=job_id,
            created_at=now,
            updated_at=now,
            metadata=metadata or {},
        )
    return plan


_CHANGE_COLUMNS = ("scene_id", "field", "action", "current_value", "proposed_value", "confidence")


def add_changes(plan_id: int, rows: Iterable[dict[str, Any]]) -> int:
    """Insert proposed changes (dicts of PlanChange fields) as pending; returns how many."""
    now = time.time()
    json_of = PlanChange.proposed_value.db_value
    batch = [
        (
            plan_id,
            str(row["scene_id"]),
            row["field"],
            row["action"],
            json_of(row.get("current_value")),
            json_of(row.get("proposed_value")),
            float(row.get("confidence", 1.0)),
            "pending",
            now,
        )
        for row in rows
    ]
    execute_many(PlanChange, "INSERT", ["plan_id", *_CHANGE_COLUMNS, "status", "created_at"], batch)
    if batch:
        Plan.update(updated_at=now).where(Plan.id == plan_id).execute()
    return len(batch)


def finalise_built_plan(plan_id: int) -> str:
    """A plan being built (pending) becomes draft, or applied when it holds no change."""
    plan = get_plan(plan_id)
    if plan.status != "pending":
        return plan.status
    now = time.time()
    if PlanChange.select().where(PlanChange.plan == plan_id).count() == 0:
        plan.status, plan.applied_at = "applied", now
    else:
        plan.status = "draft"
    plan.updated_at = now
    plan.save()
    return plan.status


def finalise_orphaned_plans() -> list[int]:
    """Plans left pending by an ANALYSIS job that ended without finalising them (the
    process was killed) become draft, so they can be reviewed and applied."""
    active = ("pending", "running", "cancelling")
    finalised = []
    for plan in Plan.select().where((Plan.status == "pending") & Plan.job_id.is_null(False)):
        job = Job.get_or_none(Job.id == plan.job_id)
        if job is None or job.status not in active:
            finalise_built_plan(plan.id)
            finalised.append(plan.id)
    return finalised


# --- applying (the APPLY_PLAN job) ------------------------------------------------------------


def changes_to_apply(
    plan_id: int, change_ids: Iterable[int] | None = None, auto_approve: bool = False
) -> list[PlanChange]:
    """Explicit ids (unless already applied/skipped or rejected), else approved changes,
    plus pending ones with ``auto_approve``. Ordered by scene, then by id."""
    query = PlanChange.select().where(PlanChange.plan == plan_id)
    ids = list(change_ids or [])
    if ids:
        query = query.where(
            PlanChange.id.in_(ids) & PlanChange.status.in_(("pending", "approved", "failed"))
        )
    else:
        wanted = ("approved", "pending") if auto_approve else ("approved",)
        query = query.where(PlanChange.status.in_(wanted))
    return list(query.order_by(PlanChange.scene_id, PlanChange.id))


def count_to_apply(plan_ids: Iterable[int], auto_approve: bool = False) -> dict[int, int]:
    """{plan id: changes an APPLY_PLAN would apply} (approved, plus pending on auto-approve)."""
    wanted = ("approved", "pending") if auto_approve else ("approved",)
    counts = change_counts(plan_ids)
    return {pid: sum(counts.get(pid, {}).get(s, 0) for s in wanted) for pid in plan_ids}


def mark_change(change_id: int, status: str, reason: str | None = None) -> None:
    now = time.time()
    fields: dict[str, Any] = {"status": status, "reason": reason}
    if status == "applied":
        fields["applied_at"] = now
    PlanChange.update(**fields).where(PlanChange.id == change_id).execute()


def open_plans() -> list[Plan]:
    """Draft and reviewing plans, oldest first."""
    return list(Plan.select().where(Plan.status.in_(OPEN_PLAN_STATUSES)).order_by(Plan.id))


def removed_scene_ids(scene_ids: Iterable[str]) -> set[str]:
    """Which of these scenes Stash no longer has (removed from the local copy)."""
    return {
        s
        for (s,) in tuples(
            Scene.select(Scene.id).where(Scene.removed & Scene.id.in_(list(set(scene_ids))))
        )
    }


# --- the review screen ---------------------------------------------------------------------


def review_scene_details(scene_ids: list[str]) -> dict[str, dict[str, Any]]:
    """{scene id: title, studio, removed, cover_url, duration, sorted tags, first file}."""
    details: dict[str, dict[str, Any]] = {}
    for start in range(0, len(scene_ids), 500):
        chunk = scene_ids[start : start + 500]
        rows = dicts(
            Scene.select(
                Scene.id, Scene.title, Scene.removed, Scene.screenshot, Studio.name.alias("studio")
            )
            .join(Studio, pw.JOIN.LEFT_OUTER, on=(Scene.studio_id == Studio.id))
            .where(Scene.id.in_(chunk))
        )
        for row in rows:
            details[row["id"]] = {
                "title": row["title"],
                "studio": row["studio"],
                "removed": bool(row["removed"]),
                "cover_url": row["screenshot"],
                "duration": None,
                "tags": [],
                "file": None,
            }
        files = (
            SceneFile.select(SceneFile.scene, SceneFile.path, SceneFile.duration)
            .where(SceneFile.scene.in_(chunk))
            .order_by(SceneFile.scene, pw.SQL("rowid"))
        )
        for scene_id, path, duration in tuples(files):
            if scene_id in details and details[scene_id]["file"] is None:
                details[scene_id]["file"], details[scene_id]["duration"] = path, duration
        tags = (
            SceneTag.select(SceneTag.scene, Tag.name)
            .join(Tag, on=(SceneTag.tag_id == Tag.id))
            .where(SceneTag.scene.in_(chunk))
        )
        for scene_id, name in tuples(tags):
            if scene_id in details:
                details[scene_id]["tags"].append(name)
    for item in details.values():
        item["tags"].sort(key=str.casefold)
    return details


def tag_and_marker_changes(plan_id: int) -> list[PlanChange]:
    """The plan's tag and marker changes (field, proposed value and status only)."""
    return list(
        PlanChange.select(PlanChange.field, PlanChange.proposed_value, PlanChange.status).where(
            (PlanChange.plan == plan_id) & PlanChange.field.in_(("tags", "markers"))
        )
    )


def plan_changes_by_id(plan_id: int, scene_ids: Iterable[str] | None = None) -> list[PlanChange]:
    """The plan's changes (of ``scene_ids`` when given), by id."""
    query = PlanChange.select().where(PlanChange.plan == plan_id)
    if scene_ids is not None:
        query = query.where(PlanChange.scene_id.in_([str(s) for s in scene_ids]))
    return list(query.order_by(PlanChange.id))


def plan_notes(plan_id: int) -> list[PlanNote]:
    """What the analysis left out of the plan and why, in the order it was noted."""
    return list(PlanNote.select().where(PlanNote.plan == plan_id).order_by(PlanNote.id))


def scenes_of_selected_changes(plan_id: int, selector: ChangeSelector) -> set[str]:
    """The scenes of the plan's changes ``selector`` selects."""
    return {
        c.scene_id for c in PlanChange.select(PlanChange.scene_id).where(selector.where(plan_id))
    }


def change_statuses_of_scenes(plan_id: int, scene_ids: Iterable[str]) -> list[tuple[str, str]]:
    """(scene id, status) of every change of the plan for these scenes."""
    return list(
        tuples(
            PlanChange.select(PlanChange.scene_id, PlanChange.status).where(
                (PlanChange.plan == plan_id) & PlanChange.scene_id.in_(list(scene_ids))
            )
        )
    )


def plan_summary(plan_id: int) -> dict[str, Any] | None:
    """The plan's id, name and up to two of its scenes' ids, or None."""
    plan = Plan.get_or_none(Plan.id == plan_id)
    if plan is None:
        return None
    scenes = [
        row[0]
        for row in tuples(
            PlanChange.select(PlanChange.scene_id)
            .where(PlanChange.plan == plan_id)
            .distinct()
            .limit(2)
        )
    ]
    return {"id": plan.id, "name": plan.name, "scene_ids": scenes}

"""APPLY_PLAN: write a plan's selected changes to Stash, one committed change at a time.

Metadata: ``plan_id``; optional ``change_ids`` (apply exactly these), and
``auto_approve`` (apply pending changes too, not only approved ones).

Safe to run again at any moment, which is why it is resumable:

* Each change is marked applied (or skipped, or failed) in the database right
  after its Stash write and before the next change starts.
* Every write is idempotent or checked first. Tags and performers are added and
  removed with ``bulkSceneUpdate`` in ADD/REMOVE mode - never by sending a whole
  list, so an edit made in Stash after the analysis survives, and adding what is
  already there changes nothing. A marker is created only after re-reading the
  scene's markers from Stash, so a change whose marker was written just before a
  crash (kill -9 between the write and the commit) does not create a second one.
* Tags, performers and studios are found by name or alias (Stash compares names
  case-insensitively) before one is created, so nothing is created twice. A tag
  StashDesk creates gets "ignore auto tag" (Stash's own Auto Tag must not spread
  AI guesses by file name) and sits under ``analysis.parent_tag`` (default "AI",
  itself created the same way when missing; "-": no parent); tags that exist are
  left as they are.

A change whose scene no longer exists (gone from Stash, or marked removed by the
sync) is skipped with that reason; Stash refusing one change (a GraphQL error)
fails that change only; Stash being unreachable fails the job, leaving the rest
approved for a later attempt. The plan becomes applied once nothing approved or
pending is left.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

from stashdesk.analysis.plans import (
    PlanError,
    changes_to_apply,
    finalise_orphaned_plans,
    finalise_plan_status,
    get_plan,
    mark_change,
)
from stashdesk.clients.errors import StashGraphQLError
from stashdesk.clients.stash import StashClient
from stashdesk.jobs.base import JobContext, JobFailed, JobInfo, JobType, job_type
from stashdesk.store.plans import removed_scene_ids


class ChangeSkipped(Exception):
    """The change cannot (or need not) be applied; the message is the reason."""


class ChangeFailed(Exception):
    """Stash refused this change; the message says why."""


_KINDS = {
    "tags": ("find_tags", "create_tag"),
    "performers": ("find_performers", "create_performer"),
    "studio": ("find_studios", "create_studio"),
}
_SINGULAR = {"tags": "tag", "performers": "performer", "studio": "studio"}


def _aliases(entity: dict[str, Any]) -> list[str]:
    return list(entity.get("aliases") or entity.get("alias_list") or [])


class StashWriter:
    """Applies single changes to Stash; caches names it has resolved and scenes it read."""

    def __init__(self, stash: StashClient, parent_tag: str = "") -> None:
        self.stash = stash
        self.parent_tag = parent_tag.strip()
        self._ids: dict[tuple[str, str], str] = {}
        self._scenes: dict[str, dict[str, Any] | None] = {}

    # --- lookups ------------------------------------------------------------------------

    async def scene(self, scene_id: str, *, refresh: bool = False) -> dict[str, Any]:
        if refresh or scene_id not in self._scenes:
            self._scenes[scene_id] = await self.stash.find_scene(scene_id)
        scene = self._scenes[scene_id]
        if scene is None:
            raise ChangeSkipped(f"scene {scene_id} no longer exists in Stash")
        return scene

    async def entity_id(self, kind: str, name: str, *, create: bool) -> str | None:
        """The id of the tag/performer/studio called ``name`` (or so aliased), created
        when missing and ``create``; None when missing and not ``create``."""
        key = (kind, name.casefold())
        if key in self._ids:
            return self._ids[key]
        found = await self._find(kind, name)
        if found is None and create:
            try:
                await self._create(kind, name)
            except StashGraphQLError as exc:
                # Someone created it meanwhile, or the name is another's alias: look again.
                found = await self._find(kind, name)
                if found is None:
                    raise ChangeFailed(
                        f"could not create {_SINGULAR[kind]} {name!r}: {exc}"
                    ) from None
            else:
                # Read it back rather than trusting the create's answer: one code path
                # decides which entity a name means.
                found = await self._find(kind, name)
        if found is not None:
            self._ids[key] = found
        return found

    async def _create(self, kind: str, name: str) -> None:
        if kind != "tags":
            await getattr(self.stash, _KINDS[kind][1])(name)
            return
        parents = []
        if self.parent_tag and name.casefold() != self.parent_tag.casefold():
            parent = await self.entity_id("tags", self.parent_tag, create=True)
            parents = [parent] if parent is not None else []
        await self.stash.create_tag(name, ignore_auto_tag=True, parent_ids=parents)

    async def _find(self, kind: str, name: str) -> str | None:
        _count, items = await getattr(self.stash, _KINDS[kind][0])(name, aliases=True)
        folded = name.casefold()
        by_name = [e for e in items if str(e.get("name", "")).casefold() == folded]
        by_alias = [e for e in items if folded in (a.casefold() for a in _aliases(e))]
        best = (by_name or by_alias or [None])[0]
        return None if best is None else str(best["id"])

    # --- writes -------------------------------------------------------------------------

    async def apply(self, change: Any) -> str | None:
        """Apply one change; returns a note for the change (or None). Raises ChangeSkipped
        or ChangeFailed; a ServiceError (Stash unreachable...) propagates."""
        scene_id = str(change.scene_id)
        field, action, value = change.field, change.action, change.proposed_value
        scene = await self.scene(scene_id)
        try:
            if field in ("tags", "performers") and action in ("add", "remove"):
                return await self._list_change(scene_id, field, action, value)
            if field == "studio" and action == "set":
                return await self._set_studio(scene, change)
            if field in ("title", "details") and action == "set":
                return await self._set_text(scene, change)
            if field == "markers" and action == "add":
                return await self._add_marker(scene_id, value)
        except StashGraphQLError as exc:
            if "not found" in str(exc) and await self.stash.find_scene(scene_id) is None:
                self._scenes[scene_id] = None
                raise ChangeSkipped(f"scene {scene_id} no longer exists in Stash") from None
            raise ChangeFailed(str(exc)) from None
        raise ChangeFailed(f"unsupported change: {action} on {field}")

    async def _list_change(self, scene_id: str, field: str, action: str, value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            raise ChangeFailed(f"a {_SINGULAR[field]} name is needed, not {value!r}")
        entity = await self.entity_id(field, value, create=action == "add")
        if entity is None:
            raise ChangeSkipped(
                f"{_SINGULAR[field]} {value!r} does not exist in Stash; nothing to remove"
            )
        key = "tag_ids" if field == "tags" else "performer_ids"
        await self.stash.bulk_update_scenes(
            {"ids": [scene_id], key: {"ids": [entity], "mode": action.upper()}}
        )
        return None

    async def _set_studio(self, scene: dict[str, Any], change: Any) -> str | None:
        current = (scene.get("studio") or {}).get("name")
        value = change.proposed_value
        if _same(current, value):
            return "the scene already had this studio"
        if not _same(current, change.current_value):
            raise ChangeSkipped(
                f"the studio was changed in Stash meanwhile (now {current!r}); not overwritten"
            )
        studio_id = await self.entity_id("studio", value, create=True) if value else None
        await self.stash.update_scene({"id": scene["id"], "studio_id": studio_id})
        return None

    async def _set_text(self, scene: dict[str, Any], change: Any) -> str | None:
        current, value = scene.get(change.field), change.proposed_value
        if (current or "") == (value or ""):
            return f"the scene already had this {change.field}"
        if (current or "") != (change.current_value or ""):
            raise ChangeSkipped(
                f"the {change.field} was changed in Stash meanwhile; not overwritten"
            )
        await self.stash.update_scene({"id": scene["id"], change.field: value})
        return None

    async def _add_marker(self, scene_id: str, value: Any) -> str | None:
        if not isinstance(value, dict) or not value.get("title") or value.get("seconds") is None:
            raise ChangeFailed(f"a marker needs a title and seconds, not {value!r}")
        title, seconds = str(value["title"]), float(value["seconds"])
        # Re-read now: a previous run may have written this marker just before it died.
        scene = await self.scene(scene_id, refresh=True)
        for marker in scene.get("scene_markers") or []:
            if str(marker.get("title", "")).casefold() == title.casefold() and int(
                float(marker.get("seconds", -1))
            ) == int(seconds):
                return "the scene already had this marker"
        primary = await self.entity_id("tags", str(value.get("primary_tag") or title), create=True)
        fields: dict[str, Any] = {
            "scene_id": scene_id,
            "title": title,
            "seconds": seconds,
            "primary_tag_id": primary,
        }
        if value.get("end_seconds") is not None:
            fields["end_seconds"] = float(value["end_seconds"])
        await self.stash.create_marker(fields)
        return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    return (a or None) == (b or None)


def applying_plans(jobs: list[JobInfo]) -> set[int]:
    """Plans some pending or running APPLY_PLAN job is applying (both daemons that apply
    plans ask, so neither starts a second apply of the same plan)."""
    plans: set[int] = set()
    for job in jobs:
        if job.type == JobType.APPLY_PLAN and not job.finished:
            plan_id = job.metadata.get("plan_id")
            if plan_id is None:
                continue
            try:
                plans.add(int(plan_id))
            except (TypeError, ValueError):
                continue
    return plans


@job_type(
    JobType.APPLY_PLAN,
    exclusive=True,
    resumable=True,
    description="Apply a plan's approved changes to Stash",
)
async def apply_plan_job(ctx: JobContext) -> dict[str, Any]:
    meta = ctx.metadata
    try:
        plan_id = int(meta["plan_id"])
        change_ids = [int(c) for c in meta.get("change_ids") or []]
    except (KeyError, TypeError, ValueError):
        raise JobFailed(
            "APPLY_PLAN needs metadata plan_id (a number) and optionally change_ids (numbers)"
        ) from None
    auto_approve = bool(meta.get("auto_approve"))
    store = ctx.services.store
    started = time.monotonic()

    def load() -> tuple[Any, list[Any]]:
        plan = get_plan(plan_id)
        return plan, changes_to_apply(plan_id, change_ids, auto_approve)

    await store.write(finalise_orphaned_plans)
    try:
        plan, changes = await store.read(load)
    except PlanError as exc:
        raise JobFailed(str(exc)) from None
    if plan.status == "cancelled":
        raise JobFailed(f"plan {plan_id} was cancelled; nothing was applied")
    if plan.status == "pending":
        raise JobFailed(
            f"plan {plan_id} is still being built by its analysis job; apply it once it is a draft"
        )

    parent_tag = str(ctx.services.settings.get("analysis.parent_tag")).strip()
    writer = StashWriter(ctx.services.stash(), "" if parent_tag == "-" else parent_tag)
    removed = await store.read(lambda: removed_scene_ids(c.scene_id for c in changes))
    counts = {"applied": 0, "skipped": 0, "failed": 0}
    errors: list[dict[str, Any]] = []

    def result() -> dict[str, Any]:
        return {
            "plan_id": plan_id,
            **counts,
            "errors": errors,
            "selected": len(changes),
            "duration": round(time.monotonic() - started, 3),
        }

    total = len(changes)
    ctx.progress(0.0 if total else 100.0, f"0/{total} changes done")
    try:
        for done, change in enumerate(changes, 1):
            ctx.check_cancelled()
            try:
                if change.scene_id in removed:
                    raise ChangeSkipped(f"scene {change.scene_id} was removed from Stash")
                status, reason = "applied", await writer.apply(change)
            except ChangeSkipped as exc:
                status, reason = "skipped", str(exc)
            except ChangeFailed as exc:
                status, reason = "failed", str(exc)
                errors.append(
                    {
                        "change_id": change.id,
                        "scene_id": change.scene_id,
                        "field": change.field,
                        "error": reason,
                    }
                )
                ctx.log.warning("change %s of plan %s failed: %s", change.id, plan_id, reason)
            await store.write(partial(mark_change, change.id, status, reason))
            counts[status] += 1
            ctx.result.update(result())
            ctx.progress(
                100.0 * done / total,
                f"{done}/{total} changes done ({counts['applied']} applied, "
                f"{counts['skipped']} skipped, {counts['failed']} failed)",
            )
    finally:
        plan_status = await store.write(lambda: finalise_plan_status(plan_id))
        ctx.result.update(result())
        ctx.result["plan_status"] = plan_status
    return {**result(), "plan_status": plan_status}

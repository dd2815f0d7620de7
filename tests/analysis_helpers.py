"""Seeding the LOCAL copy of Stash for analysis tests.

The SYNC job owns the local copy in the product; these tests put rows there
directly (``seed_scene``), or copy what the Stash stand-in holds
(``mirror_standin``) so that scene, tag and performer ids agree with it.
The seeding functions are synchronous Peewee code: run them through ``Store.write``;
the async ones run an ANALYSIS job or read its outcome through the engine.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from stashdesk.store.models import (
    Performer,
    Plan,
    PlanChange,
    Scene,
    SceneAnalysis,
    SceneFile,
    SceneMarker,
    ScenePerformer,
    SceneTag,
    Studio,
    Tag,
)


def _entity(model: Any, entity_id: str, name: str, aliases: Iterable[str] = ()) -> str:
    model.insert(id=entity_id, name=name, aliases=list(aliases)).on_conflict_replace().execute()
    return entity_id


def seed_entity(kind: str, name: str, aliases: Iterable[str] = ()) -> str:
    model = {"tag": Tag, "performer": Performer, "studio": Studio}[kind]
    return _entity(model, f"{kind[0]}-{name.casefold()}", name, aliases)


def seed_scene(
    scene_id: str,
    *,
    title: str | None = None,
    paths: Iterable[str] = (),
    tags: Iterable[str] = (),
    performers: Iterable[str] = (),
    studio: str | None = None,
    markers: Iterable[tuple[str, float]] = (),
    removed: bool = False,
) -> str:
    """A local scene; tag/performer/studio names get local rows (created when missing)."""
    studio_id = seed_entity("studio", studio) if studio else None
    Scene.insert(
        id=scene_id, title=title, studio_id=studio_id, removed=removed, synced_at=time.time()
    ).on_conflict_replace().execute()
    paths = list(paths) or [f"/data/videos/scene-{scene_id}.mp4"]
    for number, path in enumerate(paths):
        SceneFile.insert(
            id=f"f{scene_id}-{number}", scene=scene_id, path=path
        ).on_conflict_replace().execute()
    for name in tags:
        SceneTag.insert(
            scene=scene_id, tag_id=seed_entity("tag", name)
        ).on_conflict_ignore().execute()
    for name in performers:
        ScenePerformer.insert(
            scene=scene_id, performer_id=seed_entity("performer", name)
        ).on_conflict_ignore().execute()
    for number, (title_, seconds) in enumerate(markers):
        SceneMarker.insert(
            id=f"m{scene_id}-{number}", scene=scene_id, title=title_, seconds=seconds
        ).on_conflict_replace().execute()
    return scene_id


def mirror_standin(server: Any) -> None:
    """Copy the stand-in's scenes, files, tags, performers, studios and markers locally."""
    for table, model in (
        (server.tags, Tag),
        (server.performers, Performer),
        (server.studios, Studio),
    ):
        for entity in list(table.values()):
            _entity(model, entity.id, entity.name, entity.aliases)
    for scene in list(server.scenes.values()):
        Scene.insert(
            id=scene.id,
            title=scene.title,
            details=scene.details,
            studio_id=scene.studio_id,
            updated_at=scene.updated_at,
            synced_at=time.time(),
        ).on_conflict_replace().execute()
        SceneFile.delete().where(SceneFile.scene == scene.id).execute()
        for file in scene.files:
            SceneFile.insert(id=file.id, scene=scene.id, path=file.path).execute()
        SceneTag.delete().where(SceneTag.scene == scene.id).execute()
        for tag_id in scene.tag_ids:
            SceneTag.insert(scene=scene.id, tag_id=tag_id).execute()
        ScenePerformer.delete().where(ScenePerformer.scene == scene.id).execute()
        for performer_id in scene.performer_ids:
            ScenePerformer.insert(scene=scene.id, performer_id=performer_id).execute()
        SceneMarker.delete().where(SceneMarker.scene == scene.id).execute()
        for marker in server.scene_markers(scene.id):
            SceneMarker.insert(
                id=marker.id,
                scene=scene.id,
                title=marker.title,
                seconds=marker.seconds,
                end_seconds=marker.end_seconds,
                primary_tag_id=marker.primary_tag_id,
            ).execute()


def seed_plan(
    name: str,
    changes: Iterable[dict[str, Any]],
    *,
    status: str = "draft",
    job_id: str | None = None,
    metadata: dict | None = None,
) -> int:
    """A plan with changes (dicts of PlanChange fields; status defaults to pending)."""
    now = time.time()
    plan = Plan.create(
        name=name,
        status=status,
        job_id=job_id,
        created_at=now,
        updated_at=now,
        metadata=metadata or {},
    )
    for change in changes:
        PlanChange.create(
            plan=plan.id,
            created_at=now,
            **{"action": "add", "confidence": 1.0, "status": "pending", **change},
        )
    return plan.id


def plan_changes(plan_id: int) -> list[PlanChange]:
    return list(PlanChange.select().where(PlanChange.plan == plan_id).order_by(PlanChange.id))


async def analyse(
    services: Any,
    scene_ids: Iterable[str],
    detectors=("video_tags",),
    plan_name: str = "Test plan",
    timeout: float = 20,
    **meta: Any,
) -> Any:
    """Run an ANALYSIS job to its end; returns its final JobInfo."""
    info = await services.runner.submit(
        "ANALYSIS",
        {
            "scene_ids": list(scene_ids),
            "detectors": list(detectors),
            "plan_name": plan_name,
            **meta,
        },
    )
    return await services.runner.wait(info.id, timeout=timeout)


async def plan_of(services: Any, job_id: str) -> Plan | None:
    return await services.store.read(lambda: Plan.get_or_none(Plan.job_id == job_id))


async def changes_of(services: Any, plan_id: int) -> list[tuple]:
    """(scene, field, action, value, confidence) by scene (scenes finish in any order)."""
    rows = await services.store.read(lambda: plan_changes(plan_id))
    rows.sort(key=lambda c: c.scene_id)
    return [(c.scene_id, c.field, c.action, c.proposed_value, c.confidence) for c in rows]


async def analysis_rows(services: Any) -> dict[tuple[str, str], SceneAnalysis]:
    rows = await services.store.read(lambda: list(SceneAnalysis.select()))
    return {(r.scene_id, r.analyzer): r for r in rows}

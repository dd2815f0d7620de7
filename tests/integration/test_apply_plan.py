"""The APPLY_PLAN job against the Stash stand-in on 127.0.0.1."""

from __future__ import annotations

from stashdesk.jobs.base import JobStatus
from stashdesk.store.models import Plan, Scene
from tests.analysis_helpers import mirror_standin, plan_changes, seed_plan


def stash_settings(server) -> dict:
    return {"stash.url": server.url}


async def apply(services, plan_id, timeout=20, **meta):
    info = await services.runner.submit("APPLY_PLAN", {"plan_id": plan_id, **meta})
    return await services.runner.wait(info.id, timeout=timeout)


async def changes(services, plan_id) -> list[tuple]:
    rows = await services.store.read(lambda: plan_changes(plan_id))
    return [
        (
            c.proposed_value if c.field != "markers" else c.proposed_value["title"],
            c.status,
            c.reason,
        )
        for c in rows
    ]


async def plan_status(services, plan_id) -> str:
    return await services.store.read(lambda: Plan.get(Plan.id == plan_id).status)


def tag_names(server, scene_id) -> list[str]:
    return sorted(server.tags[t].name for t in server.scenes[scene_id].tag_ids)


def tag(scene_id, value, action="add", status="approved", **kw) -> dict:
    return {
        "scene_id": scene_id,
        "field": "tags",
        "action": action,
        "proposed_value": value,
        "status": status,
        **kw,
    }


def marker(scene_id, title, seconds, end=None, status="approved") -> dict:
    return {
        "scene_id": scene_id,
        "field": "markers",
        "action": "add",
        "status": status,
        "proposed_value": {
            "title": title,
            "seconds": seconds,
            "end_seconds": end,
            "primary_tag": title,
        },
    }


async def test_add_and_remove_keep_edits_made_in_stash_meanwhile(engines, stash_server) -> None:
    scene = stash_server.add_scene("One", tags=["AI_TagMe", "Keep"], performers=["Ann"])
    services = await engines.start(settings=stash_settings(stash_server))
    await services.store.write(lambda: mirror_standin(stash_server))
    plan_id = await services.store.write(
        lambda: seed_plan(
            "P",
            [
                tag(scene, "Kissing_AI"),
                tag(scene, "AI_TagMe", "remove"),
                tag(scene, "AI_Tagged"),
                {
                    "scene_id": scene,
                    "field": "performers",
                    "action": "add",
                    "proposed_value": "Bob",
                    "status": "approved",
                },
            ],
        )
    )
    # after the analysis, someone edits the scene in Stash
    stash_server.edit_scene(
        scene, tags=["AI_TagMe", "Keep", "Added by hand"], performers=["Ann", "Cleo"]
    )
    final = await apply(services, plan_id)
    assert final.status == JobStatus.COMPLETED, final.error
    assert tag_names(stash_server, scene) == ["AI_Tagged", "Added by hand", "Keep", "Kissing_AI"]
    performers = sorted(
        stash_server.performers[p].name for p in stash_server.scenes[scene].performer_ids
    )
    assert performers == ["Ann", "Bob", "Cleo"]
    # additions and removals, never a whole list
    updates = stash_server.requests_for("bulkSceneUpdate")
    modes = [
        (r.variables["input"].get("tag_ids") or r.variables["input"]["performer_ids"])["mode"]
        for r in updates
    ]
    assert modes == ["ADD", "REMOVE", "ADD", "ADD"]
    assert stash_server.requests_for("sceneUpdate") == []
    assert (final.result["applied"], final.result["skipped"], final.result["failed"]) == (4, 0, 0)
    assert final.result["errors"] == [] and final.result["duration"] >= 0
    assert await plan_status(services, plan_id) == "applied"
    rows = await services.store.read(lambda: plan_changes(plan_id))
    assert all(r.status == "applied" and r.applied_at for r in rows)


async def test_find_or_create_by_name_and_alias_without_duplicates(engines, stash_server) -> None:
    first = stash_server.add_scene("One")
    second = stash_server.add_scene("Two")
    stash_server.add_tag("outdoor")
    stash_server.add_tag("Blonde", aliases=["Blond"])
    stash_server.add_performer("Jane Doe", aliases=["JD"])
    services = await engines.start(settings=stash_settings(stash_server))
    await services.store.write(lambda: mirror_standin(stash_server))
    plan_id = await services.store.write(
        lambda: seed_plan(
            "P",
            [
                tag(first, "Outdoor"),
                tag(first, "BLOND"),
                tag(first, "Brand_New_AI"),
                tag(second, "brand_new_ai"),
                tag(second, "OUTDOOR"),
                {
                    "scene_id": second,
                    "field": "performers",
                    "action": "add",
                    "proposed_value": "jd",
                    "status": "approved",
                },
                {
                    "scene_id": second,
                    "field": "studio",
                    "action": "set",
                    "proposed_value": "Acme",
                    "current_value": None,
                    "status": "approved",
                },
            ],
        )
    )
    final = await apply(services, plan_id)
    assert final.status == JobStatus.COMPLETED, final.error
    names = sorted(t.name for t in stash_server.tags.values())
    # one tag created, once, under the parent tag (created too); both ignore Auto Tag
    assert names == ["AI", "Blonde", "Brand_New_AI", "outdoor"]
    created = {t.name: t for t in stash_server.tags.values()}
    assert created["Brand_New_AI"].parent_ids == [created["AI"].id]
    assert (created["Brand_New_AI"].ignore_auto_tag, created["AI"].ignore_auto_tag) == (True, True)
    assert created["AI"].parent_ids == [] and created["outdoor"].ignore_auto_tag is False
    assert tag_names(stash_server, first) == ["Blonde", "Brand_New_AI", "outdoor"]
    assert tag_names(stash_server, second) == ["Brand_New_AI", "outdoor"]
    assert [p.name for p in stash_server.performers.values()] == ["Jane Doe"]
    assert stash_server.studios[stash_server.scenes[second].studio_id].name == "Acme"
    assert len(stash_server.requests_for("tagCreate")) == 2


async def test_created_tags_use_an_existing_parent_or_none(engines, stash_server) -> None:
    scene = stash_server.add_scene("One")
    parent = stash_server.add_tag("Machine Tags")
    services = await engines.start(
        settings={**stash_settings(stash_server), "analysis.parent_tag": "machine tags"}
    )
    await services.store.write(lambda: mirror_standin(stash_server))
    plan_id = await services.store.write(lambda: seed_plan("P", [tag(scene, "Kissing_AI")]))
    assert (await apply(services, plan_id)).status == JobStatus.COMPLETED
    kissing = stash_server.tags[stash_server.tag_id("Kissing_AI")]
    assert kissing.parent_ids == [parent] and kissing.ignore_auto_tag
    assert [r.variables["input"] for r in stash_server.requests_for("tagCreate")] == [
        {"name": "Kissing_AI", "ignore_auto_tag": True, "parent_ids": [parent]}
    ]

    await services.store.write(lambda: services.settings.set("analysis.parent_tag", "-"))
    plan_id = await services.store.write(lambda: seed_plan("Q", [tag(scene, "Hugging_AI")]))
    assert (await apply(services, plan_id)).status == JobStatus.COMPLETED
    hugging = stash_server.tags[stash_server.tag_id("Hugging_AI")]
    assert hugging.parent_ids == [] and hugging.ignore_auto_tag


async def test_changes_of_vanished_scenes_are_skipped(engines, stash_server) -> None:
    gone = stash_server.add_scene("Gone")
    removed = stash_server.add_scene("Removed locally")
    kept = stash_server.add_scene("Kept")
    services = await engines.start(settings=stash_settings(stash_server))
    await services.store.write(lambda: mirror_standin(stash_server))
    await services.store.write(
        lambda: Scene.update(removed=True).where(Scene.id == removed).execute()
    )
    stash_server.delete_scene(gone)
    plan_id = await services.store.write(
        lambda: seed_plan(
            "P",
            [tag(gone, "A_AI"), marker(gone, "A_AI", 10), tag(removed, "B_AI"), tag(kept, "C_AI")],
        )
    )
    final = await apply(services, plan_id)
    assert final.status == JobStatus.COMPLETED
    assert (final.result["applied"], final.result["skipped"]) == (1, 3)
    assert await changes(services, plan_id) == [
        ("A_AI", "skipped", f"scene {gone} no longer exists in Stash"),
        ("A_AI", "skipped", f"scene {gone} no longer exists in Stash"),
        ("B_AI", "skipped", f"scene {removed} was removed from Stash"),
        ("C_AI", "applied", None),
    ]
    assert await plan_status(services, plan_id) == "applied"


async def test_markers_are_not_duplicated(engines, stash_server) -> None:
    scene = stash_server.add_scene("One", markers=[("Kissing_AI", 30.2, "Kissing_AI")])
    services = await engines.start(settings=stash_settings(stash_server))
    await services.store.write(lambda: mirror_standin(stash_server))
    plan_id = await services.store.write(
        lambda: seed_plan(
            "P",
            [
                marker(scene, "kissing_ai", 30.9, 35),
                marker(scene, "Kissing_AI", 60, 65),
                marker(scene, "Dancing_AI", 12.5, 20),
            ],
        )
    )
    final = await apply(services, plan_id)
    assert final.status == JobStatus.COMPLETED
    assert [
        (m.title, m.seconds, m.end_seconds, stash_server.tags[m.primary_tag_id].name)
        for m in stash_server.scene_markers(scene)
    ] == [
        ("Dancing_AI", 12.5, 20.0, "Dancing_AI"),
        ("Kissing_AI", 30.2, None, "Kissing_AI"),
        ("Kissing_AI", 60.0, 65.0, "Kissing_AI"),
    ]
    rows = await services.store.read(lambda: plan_changes(plan_id))
    assert rows[0].status == "applied" and "already had" in rows[0].reason
    assert len(stash_server.requests_for("sceneMarkerCreate")) == 2


async def test_selection_explicit_ids_approved_and_auto_approve(engines, stash_server) -> None:
    scene = stash_server.add_scene("One")
    services = await engines.start(settings=stash_settings(stash_server))
    await services.store.write(lambda: mirror_standin(stash_server))
    plan_id = await services.store.write(
        lambda: seed_plan(
            "P",
            [
                tag(scene, "Approved_AI"),
                tag(scene, "Pending_AI", status="pending"),
                tag(scene, "Rejected_AI", status="rejected"),
                tag(scene, "Explicit_AI", status="pending"),
            ],
        )
    )
    ids = [c.id for c in await services.store.read(lambda: plan_changes(plan_id))]
    final = await apply(services, plan_id, change_ids=[ids[3]])
    assert final.result["applied"] == 1 and tag_names(stash_server, scene) == ["Explicit_AI"]
    assert await plan_status(services, plan_id) == "draft"  # approved and pending remain
    await apply(services, plan_id)
    assert tag_names(stash_server, scene) == ["Approved_AI", "Explicit_AI"]
    assert await plan_status(services, plan_id) == "draft"  # one pending remains
    final = await apply(services, plan_id, auto_approve=True)
    assert final.result["applied"] == 1
    assert tag_names(stash_server, scene) == ["Approved_AI", "Explicit_AI", "Pending_AI"]
    assert await plan_status(services, plan_id) == "applied"
    assert [s for _v, s, _r in await changes(services, plan_id)] == [
        "applied",
        "applied",
        "rejected",
        "applied",
    ]


async def test_a_refused_change_fails_alone(engines, stash_server) -> None:
    scene = stash_server.add_scene("One")
    services = await engines.start(settings=stash_settings(stash_server))
    await services.store.write(lambda: mirror_standin(stash_server))
    plan_id = await services.store.write(
        lambda: seed_plan("P", [marker(scene, "Broken_AI", 10), tag(scene, "Fine_AI")])
    )
    stash_server.fail_graphql("marker refused", operation="sceneMarkerCreate", times=1)
    final = await apply(services, plan_id)
    assert final.status == JobStatus.COMPLETED
    assert (final.result["applied"], final.result["failed"]) == (1, 1)
    [error] = final.result["errors"]
    assert error["scene_id"] == scene and "marker refused" in error["error"]
    assert (await changes(services, plan_id))[0][1:] == (
        "failed",
        "Stash reported an error: marker refused",
    )
    assert await plan_status(services, plan_id) == "applied"


async def test_unreachable_stash_fails_the_job_and_leaves_the_rest_approved(
    engines, stash_server
) -> None:
    scene = stash_server.add_scene("One")
    services = await engines.start(settings=stash_settings(stash_server))
    await services.store.write(lambda: mirror_standin(stash_server))
    plan_id = await services.store.write(
        lambda: seed_plan("P", [marker(scene, "First_AI", 10), tag(scene, "Second_AI")])
    )
    # the second write meets a Stash that answers 502 (writes are never retried)
    stash_server.fail_http(502, operation="bulkSceneUpdate")
    final = await apply(services, plan_id)
    assert final.status == JobStatus.FAILED and "HTTP 502" in final.error
    assert final.result["applied"] == 1
    assert [s for _v, s, _r in await changes(services, plan_id)] == ["applied", "approved"]
    assert await plan_status(services, plan_id) == "draft"
    # once Stash is back, applying again finishes the plan
    stash_server.clear_faults()
    final = await apply(services, plan_id)
    assert final.status == JobStatus.COMPLETED and final.result["applied"] == 1
    assert await plan_status(services, plan_id) == "applied"
    assert len(stash_server.scene_markers(scene)) == 1


async def test_cancelled_or_unknown_plans_fail_clearly(engines, stash_server) -> None:
    services = await engines.start(settings=stash_settings(stash_server))
    final = await apply(services, 999)
    assert final.status == JobStatus.FAILED and final.error == "no plan with id 999"
    plan_id = await services.store.write(lambda: seed_plan("P", [], status="cancelled"))
    final = await apply(services, plan_id)
    assert final.status == JobStatus.FAILED and "cancelled" in final.error

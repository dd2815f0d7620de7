"""The Plans page through the engine client: review (one, a selection, by field, by
confidence), edit, cancel and Apply; reloads on plan events and after a resync."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QItemSelectionModel

from stashdesk.engine_client.base import EngineConnection
from stashdesk.jobs.base import JOB_TYPES, JobTypeSpec
from stashdesk.store.models import Job, Plan, PlanChange, Scene, SceneFile
from stashdesk.ui.plan_models import APPLY_JOB_TYPE
from tests.engine_fixtures import wait_until

CHANGES = [
    # field, action, current, proposed, confidence
    ("tags", "add", None, "Outdoor_AI", 0.95),
    ("tags", "add", None, "Beach_AI", 0.55),
    ("tags", "remove", "AI_TagMe", None, 1.0),
    ("markers", "add", None, {"title": "Beach_AI", "seconds": 12.0, "end_seconds": 30.0}, 0.8),
    ("markers", "add", None, {"title": "Sunset_AI", "seconds": 95.0, "end_seconds": 120.0}, 0.92),
    ("studio", "set", "Old Studio", "New Studio", 0.7),
]


async def _make_plan(
    services, name: str = "Auto Video Analysis - 2024-05-01 10:00", status: str = "draft"
) -> tuple[int, list[int]]:
    now = time.time()

    def write() -> tuple[int, list[int]]:
        Scene.insert(
            id="41", title="Holiday at the beach", updated_at="2024-05-01T10:00:00Z"
        ).on_conflict_replace().execute()
        SceneFile.insert(
            id="f41", scene="41", path="/media/library/holiday/beach.mp4", size=1000
        ).on_conflict_replace().execute()
        plan_id = Plan.insert(name=name, status=status, created_at=now, updated_at=now).execute()
        ids = [
            PlanChange.insert(
                plan=plan_id,
                scene_id="41",
                field=field,
                action=action,
                current_value=current,
                proposed_value=proposed,
                confidence=confidence,
                created_at=now,
            ).execute()
            for field, action, current, proposed, confidence in CHANGES
        ]
        return plan_id, ids

    return await services.store.write(write)


def _statuses(ids: list[int]) -> list[str]:
    by_id = dict(
        PlanChange.select(PlanChange.id, PlanChange.status).where(PlanChange.id.in_(ids)).tuples()
    )
    return [by_id[i] for i in ids]


def _shown(page, ids: list[int]) -> list[str]:
    """The statuses the page shows for ``ids`` (None: not shown)."""
    by_id = {c.id: c.status for c in page.changes.rows}
    return [by_id.get(i) for i in ids]


async def _settled(page, ids: list[int], statuses: list[str], what: str) -> None:
    """Wait until the engine stored ``statuses`` and the page, done loading, shows them."""
    await wait_until(lambda: _statuses(ids) == statuses, message=f"{what} (stored)")
    await wait_until(
        lambda: not page.busy and _shown(page, ids) == statuses, message=f"{what} (shown)"
    )


async def _open(gui, plan_id: int):
    gui.window.open_plan(plan_id)
    page = gui.window.plans_page
    ids = {
        c for (c,) in PlanChange.select(PlanChange.id).where(PlanChange.plan == plan_id).tuples()
    }
    await wait_until(
        lambda: (
            not page.busy
            and page.plan is not None
            and page.plan.id == plan_id
            and {c.id for c in page.changes.rows} == ids
        ),
        message="the plan's changes",
    )
    return page


def _select(page, change_ids: list[int]) -> None:
    rows = {c.id: i for i, c in enumerate(page.changes.rows)}
    selection = page.change_table.selectionModel()
    selection.clearSelection()
    for change_id in change_ids:
        selection.select(
            page.changes.index(rows[change_id], 0),
            QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
        )


async def test_plan_list_and_changes_show_scene_field_values_and_status(gui):
    plan_id, ids = await _make_plan(gui.services)
    page = await _open(gui, plan_id)
    assert page.plans.rows[0].total == len(CHANGES)
    beach_marker = [c.id for c in page.changes.rows].index(ids[3])
    row = [page.changes.data(page.changes.index(beach_marker, c)) for c in range(8)]
    assert row == [
        "Holiday at the beach",
        "/media/library/holiday/beach.mp4",
        "markers",
        "add",
        "—",
        "Beach_AI @ 0:12–0:30",
        "0.80",
        "pending",
    ]
    assert "draft" in page.plan_title.text()
    assert "1 plan · 1 open" in page.summary.text()


async def test_changes_of_a_big_plan_are_loaded_page_by_page(gui, monkeypatch):
    monkeypatch.setattr("stashdesk.ui.plan_models.CHANGES_PAGE", 4)
    plan_id, ids = await _make_plan(gui.services)
    page = await _open(gui, plan_id)  # 6 changes in pages of 4
    assert sorted(c.id for c in page.changes.rows) == sorted(ids)


async def test_approve_and_reject_one_a_selection_a_field_and_by_confidence(gui):
    plan_id, ids = await _make_plan(gui.services)
    page = await _open(gui, plan_id)

    _select(page, [ids[0]])
    page.approve_selected.click()
    await _settled(page, ids, ["approved"] + ["pending"] * 5, "one approved")
    assert "reviewing" in page.plan_title.text()
    assert page.selected_change_ids() == (ids[0],)  # the reload kept the selection

    _select(page, [ids[1], ids[5]])
    assert page.reject_selected.isEnabled()
    page.reject_selected.click()
    await _settled(
        page, ids, ["approved", "rejected"] + ["pending"] * 3 + ["rejected"], "two rejected"
    )
    assert "Rejected 2 changes (selected)" in page.message.text()

    page.field_filter.setCurrentIndex(page.field_filter.findData("markers"))
    page.min_confidence.setValue(0.9)
    page.approve_matching.click()  # markers AND confidence >= 0.9: only Sunset
    await _settled(
        page,
        ids,
        ["approved", "rejected", "pending", "pending", "approved", "rejected"],
        "Sunset approved",
    )
    assert "Approved 1 change" in page.message.text()

    page.field_filter.setCurrentIndex(0)
    page.min_confidence.setValue(0.0)
    page.reject_matching.click()  # every reviewable change
    await _settled(page, ids, ["rejected"] * 6, "all rejected")
    assert page.plan.counts == {"rejected": len(CHANGES)}


async def test_review_of_an_applied_plan_is_refused_with_a_reason(gui):
    plan_id, ids = await _make_plan(gui.services, status="applied")
    page = await _open(gui, plan_id)
    assert not page.approve_matching.isEnabled()
    assert not page.apply_button.isEnabled()
    page.review_matching(True)  # forced anyway: the engine refuses
    await wait_until(lambda: "only draft or reviewing plans" in page.message.text())
    assert "Traceback" not in page.message.text()
    assert set(_statuses(ids)) == {"pending"}


async def test_edit_a_proposed_value_and_cancel_the_plan(gui):
    plan_id, ids = await _make_plan(gui.services)
    page = await _open(gui, plan_id)
    _select(page, [ids[5]])
    assert page.edit_value.text() == "New Studio"
    page.edit_value.setText("Newer Studio")
    page.save_edit_button.click()
    await wait_until(
        lambda: (
            not page.busy
            and any(c.id == ids[5] and c.proposed == "Newer Studio" for c in page.changes.rows)
        ),
        message="the edited value shown",
    )
    stored = await gui.services.store.read(lambda: PlanChange.get_by_id(ids[5]).proposed_value)
    assert stored == "Newer Studio"

    _select(page, [ids[3]])  # a marker: its value is edited as JSON
    page.edit_value.setText("not json")
    page.save_edit()
    assert "not valid JSON" in page.message.text()

    page.cancel_button.click()
    await wait_until(
        lambda: not page.busy and page.plan.status == "cancelled", message="the plan cancelled"
    )
    assert "cancelled" in page.plan_title.text() and not page.cancel_button.isEnabled()
    assert (await gui.services.store.read(lambda: Plan.get_by_id(plan_id).status)) == "cancelled"


async def test_a_review_elsewhere_and_a_resync_reload_the_page(gui):
    plan_id, ids = await _make_plan(gui.services)
    page = await _open(gui, plan_id)
    # Another client (the CLI, another window) reviews: the plan event reloads the page.
    await gui.client.ops.review_plan(plan_id, "approve", field="studio")
    await wait_until(
        lambda: not page.busy and _shown(page, ids)[5] == "approved",
        message="the review made elsewhere",
    )

    gui.client.bus.publish(EngineConnection(connected=False, message="connection reset"))
    await wait_until(lambda: page.stale.isVisible(), message="the stale warning")
    assert "out of date" in page.stale.label.text()
    # Missed while the link was down (no event reaches the page): shown after the resync.
    await gui.services.store.write(
        lambda: PlanChange.update(status="rejected").where(PlanChange.id == ids[0]).execute()
    )
    gui.client.bus.publish(EngineConnection(connected=True, resynced=True))
    await wait_until(
        lambda: not page.busy and _shown(page, ids)[0] == "rejected",
        message="the reload after the resync",
    )
    assert not page.stale.isVisible()


@pytest.fixture
def apply_plan_job(monkeypatch):
    """A stand-in APPLY_PLAN for this test: the page's part is to launch and link the
    job (the real job, which talks to Stash, has its own tests)."""

    async def apply_plan_stand_in(ctx):
        ctx.progress(100, "applied")
        return {"applied": 0, "plan_id": ctx.metadata.get("plan_id")}

    monkeypatch.setitem(
        JOB_TYPES, APPLY_JOB_TYPE, JobTypeSpec(APPLY_JOB_TYPE, apply_plan_stand_in, exclusive=True)
    )
    return JOB_TYPES[APPLY_JOB_TYPE]


async def test_apply_launches_apply_plan_and_links_to_its_job(gui, apply_plan_job):
    plan_id, ids = await _make_plan(gui.services)
    page = await _open(gui, plan_id)
    assert page.apply_button.isEnabled()
    page.apply_button.click()  # nothing approved yet: the engine says why it will not
    await wait_until(lambda: "no changes to apply" in page.message.text(), message="the refusal")
    assert page.last_apply_job_id is None and page.apply_button.isEnabled()

    _select(page, [ids[0]])
    page.approve_selected.click()
    await _settled(page, ids, ["approved"] + ["pending"] * 5, "one approved")
    page.apply_button.click()
    await wait_until(lambda: page.last_apply_job_id is not None, message="the job launched")
    job_id = page.last_apply_job_id
    row = Job.get(Job.id == job_id)
    assert row.type == APPLY_JOB_TYPE
    assert row.metadata["plan_id"] == plan_id
    assert row.created_by == "user"
    assert page.apply_info.isVisibleTo(page)
    assert job_id[:8] in page.apply_info.label.text()

    page.apply_info.button.click()  # "View job"
    assert job_id in gui.window.job_dialogs
    await gui.services.runner.wait(job_id)
    await wait_until(lambda: "completed" in page.apply_info.label.text())

    # Another plan has no apply job; back on this one, the link comes from the engine.
    other_id, _other_ids = await _make_plan(gui.services, name="Another plan")
    await _open(gui, other_id)
    assert not page.apply_info.isVisibleTo(page) and page.last_apply_job_id is None
    await _open(gui, plan_id)
    await wait_until(lambda: page.last_apply_job_id == job_id, message="the link from the db")
    assert page.apply_info.isVisibleTo(page)


async def test_apply_is_disabled_when_the_engine_has_no_apply_plan_job_type(make_gui, monkeypatch):
    monkeypatch.delitem(JOB_TYPES, APPLY_JOB_TYPE, raising=False)
    gui = await make_gui()
    plan_id, _ids = await _make_plan(gui.services)
    page = await _open(gui, plan_id)
    assert not page.apply_button.isEnabled()
    assert "no APPLY_PLAN" in page.apply_button.toolTip()


class Navigation:
    """The window's part a page calls (``ctx.nav``), recording what was opened."""

    def __init__(self) -> None:
        self.opened: list[tuple[str, object]] = []

    def open_job(self, job_id: str) -> None:
        self.opened.append(("job", job_id))

    def open_plan(self, plan_id: int) -> None:
        self.opened.append(("plan", plan_id))

    def show_message(self, text: str, *, error: bool = False) -> None:
        self.opened.append(("message", text))


@pytest.fixture
async def remote_page(engines, qapp):
    """A started engine serving its API on loopback, and the Plans page on a RemoteClient
    of it: nothing in-process, every call is HTTP, every event comes over the stream.
    (The page alone, in the context the window gives it: pages not yet ported to the
    client still need the in-process engine.)"""
    from stashdesk.engine_client.remote import RemoteClient
    from stashdesk.ui.bridge import EventBridge
    from stashdesk.ui.context import UiContext
    from stashdesk.ui.plans_page import PlansPage
    from stashdesk.ui.tasks import TaskKeeper

    services = await engines.start()
    url = engines.engine.describe()["url"]
    client = RemoteClient(url, services.settings.get("api.key"))
    await client.start()
    bridge = EventBridge(client.bus)
    navigation = Navigation()
    tasks = TaskKeeper(on_error=lambda text: navigation.show_message(text, error=True))
    page = PlansPage(UiContext(client, bridge, tasks, navigation))
    page.resize(1200, 800)
    page.show()
    yield services, client, page, navigation
    bridge.close()
    tasks.cancel_all()
    page.close()
    page.deleteLater()
    await client.close()


async def test_the_page_reviews_a_remote_engines_plan_over_http(remote_page):
    services, client, page, navigation = remote_page
    assert client.remote  # only the API to go through
    plan_id, ids = await _make_plan(services)
    page.select_plan(plan_id)
    await wait_until(
        lambda: not page.busy and {c.id for c in page.changes.rows} == set(ids),
        timeout=10,
        message="the remote plan's changes",
    )
    assert page.changes.rows[0].title == "Holiday at the beach"
    assert "draft" in page.plan_title.text()

    _select(page, [ids[2], ids[4]])
    page.approve_selected.click()
    await _settled(
        page,
        ids,
        ["pending", "pending", "approved", "pending", "approved", "pending"],
        "approved over HTTP",
    )
    assert "Approved 2 changes" in page.message.text()

    # A review by another client reaches the page as an event over the stream.
    await client.ops.review_plan(plan_id, "reject", field="studio")
    await wait_until(
        lambda: not page.busy and _shown(page, ids)[5] == "rejected",
        timeout=10,
        message="the plan event from the stream",
    )
    assert not [o for o in navigation.opened if o[0] == "message"]  # no task failed


async def test_the_review_screen_gets_covers_from_a_remote_engine(remote_page, stash_server):
    from stashdesk.jobs.base import JobStatus
    from stashdesk.ui.plan_review import COVER_SIZE, PLACEHOLDER_GREY
    from tests.analysis_helpers import seed_plan
    from tests.ui.test_plan_review import centre_colour, cover_colour

    services, client, page, navigation = remote_page
    scene_id = stash_server.add_scene("Breakfast", "/data/videos/breakfast.mp4", duration=600)
    for key, value in (("stash.url", stash_server.url), ("stash.api_key", "")):
        await services.store.write(lambda k=key, v=value: services.settings.set(k, v))
    info = await services.runner.submit("SYNC", {"full_resync": True})
    assert (await services.runner.wait(info.id, 20)).status == JobStatus.COMPLETED
    plan_id = await services.store.write(
        lambda: seed_plan(
            "Remote review",
            [{"scene_id": scene_id, "field": "tags", "proposed_value": "Kitchen_AI"}],
        )
    )

    # The scenes load while the other tab is shown: no card painted, no cover asked for.
    view = page.review_view
    page.tabs.setCurrentIndex(1)
    page.select_plan(plan_id)
    await wait_until(
        lambda: not page.busy and scene_id in view.cards,
        timeout=10,
        message="the remote plan's scenes",
    )
    assert view.covers.fetches == 0
    # The link is down when the card first shows: a grey cover that says why, asked once.
    await client.close()
    page.tabs.setCurrentWidget(view)
    await wait_until(
        lambda: not page.busy and view.covers.errors, timeout=10, message="the cover not reached"
    )
    card = view.cards[scene_id]
    assert card.cover.pixmap().toImage().pixelColor(1, 1) == PLACEHOLDER_GREY
    assert card.cover.toolTip() == view.covers.errors[scene_id]
    assert "not connected" in view.covers.errors[scene_id]
    asked = view.covers.fetches
    page.repaint()
    assert view.covers.fetches == asked  # showing the failure does not ask again

    await client.start()
    page.reload()  # a reload asks again
    await wait_until(
        lambda: not page.busy and scene_id in view.covers.pixmaps,
        timeout=10,
        message="the cover over HTTP",
    )
    card = view.cards[scene_id]
    assert card.title_label.text() == "Breakfast"
    assert card.cover.pixmap().size() != COVER_SIZE  # the picture, not the placeholder
    assert centre_colour(card) == cover_colour(scene_id)

    card.approve_scene.click()
    await wait_until(
        lambda: not page.busy and view.cards[scene_id].counts.text() == "1 approved",
        timeout=10,
        message="the scene approved over HTTP",
    )

"""The Jobs page: the engine's jobs a page at a time through the client, live progress,
filters, sorting, cancel, the link to the engine, and the job details dialog."""

from __future__ import annotations

import time
import uuid

from PySide6.QtCore import Qt

from stashdesk.engine_client.base import EngineConnection
from stashdesk.engine_client.remote import RemoteClient
from stashdesk.store.models import Job
from stashdesk.ui.bridge import EventBridge
from stashdesk.ui.context import UiContext
from stashdesk.ui.job_details import JobDetailsDialog
from stashdesk.ui.jobs_page import PAGE_SIZE, STATUS_FILTERS, JobsPage
from stashdesk.ui.tasks import TaskKeeper
from tests.engine_fixtures import wait_until


async def _insert_jobs(
    services,
    n: int,
    *,
    job_type: str = "TEST_STEPS",
    status: str = "completed",
    start: float | None = None,
) -> list[str]:
    start = start if start is not None else time.time() - n
    rows = [
        {
            "id": str(uuid.uuid4()),
            "type": job_type,
            "status": status,
            "progress": 100.0,
            "message": f"Job number {i}",
            "metadata": {"i": i},
            "created_by": "test-tick",
            "created_at": start + i,
            "started_at": start + i,
            "finished_at": start + i + 0.5,
        }
        for i in range(n)
    ]

    def write() -> None:
        for first in range(0, n, 500):
            Job.insert_many(rows[first : first + 500]).execute()

    await services.store.write(write)
    return [r["id"] for r in rows]


async def test_a_hundred_thousand_jobs_load_a_page_at_a_time(gui):
    ids = await _insert_jobs(gui.services, 100_000)
    gui.window.show_page("jobs")
    page = gui.window.jobs_page
    model = page.model
    started = time.perf_counter()
    await wait_until(lambda: model.loaded_once, timeout=10, message="the first page")
    first_page = time.perf_counter() - started
    assert model.total == 100_000
    assert model.rowCount() == PAGE_SIZE  # not 100,000 rows in memory
    assert "100,000 jobs" in page.summary.text()
    assert model.row_at(0).id == ids[-1]  # newest first

    page.table.scrollToBottom()
    await wait_until(lambda: model.rowCount() >= 2 * PAGE_SIZE, message="the next page")
    assert [model.row_at(r).id for r in range(2 * PAGE_SIZE)] == ids[::-1][: 2 * PAGE_SIZE]
    for _ in range(3):
        shown = model.rowCount()
        page.table.scrollToBottom()
        await wait_until(lambda shown=shown: model.rowCount() > shown, message="more rows")
    rows = [model.row_at(r).id for r in range(model.rowCount())]
    assert len(rows) == len(set(rows)) == model.rowCount()
    assert first_page < 2.0, f"the first page took {first_page:.2f} s"


async def test_new_jobs_appear_on_top_with_live_progress(gui):
    await _insert_jobs(gui.services, 5)
    gui.window.show_page("jobs")
    model = gui.window.jobs_page.model
    await wait_until(lambda: model.loaded_once and model.rowCount() == 5)
    info = await gui.services.runner.submit(
        "TEST_STEPS", {"steps": 20, "delay": 0.03}, created_by="test-tick"
    )
    await wait_until(lambda: model.row_of(info.id) == 0, message="the new job on top")
    seen: list[float] = []

    def progress() -> float:
        value = model.row_at(model.row_of(info.id)).progress
        seen.append(value)
        return value

    await wait_until(lambda: 0 < progress() < 100, message="progress under way")
    await wait_until(lambda: model.row_at(0).status == "completed", message="completion")
    assert model.row_at(0).progress == 100.0
    assert model.rowCount() == 6 and model.total == 6
    assert model.data(model.index(0, 4)) == "Test Tick"  # who launched it


async def test_filters_by_status_and_type(gui):
    await _insert_jobs(gui.services, 3, status="completed")
    await _insert_jobs(gui.services, 2, status="failed")
    await _insert_jobs(gui.services, 4, job_type="TEST_EXCLUSIVE", status="completed")
    gui.window.show_page("jobs")
    page = gui.window.jobs_page
    model = page.model
    await wait_until(lambda: model.loaded_once and model.rowCount() == 9)

    labels = [label for label, _statuses in STATUS_FILTERS]
    page.status_filter.setCurrentIndex(labels.index("Failed"))
    await wait_until(lambda: model.rowCount() == 2 and model.total == 2)
    assert {model.row_at(r).status for r in range(2)} == {"failed"}

    page.status_filter.setCurrentIndex(labels.index("Completed"))
    page.type_filter.setCurrentIndex(page.type_filter.findData("TEST_EXCLUSIVE"))
    await wait_until(lambda: model.rowCount() == 4 and model.total == 4)
    assert {model.row_at(r).type for r in range(4)} == {"TEST_EXCLUSIVE"}

    page.status_filter.setCurrentIndex(labels.index("All statuses"))
    page.type_filter.setCurrentIndex(0)
    await wait_until(lambda: model.rowCount() == 9)


async def test_cancel_a_running_job_from_the_page(gui):
    gui.window.show_page("jobs")
    page = gui.window.jobs_page
    model = page.model
    await wait_until(lambda: model.loaded_once)
    info = await gui.services.runner.submit("TEST_STEPS", {"steps": 2000, "delay": 0.01})
    await wait_until(
        lambda: (
            model.row_of(info.id) is not None
            and model.row_at(model.row_of(info.id)).status == "running"
        )
    )
    assert page.select_job(info.id)
    assert page.cancel.isEnabled()
    page.cancel.click()
    await wait_until(
        lambda: model.row_at(model.row_of(info.id)).status == "cancelled",
        message="the job cancelled",
    )
    assert not page.cancel.isEnabled()
    assert (await gui.services.runner.get(info.id)).status == "cancelled"


async def test_sorts_by_a_column_through_the_engine_page_after_page(gui):
    steps = await _insert_jobs(gui.services, 150)
    exclusive = await _insert_jobs(gui.services, 150, job_type="TEST_EXCLUSIVE")
    gui.window.show_page("jobs")
    page = gui.window.jobs_page
    model = page.model
    await wait_until(lambda: model.loaded_once and model.rowCount() == PAGE_SIZE)

    page.sort_by(0, Qt.SortOrder.AscendingOrder)  # Type, A to Z
    await wait_until(
        lambda: (
            model.sort_key == "type"
            and not model.loading
            and model.row_at(0).type == "TEST_EXCLUSIVE"
        ),
        message="sorted by type",
    )
    page.table.scrollToBottom()
    await wait_until(lambda: model.rowCount() == 300, message="the second page")
    rows = [model.row_at(r) for r in range(300)]
    assert [r.type for r in rows] == ["TEST_EXCLUSIVE"] * 150 + ["TEST_STEPS"] * 150
    assert {r.id for r in rows[:150]} == set(exclusive) and {r.id for r in rows[150:]} == set(steps)

    page.sort_by(3, Qt.SortOrder.AscendingOrder)  # Message: the engine cannot sort on it
    assert model.sort_key == "type"
    assert page.table.horizontalHeader().sortIndicatorSection() == 0

    # In another order than newest first a new job has no place yet: it is counted.
    info = await gui.services.runner.submit("TEST_STEPS", {"steps": 1, "delay": 0.01})
    await wait_until(lambda: model.unseen == 1, message="the new job counted")
    assert model.row_of(info.id) is None and model.total == 301
    assert "1 new job: Refresh to show" in page.summary.text()

    page.sort_by(5, Qt.SortOrder.AscendingOrder)  # Created, oldest first
    await wait_until(
        lambda: (
            model.sort_key == "created_at" and not model.loading and model.row_at(0).id == steps[0]
        ),
        message="oldest first",
    )
    assert model.unseen == 0 and model.total == 301


async def test_a_dropped_link_marks_the_page_and_a_resync_reloads_it(gui):
    await _insert_jobs(gui.services, 3)
    gui.window.show_page("jobs")
    page = gui.window.jobs_page
    model = page.model
    await wait_until(lambda: model.loaded_once and model.rowCount() == 3)
    info = await gui.services.runner.submit("TEST_STEPS", {"steps": 2000, "delay": 0.01})
    await wait_until(lambda: model.row_of(info.id) == 0 and model.row_at(0).status == "running")
    assert page.select_job(info.id) and page.cancel.isEnabled()

    gui.client.bus.publish(EngineConnection(connected=False, message="Disconnected"))
    await wait_until(lambda: not page.connected, message="the page told")
    assert "not current" in page.summary.text()
    assert not page.cancel.isEnabled()
    # Meanwhile jobs appear that the page hears nothing of (as events missed would).
    missed = await _insert_jobs(gui.services, 2, start=time.time() + 10)

    gui.client.bus.publish(EngineConnection(connected=True, resynced=True, message="back"))
    await wait_until(
        lambda: model.rowCount() == 6 and model.row_at(0).id == missed[-1],
        message="the page reloaded",
    )
    assert model.total == 6
    assert "not current" not in page.summary.text()
    assert page.select_job(info.id) and page.cancel.isEnabled()  # live again
    page.cancel.click()
    await wait_until(
        lambda: model.row_at(model.row_of(info.id)).status == "cancelled",
        message="the job cancelled",
    )


class _Navigator:
    """What a page may ask of the window, for a page shown on its own."""

    def __init__(self) -> None:
        self.ctx: UiContext | None = None
        self.messages: list[str] = []
        self.dialogs: dict[str, JobDetailsDialog] = {}

    def open_job(self, job_id: str) -> None:
        assert self.ctx is not None
        self.dialogs[job_id] = dialog = JobDetailsDialog(self.ctx, job_id)
        dialog.show()

    def open_daemon_details(self, name: str, tab: str | None = None) -> None: ...

    def open_plan(self, plan_id: int) -> None: ...

    def open_settings(self, group: str | None = None, reason: str | None = None) -> object:
        return None

    def show_message(self, text: str, *, error: bool = False) -> None:
        self.messages.append(text)


async def test_the_jobs_page_through_a_remote_client(engines, qapp):
    """The page and the details over HTTP and the event stream of a real engine API,
    with no Services in reach (the context has none)."""
    services = await engines.start()
    api = engines.engine.api
    ids = await _insert_jobs(services, PAGE_SIZE + 50)
    client = RemoteClient(api.url, services.settings.get("api.key"))
    await client.start()
    nav = _Navigator()
    bridge = EventBridge(client.bus)
    tasks = TaskKeeper(on_error=nav.messages.append)
    ctx = nav.ctx = UiContext(client, bridge, tasks, nav)
    page = JobsPage(ctx)
    model = page.model
    try:
        assert page.type_filter.findData("TEST_STEPS") >= 0  # the engine's job types
        page.show()
        await wait_until(lambda: model.loaded_once, message="the first page over HTTP")
        assert model.total == PAGE_SIZE + 50 and model.rowCount() == PAGE_SIZE
        page.table.scrollToBottom()
        await wait_until(lambda: model.rowCount() == PAGE_SIZE + 50, message="the next page")
        assert [model.row_at(r).id for r in range(model.rowCount())] == ids[::-1]

        info = await services.runner.submit(
            "TEST_STEPS", {"steps": 2000, "delay": 0.01}, created_by="test-tick"
        )
        await wait_until(
            lambda: model.row_of(info.id) == 0 and model.row_at(0).progress > 0,
            message="the new job on top, progressing, from the event stream",
        )
        assert model.data(model.index(0, 4)) == "Test Tick"
        assert page.select_job(info.id) and page.cancel.isEnabled()
        page.cancel.click()
        await wait_until(lambda: model.row_at(0).status == "cancelled", message="cancelled")
        assert (await services.runner.get(info.id)).status == "cancelled"

        page.details.click()
        dialog = nav.dialogs[info.id]
        await wait_until(lambda: dialog.ended, message="the details over HTTP")
        assert "cancelled" in dialog.fields["status"].text()
        assert "Test Tick" in dialog.fields["launched"].text()
        assert "Steps: 2,000" in dialog.metadata_lines
        assert not dialog.cancel_button.isVisibleTo(dialog)
        dialog.close()

        await api.stop()  # the link drops: the page says so, and a failure is a sentence
        await wait_until(lambda: not page.connected, message="the link down")
        assert "not current" in page.summary.text()
        page.refresh.click()
        await wait_until(lambda: model.error is not None, message="the reload failing")
        assert model.error.startswith("Could not load the jobs: lost the engine at ")
        assert "Traceback" not in page.summary.text() and page.summary.property("error")
        assert model.rowCount() == PAGE_SIZE + 51  # what was shown stays, marked old
    finally:
        page.close()
        page.deleteLater()
        bridge.close()
        tasks.cancel_all()
        await client.close()


async def test_a_job_with_failed_items_reads_amber_not_green(gui):
    now = time.time()
    result = {
        "files_linked": 1,
        "files_copied": 0,
        "torrents_processed": 1,
        "failed": 1,
        "torrents": [{"name": "A"}, {"name": "B"}],
        "failures": [{"hash": "h", "name": "B", "reason": "content missing"}],
    }

    def write() -> None:
        Job.insert(
            id=str(uuid.uuid4()),
            type="PROCESS_DOWNLOADS",
            status="completed",
            progress=100.0,
            message="done",
            metadata={},
            result=result,
            created_at=now,
            started_at=now,
            finished_at=now + 1,
        ).execute()

    await gui.services.store.write(write)
    gui.window.show_page("jobs")
    model = gui.window.jobs_page.model
    await wait_until(
        lambda: model.loaded_once and model.rowCount() == 1,
        timeout=10,
        message="the job in the table",
    )
    status = model.index(0, 1)
    assert model.data(status) == "completed - 1 of 2 failed"
    assert model.data(status, Qt.ItemDataRole.ForegroundRole).name() == "#b45309"  # amber
    assert model.data(model.index(0, 0)) == "Download processing"

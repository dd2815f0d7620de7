"""The Jobs page: the engine's jobs a page at a time through the client, live progress,
filters, sorting, cancel, the link to the engine, and the job details dialog."""

from __future__ import annotations

import time
import uuid

from stashdesk.store.models import Job, Plan
from stashdesk.ui.jobs_page import PAGE_SIZE, STATUS_FILTERS
from tests.engine_fixtures import wait_until


async def _insert_jobs(services, n: int, *, job_type: str = "TEST_STEPS",
                       status: str = "completed", start: float | None = None) -> list[str]:
    start = start if start is not None else time.time() - n
    rows = [{"id": str(uuid.uuid4()), "type": job_type, "status": status, "progress": 100.0,
             "message": f"Job number {i}", "metadata": {"i": i}, "created_by": "test-tick",
             "created_at": start + i, "started_at": start + i, "finished_at": start + i + 0.5}
            for i in range(n)]

    def write() -> None:
        for first in range(0, n, 500):
            Job.insert_many(rows[first:first + 500]).execute()

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
    assert [model.row_at(r).id for r in range(2 * PAGE_SIZE)] == ids[::-1][:2 * PAGE_SIZE]
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
    info = await gui.services.runner.submit("TEST_STEPS", {"steps": 20, "delay": 0.03},
                                            created_by="test-tick")
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
    await wait_until(lambda: model.row_of(info.id) is not None
                     and model.row_at(model.row_of(info.id)).status == "running")
    assert page.select_job(info.id)
    assert page.cancel.isEnabled()
    page.cancel.click()
    await wait_until(lambda: model.row_at(model.row_of(info.id)).status == "cancelled",
                     message="the job cancelled")
    assert not page.cancel.isEnabled()
    assert (await gui.services.runner.get(info.id)).status == "cancelled"

"""The History page: one timeline from three tables, filtered, paged, idle rows folded,
opening jobs; through the in-process client and through a RemoteClient over HTTP."""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from stashdesk.store.models import DaemonJobAction, DaemonLog, DaemonStatus, Job
from stashdesk.ui.history_page import KINDS, HistoryPage
from tests.engine_fixtures import wait_until
from tests.ui.remote_helpers import remote_client, remote_context


async def _seed(services, base: float) -> str:
    job_id = str(uuid.uuid4())

    def write() -> None:
        Job.insert(id=job_id, type="TEST_STEPS", status="completed", created_at=base).execute()
        DaemonStatus.insert_many(
            [
                {"daemon": "test-tick", "message": "Checking for test work", "at": base + 1},
                {
                    "daemon": "test-tick",
                    "message": "Running 3 test steps",
                    "job_id": job_id,
                    "job_type": "TEST_STEPS",
                    "at": base + 2,
                },
                {"daemon": "test-crash", "message": "Starting", "at": base + 3},
            ]
        ).execute()
        DaemonJobAction.insert_many(
            [
                {
                    "daemon": "test-tick",
                    "job_id": job_id,
                    "action": "LAUNCHED",
                    "reason": "Running 3 test steps",
                    "at": base + 2.5,
                },
                {
                    "daemon": "test-tick",
                    "job_id": job_id,
                    "action": "FINISHED",
                    "reason": "steps=3",
                    "at": base + 4,
                },
            ]
        ).execute()
        DaemonLog.insert_many(
            [
                {
                    "daemon": "test-crash",
                    "level": "ERROR",
                    "message": "Crashed: boom",
                    "at": base + 5,
                },
                {"daemon": "test-tick", "level": "INFO", "message": "just chatter", "at": base + 6},
                {
                    "daemon": "test-tick",
                    "level": "WARNING",
                    "message": "Stash slow",
                    "at": base + 7,
                },
            ]
        ).execute()

    await services.store.write(write)
    return job_id


async def test_timeline_merges_statuses_job_actions_and_errors_newest_first(gui):
    base = time.time() - 100
    job_id = await _seed(gui.services, base)
    gui.window.show_page("history")
    model = gui.window.history_page.model
    await wait_until(lambda: model.loaded_once and model.rowCount() == 7, message="the events")
    texts = [e.text for e in model.events]
    assert texts == [
        "Stash slow",
        "Crashed: boom",
        "Finished job: steps=3",
        "Starting",
        "Launched job: Running 3 test steps",
        "Running 3 test steps",
        "Checking for test work",
    ]
    assert "just chatter" not in texts  # INFO log lines are not errors
    assert model.data(model.index(1, 2)) == "Error"
    assert model.data(model.index(0, 2)) == "Warning"
    assert model.data(model.index(1, 1)) == "Test Crash"
    assert model.data(model.index(2, 4)) == f"TEST_STEPS {job_id[:8]}"

    gui.window.history_page._open(model.index(2, 0))
    assert job_id in gui.window.job_dialogs


async def test_filters_by_daemon_and_kind(gui):
    await _seed(gui.services, time.time() - 100)
    gui.window.show_page("history")
    page = gui.window.history_page
    model = page.model
    await wait_until(lambda: model.rowCount() == 7)
    page.daemon_filter.setCurrentIndex(page.daemon_filter.findData("test-crash"))
    await wait_until(lambda: model.rowCount() == 2, message="test-crash events")
    assert {e.daemon for e in model.events} == {"test-crash"}
    page.daemon_filter.setCurrentIndex(0)
    page.kind_filter.setCurrentIndex(1 + KINDS.index("job"))
    await wait_until(lambda: model.rowCount() == 2 and {e.kind for e in model.events} == {"job"})
    page.kind_filter.setCurrentIndex(1 + KINDS.index("error"))
    await wait_until(lambda: {e.kind for e in model.events} == {"error"} and model.rowCount() == 2)


async def test_the_time_filter_leaves_out_older_events(gui):
    await _seed(gui.services, time.time() - 100)
    await gui.services.store.write(
        lambda: DaemonStatus.insert(
            daemon="test-tick", message="Three days ago", at=time.time() - 3 * 86400
        ).execute()
    )
    gui.window.show_page("history")
    page = gui.window.history_page
    model = page.model
    await wait_until(lambda: model.rowCount() == 8, message="every event")
    assert model.events[-1].text == "Three days ago"
    page.span_filter.setCurrentIndex(page.span_filter.findText("Last 24 hours"))
    await wait_until(lambda: model.rowCount() == 7, message="the last day only")
    assert "Three days ago" not in [e.text for e in model.events]
    assert not model.canFetchMore()  # nothing older is offered either
    page.span_filter.setCurrentIndex(page.span_filter.findText("Last 7 days"))
    await wait_until(lambda: model.rowCount() == 8, message="the last week")


async def test_older_events_load_a_page_at_a_time_without_gaps(gui):
    base = time.time() - 10_000

    def write() -> None:
        DaemonStatus.insert_many(
            [{"daemon": "test-tick", "message": f"status {i}", "at": base + i} for i in range(120)]
        ).execute()
        DaemonLog.insert_many(
            [
                {
                    "daemon": "test-tick",
                    "level": "ERROR",
                    "message": f"error {i}",
                    "at": base + i + 0.5,
                }
                for i in range(30)
            ]
        ).execute()

    await gui.services.store.write(write)
    page = gui.window.history_page
    page.model.page_size = 25
    gui.window.show_page("history")
    model = page.model
    await wait_until(lambda: model.loaded_once and model.rowCount() == 25)
    while model.canFetchMore():
        n = model.rowCount()
        model.fetchMore()
        await wait_until(lambda: not model.loading)
        assert model.rowCount() > n
    assert model.rowCount() == 150
    times = [e.at for e in model.events]
    assert times == sorted(times, reverse=True)
    assert len({e.key for e in model.events}) == 150


async def test_the_timeline_follows_new_events_while_at_the_top(gui):
    await gui.manager.set_config("test-tick", {"job_interval_seconds": 30})
    gui.window.show_page("history")
    model = gui.window.history_page.model
    await wait_until(lambda: model.loaded_once)
    await gui.manager.start("test-tick")
    await wait_until(
        lambda: any("sleeping for 30 seconds" in e.text for e in model.events),
        timeout=6,
        message="the new status in the timeline",
    )


async def _seed_idle_night(services, base: float) -> None:
    """test-tick checked, then found nothing twelve times an hour apart (newest: sleeping
    until base + 12 h); test-crash did one thing in between."""

    def write() -> None:
        DaemonStatus.insert_many(
            [
                {
                    "daemon": "test-tick",
                    "message": "Checking for test work",
                    "at": base,
                    "phase": "working",
                    "wake_at": None,
                }
            ]  # (the first row names the columns)
            + [
                {
                    "daemon": "test-tick",
                    "message": "No test work, sleeping for 3600 seconds",
                    "at": base + i * 3600,
                    "phase": "sleeping",
                    "wake_at": base + (i + 1) * 3600,
                }
                for i in range(12)
            ]
            + [{"daemon": "test-crash", "message": "Starting", "at": base + 5 * 3600 + 1}]
        ).execute()

    await services.store.write(write)


def _hm(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime(
        "%H:%M" if datetime.fromtimestamp(ts).date() == datetime.now().date() else "%m-%d %H:%M"
    )


async def test_idle_rows_fold_into_one_until_show_idle_rows_is_ticked(gui):
    base = time.time() - 13 * 3600
    await _seed_idle_night(gui.services, base)
    gui.window.show_page("history")
    page = gui.window.history_page
    model = page.model
    await wait_until(lambda: model.loaded_once and model.rowCount() == 3, message="folded")
    folded = model.events[0]
    assert folded.repeated == 12 and folded.daemon == "test-tick"
    assert model.data(model.index(0, 3)) == (
        f"Sleeping until {_hm(base + 12 * 3600)} (x12, {_hm(base)}-{_hm(base + 11 * 3600)})"
    )
    assert [e.text for e in model.events[1:]] == ["Starting", "Checking for test work"]

    page.show_idle.setChecked(True)
    await wait_until(lambda: model.rowCount() == 14, message="every idle row")
    assert all(e.repeated == 1 for e in model.events)
    assert model.data(model.index(0, 3)) == "No test work, sleeping for 3600 seconds"
    page.show_idle.setChecked(False)
    await wait_until(lambda: model.rowCount() == 3, message="folded again")


async def test_the_page_shows_a_remote_engines_history_and_says_when_it_is_cut_off(engines, qapp):
    services = await engines.start()
    job_id = await _seed(services, time.time() - 100)
    client = await remote_client(engines)
    ctx, nav = remote_context(client)
    page = HistoryPage(ctx)
    try:
        page.show()
        model = page.model
        await wait_until(lambda: model.rowCount() == 7, message="the remote history")
        assert model.events[0].text == "Stash slow"
        assert model.data(model.index(1, 1)) == "Test Crash"  # names from the remote mirror
        assert model.data(model.index(2, 4)) == f"TEST_STEPS {job_id[:8]}"
        page._open(model.index(2, 0))
        assert nav.jobs == [job_id]
        assert page.daemon_filter.findData("test-tick") > 0
        page.daemon_filter.setCurrentIndex(page.daemon_filter.findData("test-crash"))
        await wait_until(
            lambda: model.rowCount() == 2 and {e.daemon for e in model.events} == {"test-crash"},
            message="the filter through HTTP",
        )

        await engines.engine.api.stop()  # the engine goes out of reach
        await wait_until(lambda: page.notice.isVisibleTo(page), message="the notice")
        assert "may be missing newer events" in page.notice.label.text()
        page.refresh.click()
        await wait_until(lambda: model.error is not None, message="the failed load")
        assert model.error.startswith("Could not load the history: ")
        assert "Traceback" not in model.error and model.rowCount() == 2  # old rows kept
    finally:
        page.close()
        ctx.bridge.close()
        await client.close()

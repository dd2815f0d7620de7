"""The Daemons page: statuses reaching cards, the job button, controls, auto-start."""

from __future__ import annotations

import asyncio
import statistics
import time

from PySide6.QtCore import Qt

from stashdesk.events import DaemonStateChanged, DaemonStatusChanged, JobProgressed
from stashdesk.store.models import Daemon
from stashdesk.ui import daemon_card, humanize
from tests.engine_fixtures import wait_until


async def test_status_update_reaches_its_card_within_100_ms(gui):
    card = gui.window.card("test-tick")
    other = gui.window.card("test-crash")
    latencies = []
    for i in range(20):
        message = f"Processing batch {i} of 20 (50 scenes)"
        started = time.perf_counter()
        gui.services.bus.publish(
            DaemonStatusChanged(daemon="test-tick", message=message, phase="working")
        )
        await wait_until(
            lambda m=message: card.status_text() == m,
            timeout=2,
            message="the card to show the status",
        )
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.04)  # let the flush throttle settle: each update stands alone
    assert max(latencies) < 0.1, latencies
    assert statistics.median(latencies) < 0.05, latencies
    assert "Processing batch" not in other.status_text()


async def test_a_running_daemon_shows_its_own_status(gui):
    await gui.manager.set_config("test-tick", {"job_interval_seconds": 30})
    card = gui.window.card("test-tick")
    assert "Stopped" in card.status_text()
    await gui.manager.start("test-tick")
    await wait_until(
        lambda: card.status_text() == "No test work, sleeping for 30 seconds",
        message="the sleeping status",
    )
    assert card.phase == "sleeping"
    assert card.pulse.mode == "sleeping"
    assert card.progress_text().startswith("next check in")
    assert card.badge.text() == "running"


async def test_card_follows_phases_progress_countdown_and_age(gui):
    card = gui.window.card("test-tick")
    bus = gui.services.bus
    bus.publish(DaemonStateChanged(daemon="test-tick", state="running"))
    bus.publish(
        DaemonStatusChanged(daemon="test-tick", message="Checking for scenes", phase="working")
    )
    await wait_until(lambda: card.status_text() == "Checking for scenes")
    assert card.progress.maximum() == 0  # busy
    assert card.progress_text() == "working…"

    bus.publish(
        DaemonStatusChanged(
            daemon="test-tick",
            message="Syncing 12 scenes",
            job_id="job-a",
            job_type="SYNC",
            phase="waiting",
        )
    )
    await wait_until(lambda: card.status_text() == "Syncing 12 scenes")
    bus.publish(JobProgressed(job_id="job-other", job_type="SYNC", status="running", progress=90.0))
    bus.publish(
        JobProgressed(
            job_id="job-a", job_type="SYNC", status="running", progress=42.0, message="Page 3 of 7"
        )
    )
    await wait_until(lambda: card.progress_text() == "job 42 %")
    assert card.progress.value() == 42
    assert "Page 3 of 7" in card.age_text()

    now = time.time()
    bus.publish(
        DaemonStatusChanged(
            daemon="test-tick",
            message="No scenes, sleeping for 120 seconds",
            phase="sleeping",
            wake_at=now + 117,
            at=now - 3,
        )
    )
    await wait_until(lambda: card.phase == "sleeping")
    card.tick(now)
    assert card.age_text() == "updated 3 s ago"
    assert card.progress_text() == (  # and, for a long wait, at what time
        f"next check in 1 min 57 s · {humanize.clock(now + 117, now=now)}"
    )
    card.tick(now + 60)
    assert card.age_text() == "updated 1 min ago"
    assert card.progress_text() == "next check in 57 s"
    assert card.progress.value() < card.progress.maximum() / 2


async def test_view_job_opens_the_job_the_status_names(gui):
    await gui.manager.set_config("test-tick", {"job_steps": 25, "job_interval_seconds": 30})
    card = gui.window.card("test-tick")
    await gui.manager.start("test-tick")
    await wait_until(card.job_button_visible, message="the View job button")
    job_id = card.shown_job_id
    daemon = gui.manager.handle("test-tick").instance
    assert job_id == daemon.job_id
    assert card.job_tag.text() == "TEST_STEPS"

    card.view_job.click()
    dialog = gui.window.job_dialogs[job_id]
    assert dialog.isVisible()
    await wait_until(lambda: dialog.info is not None, message="the job to load")
    assert dialog.info.id == job_id
    assert dialog.info.type == "TEST_STEPS"
    assert dialog.info.created_by == "test-tick"
    assert "Test Tick" in dialog.fields["launched"].text()


async def test_job_button_does_not_blink_under_a_status_flood(gui):
    card = gui.window.card("test-tick")
    bus = gui.services.bus
    samples: list[bool] = []
    gui.window.bridge.flushed.connect(lambda: samples.append(card.job_button_visible()))
    bus.publish(
        DaemonStatusChanged(
            daemon="test-tick",
            message="Launching",
            job_id="job-1",
            job_type="ANALYSIS",
            phase="waiting",
        )
    )
    await wait_until(card.job_button_visible)
    samples.clear()
    published = 0
    for i in range(300):
        # Each burst ends with a status that names no job: the newest status of
        # nearly every flush has none.
        bus.publish(
            DaemonStatusChanged(
                daemon="test-tick",
                message=f"Batch {i}",
                job_id="job-1",
                job_type="ANALYSIS",
                phase="waiting",
            )
        )
        bus.publish(
            DaemonStatusChanged(daemon="test-tick", message=f"Checked {i}", phase="working")
        )
        published += 2
        if i % 10 == 0:
            await asyncio.sleep(0.01)
    await wait_until(lambda: card.status_text() == "Checked 299", message="the newest status")
    assert samples and all(samples), f"hidden in {samples.count(False)} of {len(samples)} flushes"
    assert gui.window.bridge.flushes < published / 4  # coalesced, not one repaint per update
    assert card.shown_job_id == "job-1"

    bus.publish(
        DaemonStatusChanged(
            daemon="test-tick",
            message="Next batch",
            job_id="job-2",
            job_type="ANALYSIS",
            phase="waiting",
        )
    )
    await wait_until(lambda: card.shown_job_id == "job-2", message="the new job to replace it")
    assert card.job_button_visible()


async def test_job_button_goes_after_its_hold_time_or_at_once_on_stop(gui, monkeypatch):
    monkeypatch.setattr(daemon_card, "JOB_HOLD_SECONDS", 0.2)
    card = gui.window.card("test-tick")
    bus = gui.services.bus
    bus.publish(
        DaemonStatusChanged(
            daemon="test-tick", message="Syncing", job_id="j", job_type="SYNC", phase="waiting"
        )
    )
    bus.publish(DaemonStatusChanged(daemon="test-tick", message="Sync completed", phase="working"))
    await wait_until(lambda: card.status_text() == "Sync completed")
    assert card.job_button_visible()  # held
    await asyncio.sleep(0.25)
    card.tick()
    assert not card.job_button_visible()

    bus.publish(
        DaemonStatusChanged(
            daemon="test-tick", message="Syncing", job_id="k", job_type="SYNC", phase="waiting"
        )
    )
    await wait_until(card.job_button_visible)
    bus.publish(DaemonStatusChanged(daemon="test-tick", message=None))  # stopped: cleared
    await wait_until(lambda: not card.job_button_visible(), message="the button to go")


async def test_a_flood_never_freezes_the_window_and_ends_on_the_newest(gui):
    cards = [gui.window.card(n) for n in ("test-tick", "test-crash")]
    bus = gui.services.bus
    lags: list[float] = []
    stop = asyncio.Event()

    async def probe() -> None:
        while not stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append(time.perf_counter() - before - 0.005)

    prober = asyncio.ensure_future(probe())
    for i in range(4000):
        for card in cards:
            bus.publish(
                DaemonStatusChanged(daemon=card.name, message=f"{card.name} {i}", phase="working")
            )
        if i % 40 == 0:
            await asyncio.sleep(0)
    for card in cards:
        await wait_until(lambda c=card: c.status_text() == f"{c.name} 3999")
    stop.set()
    await prober
    assert max(lags) < 0.25, f"the loop stalled for {max(lags) * 1000:.0f} ms"


async def test_start_stop_restart_from_the_card(gui):
    await gui.manager.set_config("test-tick", {"job_interval_seconds": 30})
    card = gui.window.card("test-tick")
    handle = gui.manager.handle("test-tick")
    assert card.start_button.isEnabled() and not card.stop_button.isEnabled()

    card.start_button.click()
    await wait_until(
        lambda: handle.running and card.badge.text() == "running", message="the daemon to run"
    )
    await wait_until(lambda: "sleeping" in card.status_text())
    await wait_until(lambda: card.stop_button.isEnabled() and card.restart_button.isEnabled())
    assert not card.start_button.isEnabled()
    first = handle.instance

    card.restart_button.click()
    await wait_until(
        lambda: handle.instance is not None and handle.instance is not first and handle.running,
        message="a new instance after the restart",
    )
    await wait_until(lambda: "sleeping" in card.status_text())

    card.stop_button.click()
    await wait_until(
        lambda: not handle.running and card.badge.text() == "stopped", message="the daemon to stop"
    )
    await wait_until(lambda: card.start_button.isEnabled())
    assert card.status_text().startswith("Stopped")
    assert card.message is None and not card.progress_row.isVisibleTo(card)


async def test_page_actions_start_stop_and_restart_every_daemon(make_gui):
    gui = await make_gui(
        configs={
            "test-crash": {"crashes": 0, "job_interval_seconds": 30},
            "test-tick": {"job_interval_seconds": 30},
        }
    )
    page = gui.window.daemons_page
    handles = gui.manager.handles.values()
    page.start_all.click()
    await wait_until(lambda: all(h.state == "running" for h in handles), message="all running")
    await wait_until(lambda: "2 of 2 running" in page.summary.text())
    instances = {h.name: h.instance for h in handles}
    # the page's buttons stay disabled until "Start all" has finished
    await wait_until(lambda: page.restart_all.isEnabled())
    page.restart_all.click()
    await wait_until(
        lambda: all(
            h.instance is not None and h.instance is not instances[h.name] and h.running
            for h in handles
        ),
        message="all restarted",
    )
    await wait_until(lambda: page.stop_all.isEnabled())
    page.stop_all.click()
    await wait_until(
        lambda: all(not h.running and h.state == "stopped" for h in handles), message="all stopped"
    )
    await wait_until(lambda: "0 of 2 running" in page.summary.text())


async def test_auto_start_switch_sets_enabled_and_never_touches_config(gui):
    await gui.manager.set_config("test-tick", {"job_steps": 7})
    card = gui.window.card("test-tick")

    def row():
        return Daemon.get(Daemon.name == "test-tick")

    config_before = row().config
    card.auto_start.click()
    await wait_until(lambda: row().enabled and row().auto_start, message="enabled in the db")
    assert gui.manager.handle("test-tick").enabled
    assert row().config == config_before
    card.auto_start.click()
    await wait_until(lambda: not row().enabled, message="disabled in the db")
    assert row().config == config_before
    assert not gui.manager.handle("test-tick").running  # the switch is not a start button


async def test_a_crashed_daemon_shows_error_and_its_last_error(make_gui):
    gui = await make_gui(configs={"test-crash": {"crashes": 100}})
    card = gui.window.card("test-crash")
    card.start_button.click()
    await wait_until(lambda: card.state == "error", message="the error state")
    assert card.badge.text() == "error"
    assert card.error_label.isVisibleTo(card)
    assert "crash number 1" in card.error_label.text()
    assert card.stop_button.isEnabled()  # its supervisor is still there, restarting it
    card.stop_button.click()
    await wait_until(lambda: card.state == "stopped")
    assert not card.error_label.isVisibleTo(card)


async def test_status_text_is_shown_in_full_wrapping_as_plain_text(gui):
    card = gui.window.card("test-tick")
    message = (
        "Applying plan 7: <b>Auto Video Analysis</b> - 2024-05-01 to scenes in "
        "/media/library/a-very-long-folder-name/with several words that wrap"
    )
    gui.services.bus.publish(
        DaemonStatusChanged(daemon="test-tick", message=message, phase="working")
    )
    await wait_until(lambda: card.status_text() == message)
    label = card.status_label
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert label.wordWrap()
    line = label.fontMetrics().height()
    assert label.heightForWidth(260) >= 3 * line  # wraps onto more lines, nothing elided


async def test_the_window_has_a_card_for_every_registered_daemon(make_gui, all_daemons):
    from stashdesk.daemons.manager import DAEMON_TYPES, daemon_types_in_order

    gui = await make_gui()
    cards = gui.window.daemons_page.cards
    assert list(cards) == [cls.name for cls in daemon_types_in_order()]
    for name, cls in DAEMON_TYPES.items():
        assert cards[name].title.text() == (cls.display_name or name)
        assert cards[name].badge.text() == "stopped"
    assert f"0 of {len(DAEMON_TYPES)} running" in gui.window.daemons_page.summary.text()


async def test_nothing_ticks_while_the_page_is_hidden(make_gui) -> None:
    gui = await make_gui(tray=True)
    page, tray = gui.window.daemons_page, gui.window.tray
    assert page.ticker.isActive()
    gui.window.hide()  # to the tray
    assert not page.ticker.isActive()
    await wait_until(lambda: not tray._timer.isActive(), message="the tray timer idle")
    gui.window.show_page("jobs")
    assert not page.ticker.isActive()  # another page: the cards' ages need no ticking
    gui.window.show_page("daemons")
    assert page.ticker.isActive()

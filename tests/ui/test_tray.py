"""The tray (a recording stand-in: the offscreen platform has none) and closing the window."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QSystemTrayIcon

from stashdesk.events import Notification
from tests.engine_fixtures import wait_until


async def test_icon_tells_idle_working_and_error_apart(make_gui):
    gui = await make_gui(
        tray=True, configs={"test-tick": {"job_steps": 200}, "test-crash": {"crashes": 100}}
    )
    tray = gui.window.tray
    fake = gui.fake_tray
    assert tray.mode == "idle" and fake.visible
    await gui.manager.start("test-tick")
    await wait_until(lambda: tray.mode == "working", timeout=3, message="the working icon")
    assert fake.icon is tray._icons["working"]
    await gui.manager.start("test-crash")
    await wait_until(lambda: tray.mode == "error", message="the error icon")
    assert fake.icon is tray._icons["error"]
    await gui.manager.stop("test-crash")
    await gui.manager.stop("test-tick")
    assert tray.current_mode() == "working"  # its job still runs
    for info in gui.services.runner.active_jobs():
        await gui.services.runner.cancel(info.id)
    await wait_until(lambda: tray.mode == "idle", timeout=3, message="idle again")


async def test_tooltip_lists_each_running_daemons_status(make_gui):
    gui = await make_gui(
        tray=True,
        configs={
            "test-tick": {"job_interval_seconds": 30},
            "test-crash": {"crashes": 0, "job_interval_seconds": 30},
        },
    )
    fake = gui.fake_tray
    assert fake.tooltip.startswith("StashDesk — 0 of 2 daemons running")
    await gui.manager.start_all()
    await wait_until(
        lambda: (
            "Test Tick: No test work, sleeping for 30 seconds" in fake.tooltip
            and "Test Crash: Nothing to crash on, sleeping for 30 seconds" in fake.tooltip
        ),
        timeout=4,
        message="both statuses in the tooltip",
    )
    assert fake.tooltip.startswith("StashDesk — 2 of 2 daemons running")
    await gui.manager.stop("test-crash")
    await wait_until(lambda: "Test Crash" not in fake.tooltip, timeout=4)


async def test_menu_is_rebuilt_when_it_opens_and_its_actions_work(make_gui):
    gui = await make_gui(
        tray=True,
        configs={
            "test-tick": {"job_interval_seconds": 30},
            "test-crash": {"crashes": 0, "job_interval_seconds": 30},
        },
    )
    tray = gui.window.tray
    window = gui.window
    tray.menu.aboutToShow.emit()
    texts = [a.text() for a in tray.menu.actions() if not a.isSeparator()]
    assert texts == ["Hide window", "Start all daemons", "Stop all daemons", "Quit StashDesk"]
    assert not tray.action("Stop all daemons").isEnabled()  # nothing runs yet

    tray.action("Start all daemons").trigger()
    await wait_until(
        lambda: all(h.running for h in gui.manager.handles.values()),
        message="all started from the tray",
    )
    tray.menu.aboutToShow.emit()
    assert not tray.action("Start all daemons").isEnabled()
    tray.action("Stop all daemons").trigger()
    await wait_until(
        lambda: not any(h.running for h in gui.manager.handles.values()),
        message="all stopped from the tray",
    )

    tray.action("Hide window").trigger()
    assert not window.isVisible()
    tray.menu.aboutToShow.emit()
    tray.action("Show window").trigger()
    assert window.isVisible()

    quits: list[bool] = []
    window.quit_requested.connect(lambda: quits.append(True))
    tray.menu.aboutToShow.emit()
    tray.action("Quit StashDesk").trigger()
    assert quits == [True]


async def test_clicking_the_icon_toggles_the_window(make_gui):
    gui = await make_gui(tray=True)
    gui.fake_tray.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert not gui.window.isVisible()
    gui.fake_tray.activated.emit(QSystemTrayIcon.ActivationReason.Trigger)
    assert gui.window.isVisible()


async def test_failure_notifications_show_and_clicking_opens_the_job(make_gui):
    gui = await make_gui(tray=True)
    fake = gui.fake_tray
    info = await gui.services.runner.submit("TEST_STEPS", {"steps": 1, "fail": "disk full"})
    await wait_until(lambda: fake.messages, message="the failure notification")
    title, message, icon = fake.messages[-1]
    assert title == "Test steps failed"
    assert message == "disk full"
    assert icon == QSystemTrayIcon.MessageIcon.Warning
    fake.messageClicked.emit()
    assert info.id in gui.window.job_dialogs
    assert gui.window.job_dialogs[info.id].isVisible()


async def test_success_notifications_follow_their_setting(make_gui):
    gui = await make_gui(tray=True)
    fake = gui.fake_tray
    services = gui.services
    services.notify(
        "plan_applied", "Plan applied", "3 change(s) applied", failure=False, job_id="job-1"
    )
    await wait_until(lambda: gui.window.tray.last_notification is None)  # off by default
    assert fake.messages == []
    await services.store.write(lambda: services.settings.set("notifications.on_success", True))
    services.notify(
        "plan_applied", "Plan applied", "3 change(s) applied", failure=False, job_id="job-1"
    )
    await wait_until(lambda: fake.messages, message="the success notification")
    assert fake.messages[-1][:2] == ("Plan applied", "3 change(s) applied")
    assert fake.messages[-1][2] == QSystemTrayIcon.MessageIcon.Information

    await services.store.write(lambda: services.settings.set("notifications.on_failure", False))
    services.notify("job_failed", "SYNC job failed", "boom", failure=True)
    assert len(fake.messages) == 1  # switched off


async def test_a_notification_without_a_job_brings_the_window_back(make_gui):
    gui = await make_gui(tray=True)
    gui.window.hide()
    gui.services.bus.publish(
        Notification(
            kind="daemon_crashed", title="Test Crash crashed", message="boom", failure=True
        )
    )
    await wait_until(lambda: gui.fake_tray.messages)
    gui.fake_tray.messageClicked.emit()
    assert gui.window.isVisible()


async def test_without_a_tray_notifications_go_to_the_status_bar(gui):
    gui.services.notify("job_failed", "SYNC job failed", "Stash unreachable", failure=True)
    await wait_until(
        lambda: "SYNC job failed: Stash unreachable" in gui.window.statusBar().currentMessage()
    )


async def test_closing_hides_to_the_tray_and_says_so_the_first_time(make_gui):
    gui = await make_gui(tray=True)
    window = gui.window
    quits: list[bool] = []
    window.quit_requested.connect(lambda: quits.append(True))
    window.close()
    assert not window.isVisible() and not quits
    assert [m[0] for m in gui.fake_tray.messages] == ["StashDesk is still running"]
    window.bring_to_front()
    window.close()
    assert not window.isVisible()
    assert len(gui.fake_tray.messages) == 1  # said once
    assert window.ui_state.get("tray_hint_shown") is True


async def test_closing_without_a_tray_asks_before_stopping_everything(gui):
    window = gui.window
    quits: list[bool] = []
    window.quit_requested.connect(lambda: quits.append(True))
    window.close()
    box = window._asking_to_quit
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert window.isVisible() and not quits
    keep = next(b for b in box.buttons() if b.text() == "Keep running")
    keep.click()
    await wait_until(lambda: window._asking_to_quit is None)
    assert not quits and window.isVisible()

    window.close()
    box = window._asking_to_quit
    quit_button = next(b for b in box.buttons() if b.text() == "Stop daemons and quit")
    quit_button.click()
    await wait_until(lambda: quits == [True], message="the quit request")

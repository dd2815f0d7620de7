"""Daemon details: the configuration form, the live log, the histories."""

from __future__ import annotations

import time
from typing import ClassVar

import pytest
from PySide6.QtWidgets import QLineEdit

from stashdesk.daemons.base import BaseDaemon, Rest
from stashdesk.daemons.manager import DAEMON_TYPES
from stashdesk.events import DaemonLogged
from stashdesk.options import Option
from stashdesk.store.models import Daemon, DaemonLog
from stashdesk.ui.daemon_details import JOB_ROLE
from tests.engine_fixtures import wait_until


def _row_config(name: str) -> dict:
    return Daemon.get(Daemon.name == name).config


async def _details(gui, name: str, tab: str | None = None):
    """The details dialog, once the engine sent its configuration."""
    dialog = gui.window.open_daemon_details(name, tab)
    await wait_until(lambda: dialog.config_loaded, message="the configuration")
    return dialog


async def test_config_form_is_built_from_the_declared_options(gui):
    dialog = await _details(gui, "test-tick", "config")
    options = gui.manager.handle("test-tick").cls.all_options()
    form = dialog.config_form
    assert list(form.editors) == [o.key for o in options]
    for option in options:
        editor = form.editors[option.key]
        assert isinstance(editor.widget, QLineEdit)  # typed fields, not a JSON blob
        assert option.description in [
            w.text() for w in editor.container.findChildren(type(editor.error))
        ]
    assert form.editors["job_interval_seconds"].line.text() == "0.2"
    assert dialog.tabs.currentIndex() == dialog.TABS.index("config")


async def test_config_form_refuses_invalid_values_and_saves_valid_ones(gui):
    dialog = await _details(gui, "test-tick", "config")
    form = dialog.config_form
    before = dict(gui.manager.handle("test-tick").config)

    form.editors["job_interval_seconds"].set_text("0.001")
    interval_error = form.editors["job_interval_seconds"].error
    assert interval_error.isVisibleTo(dialog)
    assert "at least 0.01" in interval_error.text()
    form.editors["job_steps"].set_text("three")
    assert "whole number" in form.editors["job_steps"].error.text()
    assert not dialog.save_button.isEnabled()
    dialog.save_config()  # even forced, nothing is written
    assert dialog.config_message.isVisibleTo(dialog)
    assert "Nothing was saved" in dialog.config_message.label.text()
    assert gui.manager.handle("test-tick").config == before
    assert _row_config("test-tick") == before

    form.editors["job_interval_seconds"].set_text("45")
    form.editors["job_steps"].set_text("4")
    assert not form.editors["job_steps"].error.isVisibleTo(dialog)
    assert dialog.save_button.isEnabled()
    dialog.save_button.click()
    handle = gui.manager.handle("test-tick")
    await wait_until(lambda: handle.config["job_steps"] == 4, message="the save")
    assert handle.config["job_interval_seconds"] == 45.0
    assert _row_config("test-tick")["job_interval_seconds"] == 45.0
    await wait_until(lambda: "Saved 2 values" in dialog.config_message.label.text())
    assert not dialog.save_button.isEnabled()  # nothing left to save


async def test_reset_to_defaults_puts_back_every_default(gui):
    await gui.manager.set_config("test-tick", {"job_steps": 9, "fail_passes": 2})
    dialog = await _details(gui, "test-tick", "config")
    assert dialog.config_form.editors["job_steps"].line.text() == "9"
    dialog.reset_config()
    defaults = gui.manager.handle("test-tick").cls.default_config()
    await wait_until(lambda: _row_config("test-tick") == defaults, message="the reset")
    await wait_until(lambda: dialog.config_form.editors["job_steps"].line.text() == "0")
    assert gui.manager.handle("test-tick").config == defaults


async def test_auto_start_switch_and_config_do_not_mix(gui):
    await gui.manager.set_config("test-tick", {"job_steps": 3})
    card = gui.window.card("test-tick")
    card.auto_start.click()
    await wait_until(lambda: Daemon.get(Daemon.name == "test-tick").enabled)
    dialog = await _details(gui, "test-tick", "config")
    assert dialog.config_form.editors["job_steps"].line.text() == "3"
    assert "enabled" not in dialog.config_form.editors


@pytest.fixture
def restart_daemon_type():
    """A daemon whose option takes effect only after a restart (registered for one test)."""

    class RestartDaemon(BaseDaemon):
        name = "test-restart-option"
        display_name = "Test Restart Option"
        config_options: ClassVar[list[Option]] = [
            Option("job_interval_seconds", "float", 30.0, "Pause between passes.", minimum=1),
            Option(
                "workers", "int", 1, "Worker threads.", minimum=1, maximum=8, restart_required=True
            ),
        ]

        async def run_pass(self) -> Rest:
            await self.update_status("Checking")
            return Rest(self.interval, "Nothing")

    DAEMON_TYPES[RestartDaemon.name] = RestartDaemon
    yield RestartDaemon
    DAEMON_TYPES.pop(RestartDaemon.name, None)


async def test_a_change_that_needs_a_restart_says_so(make_gui, restart_daemon_type):
    gui = await make_gui()
    name = restart_daemon_type.name
    await gui.manager.start(name)
    dialog = await _details(gui, name, "config")
    dialog.config_form.editors["workers"].set_text("4")
    dialog.save_button.click()
    await wait_until(lambda: dialog.config_message.isVisibleTo(dialog), message="the note")
    assert "after the daemon restarts" in dialog.config_message.label.text()
    first = gui.manager.handle(name).instance
    dialog.config_message.button.click()  # "Restart now"
    await wait_until(
        lambda: gui.manager.handle(name).instance not in (None, first), message="the restart"
    )
    assert gui.manager.handle(name).instance.config["workers"] == 4


async def test_live_log_filters_pauses_without_dropping_and_exports(gui, tmp_path):
    dialog = gui.window.open_daemon_details("test-tick")
    log = dialog.log_view
    bus = gui.services.bus
    now = time.time()
    for level, message in (
        ("DEBUG", "debug detail"),
        ("INFO", "checked 3 scenes"),
        ("WARNING", "Stash slow to answer"),
        ("ERROR", "Stash unreachable"),
        ("INFO", "other daemon line"),
    ):
        daemon = "test-crash" if message.startswith("other") else "test-tick"
        bus.publish(DaemonLogged(daemon=daemon, level=level, message=message, at=now))
    await wait_until(lambda: "Stash unreachable" in log.text.toPlainText(), message="the log")
    text = log.text.toPlainText()
    assert "checked 3 scenes" in text and "debug detail" not in text  # INFO and above
    assert "other daemon line" not in text

    log.level.setCurrentIndex(log.level.findData("WARNING"))
    assert "checked 3 scenes" not in log.text.toPlainText()
    assert "Stash slow to answer" in log.text.toPlainText()
    log.search.setText("unreach")
    assert log.visible_lines() and all("unreachable" in line for line in log.visible_lines())
    log.search.setText("")
    log.level.setCurrentIndex(log.level.findData("DEBUG"))
    assert "debug detail" in log.text.toPlainText()

    log.pause.click()
    for i in range(50):
        bus.publish(DaemonLogged(daemon="test-tick", level="INFO", message=f"held {i}"))
    await wait_until(lambda: len(log.paused_buffer) == 50, message="lines held back")
    assert "held 0" not in log.text.toPlainText()
    assert "50 new lines held back" in log.buffered.text()
    log.pause.click()
    text = log.text.toPlainText()
    assert all(f"held {i}" in text for i in range(50))  # nothing dropped
    assert text.index("held 0") < text.index("held 49")

    target = tmp_path / "export.log"
    count = log.export_to(str(target))
    exported = target.read_text(encoding="utf-8").splitlines()
    assert count == len(exported) == len(log.visible_lines())
    assert any("held 49" in line for line in exported)


async def test_status_history_and_job_actions_link_to_jobs(gui):
    await gui.manager.set_config("test-tick", {"job_steps": 2, "job_interval_seconds": 30})
    await gui.manager.start("test-tick")
    handle = gui.manager.handle("test-tick")
    await wait_until(
        lambda: handle.instance and handle.instance.status and "sleeping" in handle.instance.status,
        message="one pass",
    )
    await gui.services.store.writer.flush_async()
    dialog = gui.window.open_daemon_details("test-tick", "status")
    table = dialog.status_table
    await wait_until(lambda: table.rowCount() >= 4, message="status history rows")
    messages = [table.item(r, 1).text() for r in range(table.rowCount())]
    assert messages[0] == "No test work, sleeping for 30 seconds"  # newest first
    waiting = messages.index("Waiting for test steps to complete")
    job_id = table.item(waiting, 2).data(JOB_ROLE)
    assert job_id and table.item(waiting, 2).text().startswith("TEST_STEPS ")

    dialog.show_tab("actions")
    actions = dialog.actions_table
    await wait_until(lambda: actions.rowCount() >= 2, message="job action rows")
    kinds = [actions.item(r, 1).text() for r in range(actions.rowCount())]
    assert kinds[:2] == ["FINISHED", "LAUNCHED"]
    assert {actions.item(r, 2).data(JOB_ROLE) for r in range(2)} == {job_id}

    dialog._open_item_job(actions.item(0, 2))
    assert job_id in gui.window.job_dialogs


async def test_the_log_opens_with_the_lines_the_engine_kept(gui):
    base = time.time() - 60

    def write() -> None:
        DaemonLog.insert_many(
            [
                {"daemon": "test-tick", "level": "INFO", "message": f"kept {i}", "at": base + i}
                for i in range(5)
            ]
            + [{"daemon": "test-crash", "level": "ERROR", "message": "not mine", "at": base + 2.5}]
        ).execute()

    await gui.services.store.write(write)
    dialog = gui.window.open_daemon_details("test-tick")
    log = dialog.log_view
    await wait_until(lambda: "kept 4" in log.text.toPlainText(), message="the stored log")
    lines = log.visible_lines()
    assert [line.split("  ")[-1].strip() for line in lines] == [f"kept {i}" for i in range(5)]
    assert "not mine" not in log.text.toPlainText()


async def test_the_dialog_works_on_a_remote_engine(engines, qapp):
    from stashdesk.ui.daemon_details import DaemonDetailsDialog
    from tests.ui.remote_helpers import remote_client, remote_context

    services = await engines.start()
    manager = services.manager
    await manager.set_config("test-tick", {"job_steps": 2, "job_interval_seconds": 30})
    await manager.start("test-tick")
    handle = manager.handle("test-tick")
    await wait_until(
        lambda: handle.instance and handle.instance.status and "sleeping" in handle.instance.status,
        message="one pass",
    )
    await services.store.writer.flush_async()
    client = await remote_client(engines)
    ctx, nav = remote_context(client)
    dialog = DaemonDetailsDialog(ctx, "test-tick")
    try:
        dialog.show()
        await wait_until(lambda: dialog.config_loaded, message="the remote configuration")
        assert list(dialog.config_form.editors) == [o.key for o in handle.cls.all_options()]
        assert dialog.config_form.editors["job_steps"].line.text() == "2"
        assert dialog.status_line.text() == "No test work, sleeping for 30 seconds"

        handle.instance.log("WARNING", "Stash slow over HTTP")  # through the event stream
        await wait_until(
            lambda: "Stash slow over HTTP" in dialog.log_view.text.toPlainText(),
            message="the live line",
        )

        dialog.show_tab("status")
        table = dialog.status_table
        await wait_until(lambda: table.rowCount() >= 4, message="the status history")
        assert table.item(0, 1).text() == "No test work, sleeping for 30 seconds"
        dialog.show_tab("actions")
        actions = dialog.actions_table
        await wait_until(lambda: actions.rowCount() == 2, message="the job actions")
        assert [actions.item(r, 1).text() for r in range(2)] == ["FINISHED", "LAUNCHED"]
        dialog._open_item_job(actions.item(0, 2))
        assert nav.jobs == [actions.item(0, 2).data(JOB_ROLE)]

        dialog.config_form.editors["job_steps"].set_text("5")
        dialog.save_button.click()
        await wait_until(lambda: handle.config["job_steps"] == 5, message="the remote save")
        await wait_until(lambda: "Saved 1 value" in dialog.config_message.label.text())
        await manager.set_config("test-tick", {"fail_passes": 1})  # saved elsewhere
        await wait_until(
            lambda: dialog.config_form.editors["fail_passes"].line.text() == "1",
            message="the change made elsewhere",
        )

        await engines.engine.api.stop()  # the engine goes out of reach
        await wait_until(lambda: dialog.notice.isVisibleTo(dialog), message="the notice")
        assert "how things stood then" in dialog.notice.label.text()
        dialog.config_form.editors["job_steps"].set_text("6")
        dialog.save_config()
        await wait_until(
            lambda: "Nothing was saved" in dialog.config_message.label.text(),
            message="the refused save",
        )
        assert "Traceback" not in dialog.config_message.label.text()
        assert handle.config["job_steps"] == 5
    finally:
        dialog.close()
        ctx.bridge.close()
        await client.close()

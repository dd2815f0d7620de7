"""Settings > Notifications: targets added, tested, edited and removed through the
engine, against a real Apprise sending to a webhook receiver on 127.0.0.1."""

from __future__ import annotations

from tests.engine_fixtures import wait_until


async def test_add_test_and_remove_a_target_from_the_settings(gui, webhook_receiver) -> None:
    dialog = gui.window.open_settings("Notifications")
    await dialog.loading
    targets = dialog.targets
    await wait_until(lambda: targets.events, message="the event list")
    assert targets.table.rowCount() == 0 and not targets.test_button.isEnabled()

    add = targets.open_dialog(None)
    assert add.event_boxes["job_failed"].isChecked()  # failures are on by default
    assert not add.event_boxes["started"].isChecked()
    add.name.setText("ops-room")
    add.url.setText(webhook_receiver.target_url("ops-room"))
    add.event_boxes["started"].setChecked(True)
    add.save()
    await wait_until(lambda: targets.table.rowCount() == 1, timeout=10, message="the target")
    row = targets.targets[0]
    assert row["name"] == "ops-room" and "started" in row["events"]
    assert row["url"] != webhook_receiver.target_url("ops-room")  # masked
    assert targets.table.item(0, 3).text() == "nothing sent yet"

    targets.table.selectRow(0)
    targets.send_test()
    await wait_until(
        lambda: webhook_receiver.received("ops-room"),
        timeout=15,
        message="the test message at the receiver",
    )
    await wait_until(
        lambda: targets.report.text().startswith("✔ ops-room: delivered"),
        timeout=10,
        message="the outcome shown",
    )

    bad = targets.open_dialog(None)
    bad.name.setText("broken")
    bad.url.setText("not a url")
    bad.save()
    await wait_until(lambda: bad.error.isVisibleTo(bad), timeout=5, message="the refusal")
    assert bad.error.label.text().startswith("Not saved: ")
    bad.reject()

    targets.table.selectRow(0)
    targets.remove()
    await wait_until(lambda: targets.table.rowCount() == 0, timeout=10, message="removed")
    assert await gui.client.ops.list_notification_targets() == []

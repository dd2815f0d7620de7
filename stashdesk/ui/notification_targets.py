"""Notification targets in Settings: the Apprise URLs (Discord, ntfy, Gotify, e-mail, a
webhook...) the engine sends events to, each with the events it wants, as Sonarr's
Settings > Connect. Add, edit, remove and "Send test" go through the engine API; the
URL is a secret, shown masked and never read back.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from stashdesk.engine_client.errors import ClientError
from stashdesk.ui.context import UiContext
from stashdesk.ui.widgets import Banner, button, editor_section, editor_table, muted, section

COLUMNS = ("Name", "Service", "Events", "Last delivery")


class TargetDialog(QDialog):
    """Add or edit one target: its name, its URL and the events it wants.

    Signals:
        saved(dict): the target as the engine stored it.

    Attributes:
        original: the target edited (None: a new one).
        event_boxes: one check box per event name.
    """

    saved = Signal(dict)

    def __init__(
        self,
        ctx: UiContext,
        events: list[dict[str, Any]],
        original: dict[str, Any] | None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.original = original
        self.setWindowTitle("Edit notification target" if original else "Add notification target")
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name = QLineEdit(original["name"] if original else "")
        self.url = QLineEdit()
        self.url.setEchoMode(QLineEdit.EchoMode.Password)
        self.url.setPlaceholderText(
            f"unchanged ({original['url']})"
            if original
            else "discord://webhook_id/token, ntfy://topic, json://host/path ..."
        )
        form.addRow("Name", self.name)
        form.addRow("Apprise URL", self.url)
        layout.addLayout(form)
        layout.addWidget(
            muted(
                "Any URL Apprise knows: see its wiki for Discord, ntfy, Gotify, "
                "Telegram, Pushover, e-mail and webhooks.",
                wrap=True,
            )
        )
        layout.addWidget(section("Send these events"))
        wanted = (
            set(original["events"])
            if original
            else {e["name"] for e in events if e.get("level") in ("failure", "warning")}
        )
        self.event_boxes: dict[str, QCheckBox] = {}
        for event in events:
            box = QCheckBox(f"{event['name']}: {event['description']}")
            box.setChecked(event["name"] in wanted)
            self.event_boxes[event["name"]] = box
            layout.addWidget(box)
        self.error = Banner("error")
        self.error.setVisible(False)
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        self.buttons = buttons
        layout.addWidget(buttons)

    def chosen_events(self) -> list[str]:
        return [name for name, box in self.event_boxes.items() if box.isChecked()]

    def save(self) -> None:
        ops = self.ctx.client.ops
        name, url, events = self.name.text().strip(), self.url.text().strip(), self.chosen_events()

        async def run() -> None:
            try:
                if self.original is None:
                    stored = await ops.add_notification_target(name, url, events)
                else:
                    stored = await ops.edit_notification_target(
                        self.original["name"], new_name=name or None, url=url or None, events=events
                    )
            except ClientError as exc:  # a URL Apprise cannot use, a name taken, no events
                self.error.set_text(f"Not saved: {exc}")
                self.error.setVisible(True)
                return
            self.saved.emit(stored)
            self.accept()

        self.ctx.tasks.spawn(run(), "Saving the notification target")


class NotificationTargets(QWidget):
    """The targets table with Add, Edit, Remove and Send test.

    Signals:
        changed(): the list was (re)loaded.

    Attributes:
        targets: the targets shown, as ``list_notification_targets`` returns them.
        events: every event a target can ask for.
        dialog: the TargetDialog open (None when none is).
    """

    changed = Signal()

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.targets: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.dialog: TargetDialog | None = None
        column = editor_section(
            self, "Targets", "Where events go besides the tray. Each target has its own events."
        )
        self.table = editor_table(COLUMNS, stretch=2)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.doubleClicked.connect(lambda _i: self.edit())
        column.addWidget(self.table)
        row = QHBoxLayout()
        self.add_button = button("Add…")
        self.edit_button = button("Edit…")
        self.remove_button = button("Remove", danger=True)
        self.test_button = button("Send test")
        self.add_button.clicked.connect(lambda: self.open_dialog(None))
        self.edit_button.clicked.connect(self.edit)
        self.remove_button.clicked.connect(self.remove)
        self.test_button.clicked.connect(self.send_test)
        for widget in (self.add_button, self.edit_button, self.remove_button, self.test_button):
            row.addWidget(widget)
        row.addStretch(1)
        column.addLayout(row)
        self.report = QLabel()
        self.report.setWordWrap(True)
        self.report.setTextFormat(Qt.TextFormat.PlainText)
        column.addWidget(self.report)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self._selection_changed()
        self.load()

    def load(self) -> None:
        ops = self.ctx.client.ops

        async def run() -> None:
            if not self.events:
                self.events = await ops.notification_events()
            self.show_targets(await ops.list_notification_targets())

        self.ctx.tasks.spawn(run(), "Loading the notification targets")

    def show_targets(self, targets: list[dict[str, Any]]) -> None:
        self.targets = targets
        self.table.setRowCount(len(targets))
        for row, target in enumerate(targets):
            delivery = target.get("last_delivery") or "never sent"
            cells = (
                target["name"],
                target.get("service") or "",
                ", ".join(target["events"]),
                delivery,
            )
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 0:
                    item.setToolTip(target["url"])  # masked
                if col == 3 and target.get("last_delivery_ok") is False:
                    item.setForeground(Qt.GlobalColor.darkRed)
                self.table.setItem(row, col, item)
        self._selection_changed()
        self.changed.emit()

    def selected(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        return self.targets[rows[0].row()] if rows else None

    def _selection_changed(self) -> None:
        chosen = self.selected() is not None
        self.edit_button.setEnabled(chosen)
        self.remove_button.setEnabled(chosen)
        self.test_button.setText("Send test" if chosen or not self.targets else "Send test to all")
        self.test_button.setEnabled(bool(self.targets))

    def open_dialog(self, original: dict[str, Any] | None) -> TargetDialog:
        dialog = TargetDialog(self.ctx, self.events, original, self)
        dialog.saved.connect(lambda _t: self.load())
        dialog.finished.connect(lambda _r: setattr(self, "dialog", None))
        self.dialog = dialog
        dialog.open()
        return dialog

    def edit(self) -> None:
        target = self.selected()
        if target is not None:
            self.open_dialog(target)

    def remove(self) -> None:
        target = self.selected()
        if target is None:
            return
        ops = self.ctx.client.ops

        async def run() -> None:
            await ops.remove_notification_target(target["name"])
            self.report.setText(f"Removed {target['name']}.")
            self.show_targets(await ops.list_notification_targets())

        self.ctx.tasks.spawn(run(), f"Removing {target['name']}")

    def send_test(self) -> None:
        target = self.selected()
        ops = self.ctx.client.ops
        self.test_button.setEnabled(False)
        self.report.setText("Sending…")

        async def run() -> None:
            try:
                outcomes = await ops.test_notification_targets(target["name"] if target else None)
            finally:
                self.test_button.setEnabled(True)
            self.report.setText(
                "\n".join(
                    f"{'✔' if o['ok'] else '✘'} {o['name']}: "
                    f"{'delivered' if o['ok'] else o.get('error') or o.get('last_delivery')}"
                    for o in outcomes
                )
            )
            self.show_targets(await ops.list_notification_targets())

        self.ctx.tasks.spawn(run(), "Sending a test notification")

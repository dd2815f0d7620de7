"""The Settings dialog, built from the declarative ``SETTINGS`` list.

One page per group (``group_of``): Stash, qBittorrent, Downloads, Analysis,
Notifications, History, Advanced. Secrets are password fields. Every value is
validated before anything is saved, and nothing is saved while any value is
wrong. Stash, qBittorrent and Analysis have a "Test connection" button that
has the engine try the values as typed (where the engine runs: a remote engine
tests from its own machine) and reports each step.

Values come from the engine (``list_settings``, secrets masked) when the dialog
opens; until they arrive the forms are read-only.
"""

from __future__ import annotations

import asyncio
from html import escape
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from stashdesk.engine_client.errors import ClientError
from stashdesk.settings import SETTINGS, group_of
from stashdesk.ui import humanize
from stashdesk.ui.context import UiContext
from stashdesk.ui.notification_targets import NotificationTargets
from stashdesk.ui.option_form import OptionForm
from stashdesk.ui.tag_mapping_editor import TagMappingEditor
from stashdesk.ui.widgets import Banner, ask, button, flat_scroll, muted, section

# The groups the engine has a connection test for (``test_connection``).
TESTED_GROUPS = ("Stash", "qBittorrent", "Analysis")
STEP_MARKS = {True: "✔", False: "✘", None: "–"}

GROUP_INTROS = {
    "Stash": "Where your Stash server is. StashDesk reads scenes from it and writes the "
    "changes you approve.",
    "qBittorrent": "The qBittorrent Web UI the download processor watches.",
    "Downloads": "Where finished downloads go in your library.",
    "Analysis": "The AI video-tag server and how its findings become proposed changes.",
    "Notifications": "What the tray tells you about, and the targets (Discord, ntfy, "
    "Gotify, e-mail, webhooks...) the engine sends events to.",
    "Engine API": "How the CLI, other tools and windows on other computers reach this "
    "engine: the address it listens on, TLS, and its key.",
    "History": "How long StashDesk keeps what happened.",
    "Advanced": "Jobs and daemon supervision.",
}


class SettingsDialog(QDialog):
    """Signals:
        loaded(): the engine's values are in the forms.
        saved(dict): the values saved, by key (as the engine shows them).
        check_finished(str): a connection test of this group finished.

    Attributes:
        forms: OptionForm by group title.
        groups: the group titles in order.
        targets: the NotificationTargets table on the Notifications page.
        tag_mapping: the TagMappingEditor on the Analysis page.
        reports: the last connection-test steps by group title (``name``, ``ok``,
            ``detail`` as the engine's ``test_connection`` returns them).
        loading: the task loading the values (await it before reading the forms).
    """

    loaded = Signal()
    saved = Signal(dict)
    check_finished = Signal(str)

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.setWindowTitle("Settings — StashDesk")
        self.resize(860, 620)
        self.forms: dict[str, OptionForm] = {}
        self.reports: dict[str, list[dict[str, Any]]] = {}
        self._report_labels: dict[str, QLabel] = {}
        self._test_buttons: dict[str, QPushButton] = {}
        self.groups: list[str] = []
        for option in SETTINGS:
            group = group_of(option.key)
            if group not in self.groups:
                self.groups.append(group)

        layout = QVBoxLayout(self)
        self.banner = Banner("info")
        self.banner.setVisible(False)
        layout.addWidget(self.banner)
        body = QHBoxLayout()
        self.nav = QListWidget()
        self.nav.setObjectName("sidebar")
        self.nav.setFixedWidth(170)
        self.pages = QStackedWidget()
        for group in self.groups:
            self.nav.addItem(group)
            self.pages.addWidget(self._build_group(group))
        self.nav.currentRowChanged.connect(self.pages.setCurrentIndex)
        self.nav.setCurrentRow(0)
        body.addWidget(self.nav)
        body.addWidget(self.pages, 1)
        layout.addLayout(body, 1)

        self.message = Banner("info")
        self.message.setVisible(False)
        layout.addWidget(self.message)
        buttons = QHBoxLayout()
        self.secrets_note = muted("Loading the settings…")
        buttons.addWidget(self.secrets_note)
        buttons.addStretch(1)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        self._asking_to_discard: QMessageBox | None = None
        self.save_button = button("Save", primary=True)
        self.save_button.clicked.connect(self.save)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.save_button)
        layout.addLayout(buttons)
        self._set_ready(False)
        self.loading: asyncio.Task[None] = ctx.tasks.spawn(self._load(), "Loading the settings")

    async def _load(self) -> None:
        listing = await self.ctx.client.ops.list_settings()
        self._fill(listing)
        where = listing.get("secrets_location")
        engine = f" on {self.ctx.client.label}" if self.ctx.client.remote else ""
        self.secrets_note.setText(f"Secrets are kept in {where}{engine}." if where else "")
        self._set_ready(True)
        self.loaded.emit()

    def _fill(self, listing: dict[str, Any]) -> None:
        values = {item["key"]: item["value"] for item in listing["items"]}
        unset = {item["key"] for item in listing["items"] if not item.get("is_set", True)}
        for form in self.forms.values():
            form.set_values({k: values[k] for k in form.editors if k in values}, unset)

    def _set_ready(self, ready: bool) -> None:
        for form in self.forms.values():
            form.setEnabled(ready)
        self.save_button.setEnabled(ready)
        for test in self._test_buttons.values():
            test.setEnabled(ready)

    def _build_group(self, group: str) -> QWidget:
        options = [o for o in SETTINGS if group_of(o.key) == group]
        values = {o.key: o.default for o in options}  # until the engine's arrive
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(12, 0, 0, 0)
        column.addWidget(section(group))
        if group in GROUP_INTROS:
            column.addWidget(muted(GROUP_INTROS[group], wrap=True))
        form = OptionForm(options, values)
        self.forms[group] = form
        holder = QWidget()
        inner = QVBoxLayout(holder)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(form)
        if group in TESTED_GROUPS:
            row = QHBoxLayout()
            test = button("Test connection")
            test.setObjectName(f"test-{group}")
            test.clicked.connect(lambda _=False, g=group: self.test_connection(g))
            self._test_buttons[group] = test
            row.addWidget(test)
            row.addStretch(1)
            report = QLabel()
            report.setWordWrap(True)
            report.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            report.setVisible(False)
            self._report_labels[group] = report
            inner.addLayout(row)
            inner.addWidget(report)
        # What a group holds besides its settings: tables kept by the engine.
        if group == "Analysis":
            self.tag_mapping = TagMappingEditor(self.ctx)
            inner.addWidget(self.tag_mapping)
        elif group == "Notifications":
            self.targets = NotificationTargets(self.ctx)
            inner.addWidget(self.targets)
        inner.addStretch(1)
        content = holder
        column.addWidget(flat_scroll(content), 1)
        return page

    # --- navigation ------------------------------------------------------------------------------

    def show_group(self, group: str, reason: str | None = None) -> None:
        self.nav.setCurrentRow(self.groups.index(group))
        if reason:
            self.banner.set_kind("warning")
            self.banner.set_text(reason)
            self.banner.setVisible(True)

    def editor(self, key: str) -> Any:
        return self.forms[group_of(key)].editors[key]

    # --- saving ----------------------------------------------------------------------------------

    def save(self) -> None:
        changed: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for form in self.forms.values():
            group_changed, group_errors = form.changes()
            changed.update(group_changed)
            errors.update(group_errors)
        if errors:
            groups = sorted({group_of(k) for k in errors}, key=self.groups.index)
            self.show_group(groups[0])
            self._say(
                "error",
                f"Nothing was saved: {humanize.count(len(errors), 'value')} "
                f"to fix in {', '.join(groups)}. " + " ".join(errors.values()),
            )
            return
        if not changed:
            self._say("info", "Nothing changed.")
            return
        ops = self.ctx.client.ops

        async def run() -> None:
            try:
                result = await ops.set_settings(changed)
            except ClientError as exc:  # the engine refused a value, or is out of reach
                self._say("error", f"Nothing was saved: {exc}")
                return
            self._fill(await ops.list_settings())
            values = result["saved"]
            restart = [
                o.title
                for form in self.forms.values()
                for o in form.restart_required(result.get("restart_required", ()))
            ]
            text = f"Saved {humanize.count(len(values), 'setting')}."
            if restart:
                text += f" {', '.join(restart)}: takes effect after StashDesk restarts."
            self._say("info", text)
            if "stash.url" in values:
                self.banner.setVisible(False)
            self.saved.emit(values)

        self.ctx.tasks.spawn(run(), "Saving settings")

    def dirty(self) -> bool:
        return any(form.dirty() for form in self.forms.values())

    def closeEvent(self, event: QCloseEvent) -> None:
        """Closing with unsaved edits asks first: they are not thrown away silently."""
        if not self.dirty():
            event.accept()
            return
        event.ignore()
        self.ask_to_discard()

    def ask_to_discard(self) -> QMessageBox:
        if self._asking_to_discard is not None:
            return self._asking_to_discard

        def answered(answer: int | None) -> None:
            self._asking_to_discard = None
            if answer == 0:
                self.save()
            elif answer == 1:
                for form in self.forms.values():
                    form.set_values(
                        dict(form.initial), [k for k, e in form.editors.items() if e.unset]
                    )
                self.close()

        self._asking_to_discard = ask(
            self,
            "Unsaved changes",
            "Some settings were changed but not saved.",
            [
                ("Save", QMessageBox.ButtonRole.AcceptRole),
                ("Discard changes", QMessageBox.ButtonRole.DestructiveRole),
                ("Keep editing", QMessageBox.ButtonRole.RejectRole),
            ],
            answered,
        )
        return self._asking_to_discard

    def _say(self, kind: str, text: str) -> None:
        self.message.set_kind(kind)
        self.message.set_text(text)
        self.message.setVisible(True)

    # --- test connection -------------------------------------------------------------------------

    def test_connection(self, group: str) -> None:
        if group not in TESTED_GROUPS:
            return
        values, errors = self.forms[group].validate()
        test = self._test_buttons[group]
        if errors:
            self._show_report(
                group,
                [
                    {"name": "Check the values", "ok": False, "detail": message}
                    for message in errors.values()
                ],
                tested=False,
            )
            self.check_finished.emit(group)
            return
        test.setEnabled(False)
        test.setText("Testing…")
        label = self._report_labels[group]
        label.setText("Testing…")
        label.setVisible(True)

        async def run() -> None:
            try:
                steps = (await self.ctx.client.ops.test_connection(group, values))["steps"]
            except ClientError as exc:
                steps = [{"name": "Ask the engine", "ok": False, "detail": str(exc)}]
            finally:
                test.setEnabled(True)
                test.setText("Test connection")
            self._show_report(group, steps, tested=True)
            self.check_finished.emit(group)

        self.ctx.tasks.spawn(run(), f"Testing the {group} connection")

    def _show_report(self, group: str, steps: list[dict[str, Any]], *, tested: bool) -> None:
        self.reports[group] = steps
        colours = {True: "#15803d", False: "#b91c1c", None: "#64748b"}
        lines = [
            f'<span style="color:{colours[s.get("ok")]}"><b>{STEP_MARKS[s.get("ok")]} '
            f"{escape(s['name'])}</b>: {escape(s.get('detail', ''))}</span>"
            for s in steps
        ]
        if not tested:
            lines.insert(0, "Not tested: fix these values first.")
        elif all(s.get("ok") for s in steps):
            lines.append('<span style="color:#15803d">Everything worked.</span>')
        label = self._report_labels[group]
        label.setText("<br>".join(lines))
        label.setVisible(True)

    def report_text(self, group: str) -> str:
        """The last test's steps as plain lines ("✔ Reach Stash: ...")."""
        return "\n".join(
            f"{STEP_MARKS[s.get('ok')]} {s['name']}: {s.get('detail', '')}"
            for s in self.reports.get(group, [])
        )

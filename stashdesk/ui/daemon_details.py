"""A daemon's details: live log, status history, job actions and configuration.

The window shows one of these per daemon (not modal). The log follows the
daemon live; pausing it buffers new lines (nothing is dropped) until it is
resumed. Histories are read from the database (small indexed queries on a
reader thread) and refreshed while their tab is visible. The configuration tab
is a form built from the daemon's declared options.
"""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from stashdesk.daemons.base import LOG_LEVELS
from stashdesk.events import (
    DaemonJobActionTracked,
    DaemonLogged,
    DaemonStateChanged,
    DaemonStatusChanged,
)
from stashdesk.store.models import DaemonJobAction, DaemonLog, DaemonStatus, Job
from stashdesk.ui import humanize, theme
from stashdesk.ui.context import UiContext
from stashdesk.ui.option_form import OptionForm
from stashdesk.ui.widgets import Banner, badge, button, flat_scroll, muted, set_badge

LOG_ROWS_LOADED = 1000
LOG_LINES_KEPT = 20000
HISTORY_ROWS = 300
JOB_ROLE = Qt.ItemDataRole.UserRole + 1


def format_log_line(at: float, level: str, message: str) -> str:
    return f"{humanize.timestamp(at, now=at)}  {level:<7}  {message}"


class LogView(QWidget):
    """The live log: level filter ("this level and above"), search, pause, export.

    Attributes:
        entries: every line kept (at, level, message), oldest first.
        paused_buffer: lines that arrived while paused, shown on resume.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: deque[tuple[float, str, str]] = deque(maxlen=LOG_LINES_KEPT)
        self.paused_buffer: list[tuple[float, str, str]] = []
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.level = QComboBox()
        for level in LOG_LEVELS:
            self.level.addItem(f"{level.capitalize()} and above", level)
        self.level.setCurrentIndex(LOG_LEVELS.index("INFO"))
        self.level.currentIndexChanged.connect(self.refilter)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search the log")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.refilter)
        self.pause = QPushButton("Pause")
        self.pause.setCheckable(True)
        self.pause.toggled.connect(self._pause_toggled)
        self.export = QPushButton("Export…")
        self.export.clicked.connect(self._export)
        bar.addWidget(self.level)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.pause)
        bar.addWidget(self.export)
        layout.addLayout(bar)
        self.buffered = muted()
        layout.addWidget(self.buffered)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setProperty("role", "mono")
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setMaximumBlockCount(LOG_LINES_KEPT)
        layout.addWidget(self.text, 1)
        self._dialog: QFileDialog | None = None
        self._update_buffered()

    @property
    def paused(self) -> bool:
        return self.pause.isChecked()

    def passes(self, level: str, message: str) -> bool:
        minimum = LOG_LEVELS.index(self.level.currentData())
        rank = LOG_LEVELS.index(level) if level in LOG_LEVELS else len(LOG_LEVELS)
        needle = self.search.text().strip().lower()
        return rank >= minimum and (not needle or needle in message.lower())

    def visible_lines(self) -> list[str]:
        return [format_log_line(*e) for e in self.entries if self.passes(e[1], e[2])]

    def set_entries(self, entries: list[tuple[float, str, str]]) -> None:
        self.entries.clear()
        self.entries.extend(entries)
        self.refilter()

    def add(self, entries: list[tuple[float, str, str]]) -> None:
        if self.paused:
            self.paused_buffer.extend(entries)
            self._update_buffered()
            return
        self._append(entries)

    def _append(self, entries: list[tuple[float, str, str]]) -> None:
        self.entries.extend(entries)
        lines = [format_log_line(*e) for e in entries if self.passes(e[1], e[2])]
        if lines:
            scrollbar = self.text.verticalScrollBar()
            at_end = scrollbar.value() >= scrollbar.maximum() - 2
            self.text.appendPlainText("\n".join(lines))
            if at_end:
                scrollbar.setValue(scrollbar.maximum())

    def refilter(self) -> None:
        self.text.setPlainText("\n".join(self.visible_lines()))
        self.text.verticalScrollBar().setValue(self.text.verticalScrollBar().maximum())

    def _pause_toggled(self, paused: bool) -> None:
        self.pause.setText("Resume" if paused else "Pause")
        if not paused and self.paused_buffer:
            buffered, self.paused_buffer = self.paused_buffer, []
            self._append(buffered)
        self._update_buffered()

    def _update_buffered(self) -> None:
        n = len(self.paused_buffer)
        self.buffered.setText(f"Paused: {humanize.count(n, 'new line')} held back; "
                              "Resume shows them." if self.paused else "")
        self.buffered.setVisible(self.paused)

    def _export(self) -> None:
        dialog = QFileDialog(self, "Export the log")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("log")
        dialog.selectFile("stashdesk-daemon.log")
        dialog.fileSelected.connect(self.export_to)
        self._dialog = dialog
        dialog.open()

    def export_to(self, path: str) -> int:
        """Write the lines shown (level and search applied); returns how many."""
        lines = self.visible_lines()
        Path(path).write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
        return len(lines)


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.horizontalHeader().setStretchLastSection(False)
    table.horizontalHeader().setHighlightSections(False)
    return table


def _item(text: str, job_id: str | None = None, tooltip: str | None = None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if job_id:
        item.setData(JOB_ROLE, job_id)
    if tooltip:
        item.setToolTip(tooltip)
    return item


class DaemonDetailsDialog(QDialog):
    """Attributes:
        name: the daemon's name.
        tabs: the QTabWidget (tabs: log, status, actions, config).
        log_view, status_table, actions_table, config_form: the tabs' contents.
    """

    TABS = ("log", "status", "actions", "config")

    def __init__(self, ctx: UiContext, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.name = name
        self.manager = ctx.services.manager
        self.handle = self.manager.handle(name)
        cls = self.handle.cls
        self.setWindowTitle(f"{cls.display_name or name} — StashDesk")
        self.resize(860, 640)
        self._status_dirty = True
        self._actions_dirty = True

        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        title = QLabel(cls.display_name or name)
        title.setProperty("role", "page-title")
        self.badge = badge(self.handle.state, self.handle.state)
        head.addWidget(title)
        head.addWidget(self.badge)
        head.addStretch(1)
        head.addWidget(muted(name))
        layout.addLayout(head)
        if cls.description:
            layout.addWidget(muted(cls.description, wrap=True))
        self.status_line = QLabel()
        self.status_line.setWordWrap(True)
        layout.addWidget(self.status_line)

        self.tabs = QTabWidget()
        self.log_view = LogView()
        self.tabs.addTab(self.log_view, "Live log")

        self.status_table = _table(["Time", "Message", "Job"])
        self.status_table.horizontalHeader().setSectionResizeMode(
            1, QHeaderView.ResizeMode.Stretch)
        self.status_table.setColumnWidth(0, 150)
        self.status_table.setColumnWidth(2, 170)
        self.status_table.itemDoubleClicked.connect(self._open_item_job)
        self.tabs.addTab(self._with_hint(self.status_table,
                                         "Newest first. Double-click a row with a job to open "
                                         "it."), "Status history")

        self.actions_table = _table(["Time", "Action", "Job", "Reason"])
        self.actions_table.horizontalHeader().setSectionResizeMode(
            3, QHeaderView.ResizeMode.Stretch)
        self.actions_table.setColumnWidth(0, 150)
        self.actions_table.setColumnWidth(1, 100)
        self.actions_table.setColumnWidth(2, 170)
        self.actions_table.itemDoubleClicked.connect(self._open_item_job)
        self.tabs.addTab(self._with_hint(self.actions_table,
                                         "Jobs this daemon launched and how they ended. "
                                         "Double-click to open the job."), "Job actions")

        self.tabs.addTab(self._build_config(), "Configuration")
        self.tabs.currentChanged.connect(lambda _i: self._refresh_visible())
        layout.addWidget(self.tabs, 1)

        close = QPushButton("Close")
        close.clicked.connect(self.close)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(close)
        layout.addLayout(row)

        bridge = ctx.bridge
        bridge.logged.connect(self._on_logged)
        bridge.status_changed.connect(self._on_status)
        bridge.state_changed.connect(self._on_state)
        bridge.job_action.connect(self._on_job_action)
        self.refresher = QTimer(self)
        self.refresher.setInterval(2000)
        self.refresher.timeout.connect(self._refresh_visible)
        self.refresher.start()
        self._show_current_status()
        self._load_log()
        self._refresh_visible()

    @staticmethod
    def _with_hint(widget: QWidget, hint: str) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.addWidget(muted(hint, wrap=True))
        column.addWidget(widget, 1)
        return box

    def show_tab(self, tab: str) -> None:
        self.tabs.setCurrentIndex(self.TABS.index(tab))

    # --- header ----------------------------------------------------------------------------------

    def _show_current_status(self) -> None:
        daemon = self.handle.instance
        set_badge(self.badge, self.handle.state, self.handle.state)
        if daemon is not None and daemon.status:
            self.status_line.setText(daemon.status)
        elif self.handle.state == "error" and self.handle.last_error:
            self.status_line.setText(f"Crashed: {self.handle.last_error}")
        else:
            self.status_line.setText("Not running." if not self.handle.running else "Starting…")

    def _on_status(self, event: DaemonStatusChanged, _last_job: Any) -> None:
        if event.daemon == self.name:
            self._status_dirty = True
            self._show_current_status()

    def _on_state(self, event: DaemonStateChanged) -> None:
        if event.daemon == self.name:
            self._show_current_status()

    # --- log -------------------------------------------------------------------------------------

    def _load_log(self) -> None:
        name = self.name

        def read() -> list[tuple[float, str, str]]:
            rows = (DaemonLog.select(DaemonLog.at, DaemonLog.level, DaemonLog.message)
                    .where(DaemonLog.daemon == name)
                    .order_by(DaemonLog.at.desc(), DaemonLog.id.desc())
                    .limit(LOG_ROWS_LOADED).tuples())
            return list(reversed(list(rows)))

        def loaded(rows: list[tuple[float, str, str]]) -> None:
            # Lines that arrived live while loading are newer than what was read.
            newest = rows[-1][0] if rows else 0.0
            live = [e for e in self.log_view.entries if e[0] > newest]
            self.log_view.set_entries(rows + live)

        self.ctx.tasks.spawn(self.ctx.services.store.read(read), "Loading the log",
                             on_done=loaded)

    def _on_logged(self, events: list[DaemonLogged]) -> None:
        mine = [(e.at, e.level, e.message) for e in events if e.daemon == self.name]
        if mine:
            self.log_view.add(mine)

    # --- histories -------------------------------------------------------------------------------

    def _refresh_visible(self) -> None:
        if not self.isVisible():
            return
        current = self.TABS[self.tabs.currentIndex()]
        if current == "status" and self._status_dirty:
            self.load_status_history()
        elif current == "actions" and self._actions_dirty:
            self.load_job_actions()

    def load_status_history(self) -> None:
        self._status_dirty = False
        name = self.name

        def read() -> list[tuple[float, str, str | None, str | None]]:
            return list(DaemonStatus.select(DaemonStatus.at, DaemonStatus.message,
                                            DaemonStatus.job_id, DaemonStatus.job_type)
                        .where(DaemonStatus.daemon == name)
                        .order_by(DaemonStatus.at.desc(), DaemonStatus.id.desc())
                        .limit(HISTORY_ROWS).tuples())

        def show(rows: list[tuple[float, str, str | None, str | None]]) -> None:
            table = self.status_table
            table.setRowCount(len(rows))
            for r, (at, message, job_id, job_type) in enumerate(rows):
                table.setItem(r, 0, _item(humanize.timestamp(at), job_id,
                                          humanize.full_timestamp(at)))
                table.setItem(r, 1, _item(message, job_id, message))
                job = f"{job_type or 'job'} {job_id[:8]}" if job_id else ""
                table.setItem(r, 2, _item(job, job_id, job_id))
                if job_id:
                    table.item(r, 2).setForeground(theme.INDIGO)

        self.ctx.tasks.spawn(self.ctx.services.store.read(read), "Loading status history",
                             on_done=show)

    def load_job_actions(self) -> None:
        self._actions_dirty = False
        name = self.name

        def read() -> list[tuple[float, str, str, str | None, str | None]]:
            rows = list(DaemonJobAction.select(DaemonJobAction.at, DaemonJobAction.action,
                                               DaemonJobAction.job_id, DaemonJobAction.reason)
                        .where(DaemonJobAction.daemon == name)
                        .order_by(DaemonJobAction.at.desc(), DaemonJobAction.id.desc())
                        .limit(HISTORY_ROWS).tuples())
            ids = list({row[2] for row in rows})
            types = dict(Job.select(Job.id, Job.type).where(Job.id.in_(ids)).tuples()) \
                if ids else {}
            return [(at, action, job_id, types.get(job_id), reason)
                    for at, action, job_id, reason in rows]

        def show(rows: list[tuple[float, str, str, str | None, str | None]]) -> None:
            table = self.actions_table
            table.setRowCount(len(rows))
            colours = {"LAUNCHED": theme.INDIGO, "FINISHED": theme.GREEN,
                       "FAILED": theme.RED, "CANCELLED": theme.MUTED}
            for r, (at, action, job_id, job_type, reason) in enumerate(rows):
                table.setItem(r, 0, _item(humanize.timestamp(at), job_id,
                                          humanize.full_timestamp(at)))
                action_item = _item(action, job_id)
                action_item.setForeground(colours.get(action, theme.TEXT))
                table.setItem(r, 1, action_item)
                job = _item(f"{job_type or 'job'} {job_id[:8]}", job_id, job_id)
                job.setForeground(theme.INDIGO)
                table.setItem(r, 2, job)
                table.setItem(r, 3, _item(reason or "", job_id, reason))

        self.ctx.tasks.spawn(self.ctx.services.store.read(read), "Loading job actions",
                             on_done=show)

    def _on_job_action(self, event: DaemonJobActionTracked) -> None:
        if event.daemon == self.name:
            self._actions_dirty = True

    def _open_item_job(self, item: QTableWidgetItem) -> None:
        job_id = item.data(JOB_ROLE)
        if job_id:
            self.ctx.nav.open_job(job_id)

    # --- configuration ---------------------------------------------------------------------------

    def _build_config(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.addWidget(muted("A running daemon uses saved values from its next pass. "
                               "Settings marked ⟳ take effect after the daemon restarts.",
                               wrap=True))
        self.config_form = OptionForm(self.handle.cls.all_options(), self.handle.config)
        self.config_form.edited.connect(self._config_edited)
        column.addWidget(flat_scroll(self.config_form), 1)
        self.config_message = Banner("info", "", action="Restart now")
        self.config_message.action_clicked.connect(self._restart_daemon)
        self.config_message.setVisible(False)
        column.addWidget(self.config_message)
        row = QHBoxLayout()
        self.reset_button = button("Reset to defaults", danger=True)
        self.reset_button.clicked.connect(self._confirm_reset)
        self.revert_button = button("Revert")
        self.revert_button.clicked.connect(self._revert)
        self.save_button = button("Save", primary=True)
        self.save_button.clicked.connect(self.save_config)
        row.addWidget(self.reset_button)
        row.addStretch(1)
        row.addWidget(self.revert_button)
        row.addWidget(self.save_button)
        column.addLayout(row)
        self._config_edited()
        return page

    def _config_edited(self) -> None:
        changed, errors = self.config_form.changes()
        self.save_button.setEnabled(bool(changed) and not errors)
        self.revert_button.setEnabled(bool(changed) or bool(errors))

    def _say(self, kind: str, text: str, restart: bool = False) -> None:
        self.config_message.set_kind(kind)
        self.config_message.set_text(text)
        assert self.config_message.button is not None
        self.config_message.button.setVisible(restart)
        self.config_message.setVisible(True)

    def save_config(self) -> None:
        changed, errors = self.config_form.changes()
        if errors:
            self._say("error", "Nothing was saved: " + " ".join(errors.values()))
            return
        if not changed:
            return
        self.save_button.setEnabled(False)

        def saved(config: dict[str, Any]) -> None:
            self.config_form.set_values(config)
            self._config_edited()
            needs_restart = self.config_form.restart_required(changed)
            if needs_restart and self.handle.running:
                names = ", ".join(o.title for o in needs_restart)
                self._say("warning", f"Saved. {names} takes effect after the daemon restarts.",
                          restart=True)
            else:
                self._say("info", f"Saved {humanize.count(len(changed), 'value')}.")

        self.ctx.tasks.spawn(self.manager.set_config(self.name, changed),
                             "Saving the configuration", on_done=saved)

    def _revert(self) -> None:
        self.config_form.set_values(self.handle.config)
        self._config_edited()
        self.config_message.setVisible(False)

    def _confirm_reset(self) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Reset to defaults",
                          f"Put every setting of {self.handle.cls.display_name} back to its "
                          "default value?", QMessageBox.StandardButton.Reset
                          | QMessageBox.StandardButton.Cancel, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(
            lambda result: self.reset_config() if result == QMessageBox.StandardButton.Reset
            else None)
        box.open()  # not exec(): the engine keeps running underneath

    def reset_config(self) -> None:
        def done(config: dict[str, Any]) -> None:
            self.config_form.set_values(config)
            self._config_edited()
            self._say("info", "Every setting is back to its default value.")

        self.ctx.tasks.spawn(self.manager.reset_config(self.name), "Resetting the configuration",
                             on_done=done)

    def _restart_daemon(self) -> None:
        self.config_message.setVisible(False)
        self.ctx.tasks.spawn(self.manager.restart(self.name),
                             f"Restarting {self.handle.cls.display_name}")

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self._refresh_visible)

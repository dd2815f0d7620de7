"""A daemon's details: live log, status history, job actions and configuration.

The window shows one of these per daemon (not modal). The log follows the
daemon live; pausing it buffers new lines (nothing is dropped) until it is
resumed. Everything comes from the engine through ``ctx.client``: the recent log,
the histories (refreshed while their tab is visible) and the configuration form,
built from the options the engine declares for the daemon. When the engine cannot
be reached the dialog says so above what it last showed.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from stashdesk.engine_client.base import DaemonView
from stashdesk.engine_client.errors import ClientError
from stashdesk.events import (
    DaemonConfigChanged,
    DaemonJobActionTracked,
    DaemonLogged,
    DaemonStateChanged,
    DaemonStatusChanged,
)
from stashdesk.options import Option
from stashdesk.timestamps import from_iso
from stashdesk.ui import humanize, theme
from stashdesk.ui.context import UiContext
from stashdesk.ui.log_view import LogView
from stashdesk.ui.option_form import OptionForm
from stashdesk.ui.widgets import (
    Banner,
    badge,
    button,
    flat_scroll,
    muted,
    page_title,
    set_badge,
)

LOG_ROWS_LOADED = 1000
HISTORY_ROWS = 300
JOB_ROLE = Qt.ItemDataRole.UserRole + 1


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
    log_view, status_table, actions_table: the first three tabs' contents.
    config_form: the configuration's OptionForm, once the engine sent its options
        (None before).
    notice: says why what the dialog shows may not be current.
    config_loaded: the configuration arrived (the form is usable).
    """

    TABS = ("log", "status", "actions", "config")

    def __init__(self, ctx: UiContext, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.name = name
        view = self._view()
        title_text = view.display_name if view is not None else name
        self.setWindowTitle(f"{title_text} — StashDesk")
        self.resize(860, 640)
        self._status_dirty = True
        self._actions_dirty = True
        self._config: dict[str, Any] = {}
        self._disconnected: str | None = None
        self._problems: dict[str, str] = {}  # what failed to load, by part

        layout = QVBoxLayout(self)
        head = QHBoxLayout()
        title = page_title(title_text)
        state = view.state if view is not None else "stopped"
        self.badge = badge(state, state)
        head.addWidget(title)
        head.addWidget(self.badge)
        head.addStretch(1)
        head.addWidget(muted(name))
        layout.addLayout(head)
        if view is not None and view.description:
            layout.addWidget(muted(view.description, wrap=True))
        self.status_line = QLabel()
        self.status_line.setWordWrap(True)
        layout.addWidget(self.status_line)
        self.notice = Banner("warning")
        self.notice.setVisible(False)
        layout.addWidget(self.notice)

        self.tabs = QTabWidget()
        self.log_view = LogView()
        self.tabs.addTab(self.log_view, "Live log")

        self.status_table = _table(["Time", "Message", "Job"])
        self.status_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.status_table.setColumnWidth(0, 150)
        self.status_table.setColumnWidth(2, 170)
        self.status_table.itemDoubleClicked.connect(self._open_item_job)
        self.tabs.addTab(
            self._with_hint(
                self.status_table, "Newest first. Double-click a row with a job to open it."
            ),
            "Status history",
        )

        self.actions_table = _table(["Time", "Action", "Job", "Reason"])
        self.actions_table.horizontalHeader().setSectionResizeMode(
            3, QHeaderView.ResizeMode.Stretch
        )
        self.actions_table.setColumnWidth(0, 150)
        self.actions_table.setColumnWidth(1, 100)
        self.actions_table.setColumnWidth(2, 170)
        self.actions_table.itemDoubleClicked.connect(self._open_item_job)
        self.tabs.addTab(
            self._with_hint(
                self.actions_table,
                "Jobs this daemon launched and how they ended. Double-click to open the job.",
            ),
            "Job actions",
        )

        self.config_form: OptionForm | None = None
        self.config_loaded = False
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
        bridge.config_changed.connect(self._on_config_changed)
        bridge.connection_changed.connect(self._on_connection)
        self.refresher = QTimer(self)
        self.refresher.setInterval(2000)
        self.refresher.timeout.connect(self._refresh_visible)
        self.refresher.start()
        self._show_current_status()
        self._load_log()
        self.load_config()
        self._refresh_visible()

    def _view(self) -> DaemonView | None:
        return self.ctx.client.mirror.daemons.get(self.name)

    @property
    def display_name(self) -> str:
        return self.ctx.daemon_display_name(self.name)

    @staticmethod
    def _with_hint(widget: QWidget, hint: str) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.addWidget(muted(hint, wrap=True))
        column.addWidget(widget, 1)
        return box

    def show_tab(self, tab: str) -> None:
        self.tabs.setCurrentIndex(self.TABS.index(tab))

    # --- header and what may be out of date ------------------------------------------------------

    def _show_current_status(self) -> None:
        view = self._view()
        if view is None:
            set_badge(self.badge, "unknown", "stopped")
            self.status_line.setText("The engine does not run this daemon.")
            return
        set_badge(self.badge, view.state, view.state)
        if view.status:
            self.status_line.setText(view.status)
        elif view.state == "error" and view.last_error:
            self.status_line.setText(f"Crashed: {view.last_error}")
        else:
            self.status_line.setText("Not running." if not view.running else "Starting…")

    def _on_status(self, event: DaemonStatusChanged, _last_job: Any) -> None:
        if event.daemon == self.name:
            self._status_dirty = True
            self._show_current_status()

    def _on_state(self, event: DaemonStateChanged) -> None:
        if event.daemon == self.name:
            self._show_current_status()

    def _on_connection(self, event: Any) -> None:
        if not event.connected:
            self._disconnected = event.message or "Not connected to the engine"
        else:
            self._disconnected = None
            # what happened while the link was down (all of it, when events were lost)
            self._status_dirty = self._actions_dirty = True
            self._show_current_status()
            self._load_log()
            if event.resynced:
                self.load_config()
            self._refresh_visible()
        self._show_notice()

    def _problem(self, part: str, text: str | None) -> None:
        if text is None:
            self._problems.pop(part, None)
        else:
            self._problems[part] = text
        self._show_notice()

    def _show_notice(self) -> None:
        if self._disconnected:
            lines = [f"{self._disconnected}. What this window shows is how things stood then."]
        else:
            lines = [f"{text}." for text in self._problems.values()]
        self.notice.set_kind("warning" if self._disconnected else "error")
        self.notice.set_text(" ".join(lines))
        self.notice.setVisible(bool(lines))

    # --- log -------------------------------------------------------------------------------------

    def _load_log(self) -> None:
        async def read() -> list[tuple[float, str, str]] | None:
            try:
                page = await self.ctx.client.ops.logs(daemon=self.name, limit=LOG_ROWS_LOADED)
            except ClientError as exc:
                self._problem("log", f"Could not load the log: {exc}")
                return None
            self._problem("log", None)
            return [
                (from_iso(i["at"]) or 0.0, i["level"], i["message"])
                for i in reversed(page["items"])
            ]

        def loaded(rows: list[tuple[float, str, str]] | None) -> None:
            if rows is None:
                return
            # Lines that arrived live while loading are newer than what was read (times
            # from the engine are whole milliseconds: compare the lines themselves too).
            newest = rows[-1][0] if rows else 0.0
            known = {(round(at, 3), level, message) for at, level, message in rows[-50:]}
            live = [
                e
                for e in self.log_view.entries
                if e[0] > newest and (round(e[0], 3), e[1], e[2]) not in known
            ]
            self.log_view.set_entries(rows + live)

        self.ctx.tasks.spawn(read(), "Loading the log", on_done=loaded)

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

    async def _read(
        self, part: str, what: str, call: Awaitable[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        """The items of one call, or None (the failure said above the tabs)."""
        try:
            page = await call
        except ClientError as exc:
            self._problem(part, f"Could not load {what}: {exc}")
            return None
        self._problem(part, None)
        items: list[dict[str, Any]] = page["items"]
        return items

    def load_status_history(self) -> None:
        self._status_dirty = False
        call = self.ctx.client.ops.daemon_statuses(self.name, limit=HISTORY_ROWS)

        def show(rows: list[dict[str, Any]] | None) -> None:
            if rows is None:
                self._status_dirty = True  # try again on the next refresh
                return
            table = self.status_table
            table.setRowCount(len(rows))
            for r, row in enumerate(rows):
                at, job_id, message = from_iso(row["at"]), row["job_id"], row["message"]
                table.setItem(
                    r, 0, _item(humanize.timestamp(at), job_id, humanize.full_timestamp(at))
                )
                table.setItem(r, 1, _item(message, job_id, message))
                job = f"{row['job_type'] or 'job'} {job_id[:8]}" if job_id else ""
                job_item = _item(job, job_id, job_id)
                table.setItem(r, 2, job_item)
                if job_id:
                    job_item.setForeground(theme.INDIGO)

        self.ctx.tasks.spawn(
            self._read("status", "the status history", call), "Loading status history", on_done=show
        )

    def load_job_actions(self) -> None:
        self._actions_dirty = False
        call = self.ctx.client.ops.daemon_job_actions(self.name, limit=HISTORY_ROWS)

        def show(rows: list[dict[str, Any]] | None) -> None:
            if rows is None:
                self._actions_dirty = True
                return
            table = self.actions_table
            table.setRowCount(len(rows))
            colours = {
                "LAUNCHED": theme.INDIGO,
                "FINISHED": theme.GREEN,
                "FAILED": theme.RED,
                "CANCELLED": theme.MUTED,
            }
            for r, row in enumerate(rows):
                at, action, job_id = from_iso(row["at"]), row["action"], row["job_id"]
                table.setItem(
                    r, 0, _item(humanize.timestamp(at), job_id, humanize.full_timestamp(at))
                )
                action_item = _item(action, job_id)
                action_item.setForeground(colours.get(action, theme.TEXT))
                table.setItem(r, 1, action_item)
                job = _item(f"{row['job_type'] or 'job'} {job_id[:8]}", job_id, job_id)
                job.setForeground(theme.INDIGO)
                table.setItem(r, 2, job)
                table.setItem(r, 3, _item(row["reason"] or "", job_id, row["reason"]))

        self.ctx.tasks.spawn(
            self._read("actions", "the job actions", call), "Loading job actions", on_done=show
        )

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
        column.addWidget(
            muted(
                "A running daemon uses saved values from its next pass. "
                "Settings marked ⟳ take effect after the daemon restarts.",
                wrap=True,
            )
        )
        self.config_scroll = flat_scroll(muted("Loading the configuration…"))
        column.addWidget(self.config_scroll, 1)
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

    def load_config(self) -> None:
        """The options the engine declares for the daemon, and its saved values."""

        async def read() -> dict[str, Any] | None:
            try:
                return await self.ctx.client.ops.daemon_config(self.name)
            except ClientError as exc:
                self._problem("config", f"Could not load the configuration: {exc}")
                return None

        def loaded(answer: dict[str, Any] | None) -> None:
            if answer is None:
                return
            self._problem("config", None)
            options = [Option.from_spec(spec) for spec in answer["options"]]
            form = self.config_form
            if form is None or [o.key for o in form.options] != [o.key for o in options]:
                form = OptionForm(options, answer["config"])
                form.edited.connect(self._config_edited)
                self.config_form = form
                self.config_scroll.setWidget(form)  # (deletes what it showed before)
            else:
                form.set_values(answer["config"])
            self._config = dict(answer["config"])
            self.config_loaded = True
            self._config_edited()

        self.ctx.tasks.spawn(read(), "Loading the configuration", on_done=loaded)

    def _on_config_changed(self, event: DaemonConfigChanged) -> None:
        """Saved elsewhere (another window, the CLI): shown unless being edited here."""
        if event.daemon != self.name or self.config_form is None:
            return
        self._config = dict(event.config)
        changed, errors = self.config_form.changes()
        if not changed and not errors:
            self.config_form.set_values(self._config)
            self._config_edited()

    def _config_edited(self) -> None:
        if self.config_form is None:
            for widget in (self.save_button, self.revert_button, self.reset_button):
                widget.setEnabled(False)
            return
        changed, errors = self.config_form.changes()
        self.save_button.setEnabled(bool(changed) and not errors)
        self.revert_button.setEnabled(bool(changed) or bool(errors))
        self.reset_button.setEnabled(True)

    def _say(self, kind: str, text: str, restart: bool = False) -> None:
        self.config_message.set_kind(kind)
        self.config_message.set_text(text)
        assert self.config_message.button is not None
        self.config_message.button.setVisible(restart)
        self.config_message.setVisible(True)

    def save_config(self) -> None:
        form = self.config_form
        if form is None:
            return
        changed, errors = form.changes()
        if errors:
            self._say("error", "Nothing was saved: " + " ".join(errors.values()))
            return
        if not changed:
            return
        self.save_button.setEnabled(False)

        async def save() -> None:
            try:
                answer = await self.ctx.client.ops.set_daemon_config(self.name, changed)
            except ClientError as exc:  # the engine refused a value, or is out of reach
                self._say("error", f"Nothing was saved: {exc}")
                self._config_edited()
                return
            self._config = dict(answer["config"])
            form.set_values(self._config)
            self._config_edited()
            view = self._view()
            needs_restart = form.restart_required(changed)
            if needs_restart and view is not None and view.running:
                names = ", ".join(o.title for o in needs_restart)
                self._say(
                    "warning",
                    f"Saved. {names} takes effect after the daemon restarts.",
                    restart=True,
                )
            else:
                self._say("info", f"Saved {humanize.count(len(changed), 'value')}.")

        self.ctx.tasks.spawn(save(), "Saving the configuration")

    def _revert(self) -> None:
        if self.config_form is None:
            return
        self.config_form.set_values(self._config)
        self._config_edited()
        self.config_message.setVisible(False)

    def _confirm_reset(self) -> None:
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Reset to defaults",
            f"Put every setting of {self.display_name} back to its default value?",
            QMessageBox.StandardButton.Reset | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(
            lambda result: (
                self.reset_config() if result == QMessageBox.StandardButton.Reset else None
            )
        )
        box.open()  # not exec(): the engine keeps running underneath

    def reset_config(self) -> None:
        async def reset() -> None:
            try:
                answer = await self.ctx.client.ops.reset_daemon_config(self.name)
            except ClientError as exc:
                self._say("error", f"Nothing was reset: {exc}")
                return
            self._config = dict(answer["config"])
            if self.config_form is not None:
                self.config_form.set_values(self._config)
            self._config_edited()
            self._say("info", "Every setting is back to its default value.")

        self.ctx.tasks.spawn(reset(), "Resetting the configuration")

    def _restart_daemon(self) -> None:
        self.config_message.setVisible(False)

        async def restart() -> None:
            try:
                await self.ctx.client.ops.daemon_action(self.name, "restart")
            except ClientError as exc:
                self._say("error", f"Could not restart {self.display_name}: {exc}")

        self.ctx.tasks.spawn(restart(), f"Restarting {self.display_name}")

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        QTimer.singleShot(0, self._refresh_visible)

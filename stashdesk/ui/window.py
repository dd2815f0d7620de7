"""The main window: Daemons, Jobs, Plans, History and Health pages, Settings, the tray."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import QByteArray, Signal
from PySide6.QtGui import QCloseEvent, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from stashdesk.ui import theme
from stashdesk.ui.bridge import EventBridge
from stashdesk.ui.connect_dialog import ConnectDialog
from stashdesk.ui.context import UiContext
from stashdesk.ui.daemon_details import DaemonDetailsDialog
from stashdesk.ui.daemons_page import DaemonsPage
from stashdesk.ui.health_page import HealthPage
from stashdesk.ui.history_page import HistoryPage
from stashdesk.ui.job_details import JobDetailsDialog
from stashdesk.ui.jobs_page import JobsPage
from stashdesk.ui.plans_page import PlansPage
from stashdesk.ui.settings_dialog import SettingsDialog
from stashdesk.ui.tasks import TaskKeeper
from stashdesk.ui.tray import TrayController
from stashdesk.ui.ui_state import UiState
from stashdesk.ui.widgets import ask, button, page_title

if TYPE_CHECKING:
    from stashdesk.engine_client.base import EngineClient

PAGES = ("daemons", "jobs", "plans", "history", "health")
PAGE_TITLES = {
    "daemons": "Daemons",
    "jobs": "Jobs",
    "plans": "Plans",
    "history": "History",
    "health": "Health",
}
FIRST_START_REASON = (
    "StashDesk does not know where your Stash server is yet, so the daemons cannot work. "
    "Enter Stash's address (and its API key if Stash asks for a login), press Test "
    "connection, then Save."
)


class MainWindow(QMainWindow):
    """The window titled "StashDesk".

    It never owns the engine: ``run_gui`` starts the engine (or connects to one on
    another machine), builds the window with its EngineClient, and stops the engine
    when the window asks to quit. The window only talks to the client.

    Self-check API (stable; ``stashdesk.ui.selfcheck_support`` wraps it):
        ``window.card(name)`` returns the DaemonCard of daemon ``name``;
        ``card.status_text()`` is the status message it shows, ``card.applied_at``
        when (``time.time()``) the newest status reached it. Publish a
        ``DaemonStatusChanged`` on ``client.bus`` and wait until
        ``window.card(name).status_text()`` equals its message.

    Signals:
        quit_requested(): the user asked to quit (tray menu, or closing without a
            tray); ``run_gui`` stops the engine and ends the program.
        switch_requested(object, str): "Connect to engine..." chose an engine (its URL,
            None for this computer) and gave a key (maybe empty); ``run_gui`` opens it.

    Attributes:
        client: the EngineClient of the engine shown.
        bridge: the EventBridge feeding every view.
        tasks: the TaskKeeper running the window's coroutines.
        tray: the TrayController.
        pages: page widgets by name (daemons, jobs, plans, history, health).
        daemons_page, jobs_page, plans_page, history_page, health_page: the same, by
            attribute.
        settings_dialog: the Settings dialog once opened (None before).
        job_dialogs: open JobDetailsDialog by job id.
        daemon_dialogs: DaemonDetailsDialog by daemon name.
    """

    quit_requested = Signal()
    switch_requested = Signal(object, str)

    def __init__(
        self,
        client: EngineClient,
        *,
        data_dir: Path | None = None,
        tray_available: bool | None = None,
        tray_factory: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__()
        # The engine runs on the Qt loop: closing a window must never end it.
        # PySide's stubs type instance() as the QCoreApplication base: a window has a QApplication
        app = cast("QApplication | None", QApplication.instance())
        if app is not None:
            app.setQuitOnLastWindowClosed(False)
        self.client = client
        self.data_dir = data_dir
        self.setWindowTitle("StashDesk" if not client.remote else f"StashDesk - {client.label}")
        self.setWindowIcon(theme.icon("app"))
        self.resize(1280, 820)
        self.ui_state = UiState(data_dir)
        self.bridge = EventBridge(client.bus, self)
        self.tasks = TaskKeeper(on_error=lambda text: self.show_message(text, error=True))
        self.ctx = UiContext(client, self.bridge, self.tasks, self)
        self.settings_dialog: SettingsDialog | None = None
        self.job_dialogs: dict[str, JobDetailsDialog] = {}
        self.daemon_dialogs: dict[str, DaemonDetailsDialog] = {}
        self._quitting = False
        self._asking_to_quit: QMessageBox | None = None

        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        side = QWidget()
        side.setObjectName("side")
        side.setFixedWidth(200)
        side_column = QVBoxLayout(side)
        side_column.setContentsMargins(0, 0, 0, 12)
        brand = page_title("  StashDesk")
        brand.setContentsMargins(12, 18, 0, 8)
        side_column.addWidget(brand)
        self.nav = QListWidget()
        self.nav.setObjectName("sidebar")
        for name in PAGES:
            self.nav.addItem(PAGE_TITLES[name])
        side_column.addWidget(self.nav, 1)
        self.settings_button = button("Settings…")
        self.settings_button.clicked.connect(lambda: self.open_settings())
        self.engine_button = button("Connect to engine…")
        self.engine_button.setToolTip(f"Shown now: {client.label}")
        self.engine_button.clicked.connect(lambda: self.open_connect())
        for widget in (self.engine_button, self.settings_button):
            settings_row = QHBoxLayout()
            settings_row.setContentsMargins(12, 4, 12, 0)
            settings_row.addWidget(widget)
            side_column.addLayout(settings_row)
        self.connect_dialog: ConnectDialog | None = None
        side.setStyleSheet("QWidget#side { background: #ffffff; border-right: 1px solid #e4e8ef; }")
        row.addWidget(side)

        self.stack = QStackedWidget()
        self.daemons_page = DaemonsPage(self.ctx)
        self.jobs_page = JobsPage(self.ctx)
        self.plans_page = PlansPage(self.ctx)
        self.history_page = HistoryPage(self.ctx)
        self.health_page = HealthPage(self.ctx)
        self.pages: dict[str, QWidget] = {
            "daemons": self.daemons_page,
            "jobs": self.jobs_page,
            "plans": self.plans_page,
            "history": self.history_page,
            "health": self.health_page,
        }
        for name in PAGES:
            self.stack.addWidget(self.pages[name])
        self.nav.currentRowChanged.connect(self.stack.setCurrentIndex)
        self.nav.setCurrentRow(0)
        main_column = QVBoxLayout()
        main_column.setContentsMargins(0, 0, 0, 0)
        main_column.setSpacing(0)
        # Shown while the link to a remote engine is down: the pages then show what
        # was true when it dropped, and must not look current.
        self.connection_banner = QLabel()
        self.connection_banner.setObjectName("connectionBanner")
        self.connection_banner.setWordWrap(True)
        self.connection_banner.setContentsMargins(16, 8, 16, 8)
        self.connection_banner.setStyleSheet(
            "QLabel#connectionBanner { background: #fef3c7; color: #92400e; "
            "border-bottom: 1px solid #f59e0b; font-weight: 600; }"
        )
        self.connection_banner.hide()
        main_column.addWidget(self.connection_banner)
        main_column.addWidget(self.stack, 1)
        row.addLayout(main_column, 1)
        self.setCentralWidget(central)

        where = (
            f"Engine: {client.label}" if client.remote else f"Data: {data_dir}" if data_dir else ""
        )
        self.location = QLabel(where)
        self.location.setProperty("muted", True)
        self.statusBar().addPermanentWidget(self.location)
        for index, name in enumerate(PAGES, start=1):
            page_shortcut = QShortcut(QKeySequence(f"Ctrl+{index}"), self)
            page_shortcut.activated.connect(lambda n=name: self.show_page(n))
        settings_shortcut = QShortcut(QKeySequence("Ctrl+,"), self)
        settings_shortcut.activated.connect(lambda: self.open_settings())
        quit_shortcut = QShortcut(QKeySequence("Ctrl+Q"), self)
        quit_shortcut.activated.connect(self.request_quit)

        self.bridge.connection_changed.connect(self._on_connection)

        self.tray = TrayController(
            self, self.ctx, available=tray_available, tray_factory=tray_factory
        )
        geometry = self.ui_state.get("geometry")
        if geometry:
            self.restoreGeometry(QByteArray.fromBase64(geometry.encode()))

    # --- self-check API --------------------------------------------------------------------------

    def card(self, name: str) -> Any:
        """The DaemonCard of daemon ``name`` (see the class docstring)."""
        return self.daemons_page.card(name)

    # --- navigation (the Navigator protocol) -----------------------------------------------------

    def show_page(self, name: str) -> None:
        self.nav.setCurrentRow(PAGES.index(name))
        self.bring_to_front()

    def open_job(self, job_id: str) -> JobDetailsDialog:
        dialog = self.job_dialogs.get(job_id)
        if dialog is None:
            dialog = JobDetailsDialog(self.ctx, job_id, self)
            self.job_dialogs[job_id] = dialog
            dialog.destroyed.connect(lambda *_a, j=job_id: self.job_dialogs.pop(j, None))
        self.bring_to_front()
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def open_daemon_details(self, name: str, tab: str | None = None) -> DaemonDetailsDialog:
        dialog = self.daemon_dialogs.get(name)
        if dialog is None:
            dialog = DaemonDetailsDialog(self.ctx, name, self)
            self.daemon_dialogs[name] = dialog
        if tab:
            dialog.show_tab(tab)
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()
        return dialog

    def open_plan(self, plan_id: int) -> None:
        self.show_page("plans")
        self.plans_page.select_plan(plan_id)

    def open_settings(self, group: str | None = None, reason: str | None = None) -> SettingsDialog:
        if self.settings_dialog is None:
            self.settings_dialog = SettingsDialog(self.ctx, self)
            self.settings_dialog.saved.connect(self._settings_saved)
        if group:
            self.settings_dialog.show_group(group, reason)
        self.settings_dialog.show()
        self.settings_dialog.raise_()
        self.settings_dialog.activateWindow()
        return self.settings_dialog

    def open_connect(self) -> ConnectDialog:
        from stashdesk.engine_client.connections import SavedConnections

        saved = SavedConnections(self.data_dir).urls() if self.data_dir else []
        current = getattr(self.client, "url", None) if self.client.remote else None
        dialog = ConnectDialog(saved, current, self)
        dialog.chosen.connect(self.switch_requested)
        self.connect_dialog = dialog
        dialog.open()
        return dialog

    def _settings_saved(self, values: dict[str, Any]) -> None:
        if "stash.url" in values:
            self.client.info["stash_configured"] = True

    def check_first_start(self) -> bool:
        """Open the settings on Stash, saying why, when no Stash is configured."""
        if self.client.info.get("stash_configured", True):
            return False
        self.open_settings("Stash", FIRST_START_REASON)
        return True

    def _on_connection(self, event: Any) -> None:
        """The link to the engine dropped or came back (remote engines only)."""
        # Controls wait while the engine is out of reach: a click could not be carried out.
        self.stack.setEnabled(event.connected)
        self.settings_button.setEnabled(event.connected)
        if event.connected:
            self.connection_banner.hide()
            self.show_message(f"Connected to the engine at {self.client.label} again")
            return
        self.connection_banner.setText(
            f"{event.message}. What you see here is how things stood when the link "
            "dropped; the controls wait until it is back."
        )
        self.connection_banner.show()

    def show_message(self, text: str, *, error: bool = False) -> None:
        bar = self.statusBar()
        bar.setStyleSheet("QStatusBar { color: #b91c1c; }" if error else "")
        bar.showMessage(text, 15000 if error else 8000)

    # --- showing, hiding, quitting ---------------------------------------------------------------

    def bring_to_front(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()

    def toggle_visible(self) -> None:
        if self.isVisible() and not self.isMinimized():
            self.hide()
        else:
            self.bring_to_front()

    def request_quit(self) -> None:
        """Ask ``run_gui`` to stop the engine and quit (staged, see ui.main)."""
        self._quitting = True
        self.quit_requested.emit()

    def closeEvent(self, event: QCloseEvent) -> None:
        # bytes() takes a QByteArray (a buffer): PySide's stubs do not say so
        geometry = bytes(self.saveGeometry().toBase64())  # type: ignore[call-overload]
        self.ui_state.set("geometry", geometry.decode())
        if self._quitting:
            event.accept()
            return
        event.ignore()
        if self.tray.available:
            self.hide()
            if not self.ui_state.get("tray_hint_shown"):
                self.ui_state.set("tray_hint_shown", True)
                self.tray.tray.showMessage(
                    "StashDesk is still running",
                    "The daemons keep working in the background. Open the window or quit "
                    "from this icon.",
                    self.tray._icons["idle"],
                    8000,
                )
            return
        self.ask_to_quit()

    def ask_to_quit(self) -> QMessageBox:
        """Without a tray, closing asks whether to stop the daemons and quit."""
        if self._asking_to_quit is not None:
            self._asking_to_quit.raise_()
            return self._asking_to_quit

        def answered(answer: int | None) -> None:
            self._asking_to_quit = None
            if answer == 0:
                self.request_quit()

        self._asking_to_quit = ask(
            self,
            "Quit StashDesk?",
            "There is no system tray to keep StashDesk in. Stop the daemons and quit?",
            [
                ("Stop daemons and quit", QMessageBox.ButtonRole.AcceptRole),
                ("Keep running", QMessageBox.ButtonRole.RejectRole),
            ],
            answered,
        )
        return self._asking_to_quit

    def shutdown(self) -> None:
        """Detach from the engine before it stops (no more events reach the views)."""
        self._quitting = True
        self.bridge.close()
        self.tray.hide()
        for dialog in list(self.job_dialogs.values()) + list(self.daemon_dialogs.values()):
            dialog.close()
        if self.settings_dialog is not None:
            self.settings_dialog.close()
        self.tasks.cancel_all()
        self.daemons_page.ticker.stop()
        self.close()

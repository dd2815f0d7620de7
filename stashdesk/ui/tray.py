"""The tray icon: how StashDesk looks when the window is hidden, and its notifications.

Its icon tells idle, working and trouble apart (the worst daemon's health: a
retrying or stalled daemon is trouble too); its tooltip lists what each
running daemon is doing, and why one needs attention; its menu (rebuilt each
time it opens) shows or hides the window, starts or stops every daemon, and
quits. Notifications the engine publishes (already filtered by the
notifications.* settings) pop up from it; clicking one opens its job.

Whether a tray exists is injectable (``available``, ``tray_factory``) so tests
run with a recording stand-in; without a tray, notifications go to the window's
status bar.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from stashdesk.events import Notification
from stashdesk.ui import theme
from stashdesk.ui.context import UiContext
from stashdesk.ui.daemon_health import ATTENTION, attention_summary, health_of, worst

if TYPE_CHECKING:
    from stashdesk.ui.window import MainWindow

TOOLTIP_LINE = 60
NOTIFICATION_MS = 10000


def _short(text: str, limit: int = TOOLTIP_LINE) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class TrayController(QObject):
    """Attributes:
    available: whether there is a tray at all.
    tray: the QSystemTrayIcon (or the injected stand-in); None without a tray.
    menu: the context menu (rebuilt on aboutToShow).
    mode: idle, working or error (the icon shown).
    last_notification: the Notification shown last.
    """

    def __init__(
        self,
        window: MainWindow,
        ctx: UiContext,
        *,
        available: bool | None = None,
        tray_factory: Callable[[QObject], Any] | None = None,
    ) -> None:
        super().__init__(window)
        self.window = window
        self.ctx = ctx
        self.mirror = ctx.client.mirror
        if available is None:
            available = QSystemTrayIcon.isSystemTrayAvailable()
        self.available = available
        self.mode = ""
        self.last_notification: Notification | None = None
        self.tray: Any = None
        self.menu = QMenu(window)
        self.menu.aboutToShow.connect(self.rebuild_menu)
        self._icons = {m: theme.icon(f"tray-{m}") for m in ("idle", "working", "error")}
        if available:
            self.tray = (tray_factory or QSystemTrayIcon)(self)
            self.tray.setContextMenu(self.menu)
            self.tray.activated.connect(self._activated)
            self.tray.messageClicked.connect(self.message_clicked)
        self.rebuild_menu()
        self.refresh()
        if self.tray is not None:
            self.tray.show()
        bridge = ctx.bridge
        bridge.notification.connect(self.notify)
        bridge.state_changed.connect(lambda _e: self.refresh())
        bridge.health_changed.connect(lambda _e: self.refresh())
        bridge.flushed.connect(self._mark_dirty)
        bridge.job_finished.connect(lambda _e: self._mark_dirty())
        self._dirty = False
        # The tooltip and icon follow statuses at most once a second: a flood of
        # statuses must not become a flood of tray updates. The timer runs only while
        # something changed, so an idle StashDesk wakes nothing.
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(1000)
        self._timer.timeout.connect(self._refresh_if_dirty)

    # --- look ------------------------------------------------------------------------------------

    def current_mode(self) -> str:
        daemons = self.mirror.daemons.values()
        if worst(daemons) in ATTENTION:
            return "error"
        if any(d.state == "running" and d.phase in ("working", "waiting") for d in daemons):
            return "working"
        if any(job.status == "running" for job in self.mirror.jobs.values()):
            return "working"
        return "idle"

    def tooltip_text(self) -> str:
        daemons = list(self.mirror.daemons.values())
        engine = f" on {self.ctx.client.label}" if self.ctx.client.remote else ""
        lines = [f"StashDesk{engine} — {attention_summary(daemons, 'daemons running')}"]
        for d in daemons:
            if d.state == "stopped":
                continue
            if d.state == "error":
                status = f"crashed: {d.last_error or 'error'}"
            elif health_of(d) in ATTENTION and d.health_reason:
                status = f"{d.health}: {d.health_reason}"
            else:
                status = d.status or "starting…"
            lines.append(f"{d.display_name}: {_short(status)}")
        return "\n".join(lines)

    def refresh(self) -> None:
        self._dirty = False
        mode = self.current_mode()
        if mode != self.mode:
            self.mode = mode
            if self.tray is not None:
                self.tray.setIcon(self._icons[mode])
        if self.tray is not None:
            tip = self.tooltip_text()
            if self.tray.toolTip() != tip:
                self.tray.setToolTip(tip)

    def _mark_dirty(self) -> None:
        self._dirty = True
        if not self._timer.isActive():
            self._timer.start()

    def _refresh_if_dirty(self) -> None:
        if self._dirty:
            self.refresh()

    # --- menu ------------------------------------------------------------------------------------

    def rebuild_menu(self) -> None:
        menu = self.menu
        menu.clear()
        shown = self.window.isVisible() and not self.window.isMinimized()
        toggle = QAction("Hide window" if shown else "Show window", menu)
        toggle.triggered.connect(self.window.toggle_visible)
        menu.addAction(toggle)
        menu.addSeparator()
        daemons = self.mirror.daemons.values()
        running = sum(d.running for d in daemons)
        ops = self.ctx.client.ops
        start = QAction("Start all daemons", menu)
        start.setEnabled(running < len(self.mirror.daemons))
        start.triggered.connect(
            lambda: self.ctx.tasks.spawn(ops.daemon_action(None, "start"), "Starting every daemon")
        )
        stop = QAction("Stop all daemons", menu)
        stop.setEnabled(running > 0)
        stop.triggered.connect(
            lambda: self.ctx.tasks.spawn(ops.daemon_action(None, "stop"), "Stopping every daemon")
        )
        menu.addAction(start)
        menu.addAction(stop)
        menu.addSeparator()
        quit_action = QAction("Quit StashDesk", menu)
        quit_action.triggered.connect(self.window.request_quit)
        menu.addAction(quit_action)

    def action(self, text: str) -> QAction:
        """The menu action whose text is ``text`` (tests)."""
        for action in self.menu.actions():
            if action.text() == text:
                return action
        raise LookupError(
            f"no tray menu action {text!r}: {[a.text() for a in self.menu.actions()]}"
        )

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        if reason in (
            QSystemTrayIcon.ActivationReason.Trigger,
            QSystemTrayIcon.ActivationReason.DoubleClick,
        ):
            self.window.toggle_visible()

    # --- notifications ---------------------------------------------------------------------------

    def notify(self, event: Notification) -> None:
        self.last_notification = event
        if self.tray is not None:
            icon = (
                QSystemTrayIcon.MessageIcon.Warning
                if event.failure
                else QSystemTrayIcon.MessageIcon.Information
            )
            self.tray.showMessage(event.title, event.message, icon, NOTIFICATION_MS)
        else:
            self.window.show_message(f"{event.title}: {event.message}", error=event.failure)

    def message_clicked(self) -> None:
        """A notification was clicked: open its job, or at least the window."""
        event = self.last_notification
        if event is not None and event.job_id:
            self.window.open_job(event.job_id)
        else:
            self.window.bring_to_front()

    def hide(self) -> None:
        self._timer.stop()
        if self.tray is not None:
            self.tray.hide()

"""The Daemons page: one live card per registered daemon, and page-wide actions."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QResizeEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from stashdesk.events import (
    DaemonStateChanged,
    DaemonStatusChanged,
    JobFinished,
    JobProgressed,
)
from stashdesk.ui.context import UiContext
from stashdesk.ui.daemon_card import DaemonCard
from stashdesk.ui.widgets import button, muted, page_title

CARD_MIN_WIDTH = 420


class DaemonsPage(QWidget):
    """Cards for every daemon in ``DaemonManager.handles`` (whatever is registered).

    Attributes:
        cards: DaemonCard by daemon name.
    """

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.manager = ctx.services.manager
        self.cards: dict[str, DaemonCard] = {}
        self._columns = 0
        self._page_busy = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 12)
        layout.setSpacing(12)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.addWidget(page_title("Daemons"))
        self.summary = muted()
        titles.addWidget(self.summary)
        head.addLayout(titles, 1)
        self.start_all = button("Start all", primary=True)
        self.stop_all = button("Stop all", danger=True)
        self.restart_all = button("Restart all")
        self.start_all.clicked.connect(
            lambda: self._page_action(self.manager.start_all, "Starting every daemon"))
        self.stop_all.clicked.connect(
            lambda: self._page_action(self.manager.stop_all, "Stopping every daemon"))
        self.restart_all.clicked.connect(
            lambda: self._page_action(self.manager.restart_all, "Restarting every daemon"))
        for widget in (self.start_all, self.stop_all, self.restart_all):
            head.addWidget(widget, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(head)

        self.scroll = QScrollArea()
        self.scroll.setObjectName("cards")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.host = QWidget()
        self.host.setObjectName("cardsHost")
        self.grid = QGridLayout(self.host)
        self.grid.setContentsMargins(0, 0, 4, 0)
        self.grid.setSpacing(14)
        self.scroll.setWidget(self.host)
        layout.addWidget(self.scroll, 1)

        for name, handle in self.manager.handles.items():
            card = DaemonCard(name, handle.cls.display_name or name, handle.cls.description)
            card.start_requested.connect(self._start)
            card.stop_requested.connect(self._stop)
            card.restart_requested.connect(self._restart)
            card.details_requested.connect(lambda n: self.ctx.nav.open_daemon_details(n))
            card.job_requested.connect(lambda job_id: self.ctx.nav.open_job(job_id))
            card.auto_start_toggled.connect(self._auto_start_toggled)
            self.cards[name] = card
            self._load_card(card)
        if not self.cards:
            empty = QLabel("No daemons are installed in this build of StashDesk.")
            empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
            self.grid.addWidget(empty, 0, 0)
        self._relayout(1)

        bridge = ctx.bridge
        bridge.status_changed.connect(self._on_status)
        bridge.state_changed.connect(self._on_state)
        bridge.job_progressed.connect(self._on_job_progress)
        bridge.job_finished.connect(self._on_job_finished)

        self.ticker = QTimer(self)
        self.ticker.setInterval(1000)
        self.ticker.timeout.connect(self.tick)
        self.ticker.start()
        self._update_summary()

    # --- cards -----------------------------------------------------------------------------------

    def card(self, name: str) -> DaemonCard:
        return self.cards[name]

    def _load_card(self, card: DaemonCard) -> None:
        """Fill a card from what the manager knows now (the bridge does the rest)."""
        h = self.manager.handle(card.name)
        card.set_auto_start(h.enabled and h.auto_start)
        card.set_state(h.state, running=h.running, error=h.last_error)
        daemon = h.instance
        if daemon is not None and daemon.status is not None:
            card.apply_status(DaemonStatusChanged(
                daemon=card.name, message=daemon.status, job_id=daemon.job_id,
                job_type=daemon.job_type, phase=daemon.phase, wake_at=daemon.wake_at,
                at=daemon.status_at or time.time()))
            self._fetch_progress(card)

    def _fetch_progress(self, card: DaemonCard) -> None:
        if card.job_id is None:
            return
        info = self.ctx.services.runner.snapshot(card.job_id)
        if info is not None:
            card.set_job_progress(info.progress, info.message)

    def _relayout(self, columns: int) -> None:
        if columns == self._columns or not self.cards:
            return
        self._columns = columns
        for card in self.cards.values():
            self.grid.removeWidget(card)
        for index, card in enumerate(self.cards.values()):
            self.grid.addWidget(card, index // columns, index % columns, Qt.AlignmentFlag.AlignTop)
        for column in range(4):
            self.grid.setColumnStretch(column, 1 if column < columns else 0)
        self.grid.setRowStretch(self.grid.rowCount(), 1)

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        margins = self.layout().contentsMargins()
        width = max(1, event.size().width() - margins.left() - margins.right() - 12)
        self._relayout(max(1, min(3, width // CARD_MIN_WIDTH)))

    def tick(self) -> None:
        now = time.time()
        for card in self.cards.values():
            card.tick(now)

    # --- live updates ----------------------------------------------------------------------------

    def _on_status(self, event: DaemonStatusChanged, last_job: DaemonStatusChanged | None) -> None:
        card = self.cards.get(event.daemon)
        if card is None:
            return
        previous_job = card.job_id
        card.apply_status(event, last_job)
        if card.job_id is not None and card.job_id != previous_job:
            self._fetch_progress(card)

    def _on_state(self, event: DaemonStateChanged) -> None:
        card = self.cards.get(event.daemon)
        if card is None:
            return
        h = self.manager.handle(event.daemon)
        card.set_state(event.state, running=h.running or event.state == "running",
                       error=event.error or h.last_error, at=event.at)
        self._update_summary()

    def _on_job_progress(self, event: JobProgressed) -> None:
        for card in self.cards.values():
            if card.job_id == event.job_id:
                card.apply_progress(event)

    def _on_job_finished(self, event: JobFinished) -> None:
        for card in self.cards.values():
            if card.job_id == event.job_id:
                card.set_job_progress(
                    100.0 if event.status == "completed" else card.job_progress,
                    f"job {event.status}")

    def _update_summary(self) -> None:
        handles = self.manager.handles.values()
        running = sum(1 for h in handles if h.state == "running")
        failed = sum(1 for h in handles if h.state == "error")
        text = f"{running} of {len(self.manager.handles)} running"
        if failed:
            text += f" · {failed} in error"
        self.summary.setText(text)

    # --- actions ---------------------------------------------------------------------------------

    def _card_action(self, name: str, action: Callable[[str], Awaitable[None]], what: str) -> None:
        card = self.cards[name]

        async def run() -> None:
            card.set_busy(True)
            try:
                await action(name)
            finally:
                card.set_busy(False)
                h = self.manager.handle(name)
                card.set_state(h.state, running=h.running, error=h.last_error,
                               at=card.state_at)
                self._update_summary()

        self.ctx.tasks.spawn(run(), f"{what} {card.display_name}")

    def _start(self, name: str) -> None:
        self._card_action(name, self.manager.start, "Starting")

    def _stop(self, name: str) -> None:
        self._card_action(name, self.manager.stop, "Stopping")

    def _restart(self, name: str) -> None:
        self._card_action(name, self.manager.restart, "Restarting")

    def _page_action(self, action: Callable[[], Awaitable[None]], what: str) -> None:
        if self._page_busy:
            return

        async def run() -> None:
            self._set_page_busy(True)
            try:
                await action()
            finally:
                self._set_page_busy(False)
                for name, card in self.cards.items():
                    h = self.manager.handle(name)
                    card.set_state(h.state, running=h.running, error=h.last_error,
                                   at=card.state_at)
                self._update_summary()

        self.ctx.tasks.spawn(run(), what)

    def _set_page_busy(self, busy: bool) -> None:
        self._page_busy = busy
        for widget in (self.start_all, self.stop_all, self.restart_all):
            widget.setEnabled(not busy)
        for card in self.cards.values():
            card.set_busy(busy)

    def _auto_start_toggled(self, name: str, on: bool) -> None:
        """Auto-start is the daemon's ``enabled`` flag; its configuration is not touched."""
        what = "Switching on auto-start for" if on else "Switching off auto-start for"
        coro = (self.manager.set_enabled(name, True, auto_start=True) if on
                else self.manager.set_enabled(name, False))
        self.ctx.tasks.spawn(coro, f"{what} {self.cards[name].display_name}")

"""The Daemons page: one live card per daemon of the engine, and page-wide actions."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QHideEvent, QResizeEvent, QShowEvent
from PySide6.QtWidgets import (
    QGridLayout,
    QLabel,
    QScrollArea,
    QWidget,
)

from stashdesk.engine_client.base import DaemonView
from stashdesk.events import (
    DaemonConfigChanged,
    DaemonHealthChanged,
    DaemonStateChanged,
    DaemonStatusChanged,
    JobFinished,
    JobProgressed,
)
from stashdesk.ui.context import UiContext
from stashdesk.ui.daemon_card import DaemonCard
from stashdesk.ui.daemon_health import attention_summary, settings_group
from stashdesk.ui.widgets import PageHeader, button, page_layout

CARD_MIN_WIDTH = 420


class DaemonsPage(QWidget):
    """Cards for every daemon the engine has (``client.mirror.daemons``).

    Attributes:
        cards: DaemonCard by daemon name.
    """

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.mirror = ctx.client.mirror
        self.cards: dict[str, DaemonCard] = {}
        self._columns = 0
        self._page_busy = False

        self.start_all = button("Start all", primary=True)
        self.stop_all = button("Stop all", danger=True)
        self.restart_all = button("Restart all")
        self.start_all.clicked.connect(lambda: self._page_action("start", "Starting every daemon"))
        self.stop_all.clicked.connect(lambda: self._page_action("stop", "Stopping every daemon"))
        self.restart_all.clicked.connect(
            lambda: self._page_action("restart", "Restarting every daemon")
        )
        self.header = PageHeader(
            "Daemons", actions=(self.start_all, self.stop_all, self.restart_all)
        )
        self.summary = self.header.subtitle
        layout = page_layout(self, self.header)

        self.card_scroll = QScrollArea()
        self.card_scroll.setObjectName("cards")
        self.card_scroll.setWidgetResizable(True)
        self.card_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.host = QWidget()
        self.host.setObjectName("cardsHost")
        self.grid = QGridLayout(self.host)
        self.grid.setContentsMargins(0, 0, 4, 0)
        self.grid.setSpacing(14)
        self.card_scroll.setWidget(self.host)
        layout.addWidget(self.card_scroll, 1)

        for name, view in self.mirror.daemons.items():
            card = DaemonCard(name, view.display_name, view.description)
            card.start_requested.connect(lambda n: self._card_action(n, "start", "Starting"))
            card.stop_requested.connect(lambda n: self._card_action(n, "stop", "Stopping"))
            card.restart_requested.connect(lambda n: self._card_action(n, "restart", "Restarting"))
            card.run_now_requested.connect(self._run_now)
            card.fix_requested.connect(self._fix)
            card.details_requested.connect(lambda n: self.ctx.nav.open_daemon_details(n))
            card.job_requested.connect(lambda job_id: self.ctx.nav.open_job(job_id))
            card.auto_start_toggled.connect(self._auto_start_toggled)
            self.cards[name] = card
            self._load_card(card, view)
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
        bridge.health_changed.connect(self._on_health)
        bridge.config_changed.connect(self._on_config)
        bridge.connection_changed.connect(self._on_connection)

        # Ages and countdowns tick once a second while the page is visible; hidden (another
        # page, the window in the tray or minimised) nothing ticks at all.
        self.ticker = QTimer(self)
        self.ticker.setInterval(1000)
        self.ticker.timeout.connect(self.tick)
        self._update_summary()

    # --- cards -----------------------------------------------------------------------------------

    def card(self, name: str) -> DaemonCard:
        return self.cards[name]

    def _load_card(self, card: DaemonCard, view: DaemonView) -> None:
        """Fill a card from what the client knows now (the bridge does the rest)."""
        card.set_auto_start(view.enabled and view.auto_start)
        card.set_state(view.state, running=view.running, error=view.last_error)
        card.set_health(view.health, view.health_reason, view.health_setting)
        status = view.status_event()
        if status is not None:
            card.apply_status(status)
            self._fetch_progress(card)

    def reload(self) -> None:
        """Every card afresh from the client's picture (after the link came back)."""
        for name, card in self.cards.items():
            view = self.mirror.daemons.get(name)
            if view is not None:
                self._load_card(card, view)
        self._update_summary()

    def _fetch_progress(self, card: DaemonCard) -> None:
        job = self.mirror.jobs.get(card.job_id) if card.job_id is not None else None
        if job is not None:
            card.set_job_progress(job.progress, job.message)

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
        layout = self.layout()
        assert layout is not None  # set up in __init__
        margins = layout.contentsMargins()
        width = max(1, event.size().width() - margins.left() - margins.right() - 12)
        self._relayout(max(1, min(3, width // CARD_MIN_WIDTH)))

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.tick()
        self.ticker.start()

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.ticker.stop()

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
        view = self.mirror.daemons.get(event.daemon)
        running = event.state != "stopped" if view is None else view.running
        card.set_state(
            event.state,
            running=running or event.state == "running",
            error=event.error or (view.last_error if view else None),
            at=event.at,
        )
        self._update_summary()

    def _on_health(self, event: DaemonHealthChanged) -> None:
        card = self.cards.get(event.daemon)
        if card is not None:
            card.set_health(event.health, event.reason, event.setting)
            self._update_summary()

    def _on_config(self, event: DaemonConfigChanged) -> None:
        card = self.cards.get(event.daemon)
        if card is not None:
            card.set_auto_start(event.enabled and event.auto_start)

    def _on_connection(self, event: Any) -> None:
        if event.connected and event.resynced:
            self.reload()

    def _on_job_progress(self, event: JobProgressed) -> None:
        for card in self.cards.values():
            if card.job_id == event.job_id:
                card.apply_progress(event)

    def _on_job_finished(self, event: JobFinished) -> None:
        cards = [card for card in self.cards.values() if card.job_id == event.job_id]
        for card in cards:
            card.set_job_progress(
                100.0 if event.status == "completed" else card.job_progress, f"job {event.status}"
            )
        if cards and event.status == "completed":
            # Completed is not always clean: the engine's row says what failed.
            def show(job: dict[str, Any]) -> None:
                if job.get("failure_summary"):
                    for card in cards:
                        if card.job_id == event.job_id:
                            card.set_job_progress(
                                100.0, f"job completed - {job['failure_summary']}"
                            )

            self.ctx.tasks.spawn(
                self.ctx.client.ops.get_job(event.job_id), "Reading how the job ended", show
            )

    def _update_summary(self) -> None:
        self.summary.setText(attention_summary(self.mirror.daemons.values()))

    # --- actions ---------------------------------------------------------------------------------

    async def _refresh_cards(self, names: list[str]) -> None:
        """Show what the engine says now: a remote engine's events may trail its answer."""
        for row in await self.ctx.client.ops.list_daemons():
            card = self.cards.get(row["name"])
            if card is not None and row["name"] in names:
                view = DaemonView.from_json(row)
                card.set_state(
                    view.state, running=view.running, error=view.last_error, at=card.state_at
                )
                card.set_health(view.health, view.health_reason, view.health_setting)
        self._update_summary()

    def _card_action(self, name: str, action: str, what: str) -> None:
        card = self.cards[name]
        self._daemon_action(name, action, f"{what} {card.display_name}", card.set_busy)

    def _run_now(self, name: str) -> None:
        card = self.cards[name]

        def done(_result: Any) -> None:
            self.ctx.nav.show_message(f"{card.display_name} is checking now")

        self.ctx.tasks.spawn(
            self.ctx.client.ops.run_daemon_now(name), f"Running {card.display_name} now", done
        )

    def _fix(self, name: str, setting: str) -> None:
        """A card's fix button: the setting's Settings page, or the daemon's own options."""
        card = self.cards[name]
        group = settings_group(setting)
        if group is None:
            self.ctx.nav.open_daemon_details(name, "config")
        else:
            self.ctx.nav.open_settings(group, card.health_reason)

    def _page_action(self, action: str, what: str) -> None:
        if not self._page_busy:
            self._daemon_action(None, action, what, self._set_page_busy)

    def _daemon_action(
        self, name: str | None, action: str, what: str, busy: Callable[[bool], None]
    ) -> None:
        """Start, stop or restart one daemon (``name``) or all (None), ``busy`` meanwhile;
        then read the cards concerned afresh."""

        async def run() -> None:
            busy(True)
            try:
                await self.ctx.client.ops.daemon_action(name, action)
            finally:
                busy(False)
            await self._refresh_cards([name] if name is not None else list(self.cards))

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
        ops = self.ctx.client.ops
        coro = (
            ops.set_daemon_enabled(name, True, auto_start=True)
            if on
            else ops.set_daemon_enabled(name, False)
        )
        self.ctx.tasks.spawn(coro, f"{what} {self.cards[name].display_name}")

"""The History page: one timeline across daemons, read from the engine.

The engine's ``history`` operation merges three tables: status changes, job
actions and errors (log lines at WARNING or ERROR). Each page of the timeline is
one call, continued with the ``next`` cursor of the previous page, so scrolling
back costs the same on day one and after a month of floods. Runs of one daemon's
idle ("sleeping") statuses arrive folded into one row unless "Show idle rows" is
ticked. While the page is visible and scrolled to the top, new events appear by
themselves; when the engine cannot be reached the page says its rows may be old.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHeaderView,
    QWidget,
)

from stashdesk.timeline import KINDS, TimelineEvent
from stashdesk.ui import humanize, theme
from stashdesk.ui.context import UiContext
from stashdesk.ui.paged_model import PAGE_SIZE, PagedModel
from stashdesk.ui.widgets import Banner, PageHeader, button, data_table, muted, page_layout

KIND_LABELS = {"status": "Status", "job": "Job action", "error": "Error"}
KIND_FILTER_LABELS = {
    "status": "Status changes",
    "job": "Job actions",
    "error": "Errors and warnings",
}
# how far back the timeline goes (seconds; None: all of it)
SPANS = (
    ("Any time", None),
    ("Last hour", 3600),
    ("Last 24 hours", 86400),
    ("Last 7 days", 7 * 86400),
)


def _clock(ts: float | None) -> str:
    """14:05 today, 05-01 14:05 on another day."""
    if ts is None:
        return ""
    when = datetime.fromtimestamp(ts)
    return when.strftime("%H:%M" if when.date() == datetime.now().date() else "%m-%d %H:%M")


def shown_text(event: TimelineEvent) -> str:
    """What the row says: a folded run as "Sleeping until 14:05 (x12, 13:05-14:05)"."""
    if event.repeated <= 1:
        return event.text
    first = event.first_at if event.first_at is not None else event.at
    what = f"Sleeping until {_clock(event.wake_at)}" if event.wake_at else event.text
    return f"{what} (x{event.repeated:,}, {_clock(first)}-{_clock(event.at)})"


class TimelineModel(PagedModel):
    """The timeline's rows, a page at a time (Qt asks for more as the table scrolls).

    Attributes:
        daemon, kinds, idle: the filter of the rows loaded (idle: fold or show).
        span_seconds: only events of the last ``span_seconds`` (None: all).
        events: the rows, newest first.
        error: why the last load failed (None: it worked).
        loaded_once: a first page arrived.

    Signals (PagedModel's):
        loaded(): a reload finished.
        failed(str): a load failed (see ``error``).
    """

    COLUMNS = ("Time", "Daemon", "Kind", "What happened", "Job")
    RELOAD_FAILED = "Could not load the history"
    MORE_FAILED = "Could not load older history"
    RELOAD_TASK = "Loading history"
    MORE_TASK = "Loading older history"

    def __init__(self, ctx: UiContext, parent: Any = None, page_size: int = PAGE_SIZE) -> None:
        super().__init__(ctx, parent, page_size)
        self.daemon: str | None = None
        self.kinds: tuple[str, ...] = KINDS
        self.idle = "fold"
        self.span_seconds: float | None = None  # not ``span``: a QAbstractItemModel method
        self._since: float | None = None  # the start of the span when the reload began
        self.events: list[TimelineEvent] = []
        self._keys: set[tuple[str, int]] = set()

    def row_count(self) -> int:
        return len(self.events)

    def row_at(self, row: int) -> TimelineEvent:
        return self.events[row]

    def cell(self, event: TimelineEvent, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            if column == 0:
                return humanize.timestamp(event.at)
            if column == 1:
                return self.ctx.daemon_display_name(event.daemon)
            if column == 2:
                if event.kind == "error" and event.detail == "WARNING":
                    return "Warning"
                return KIND_LABELS[event.kind]
            if column == 3:
                return shown_text(event)
            if column == 4:
                if not event.job_id:
                    return ""
                return f"{event.job_type or 'job'} {event.job_id[:8]}"
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 0:
                if event.repeated > 1:
                    return (
                        f"{humanize.full_timestamp(event.first_at)} to "
                        f"{humanize.full_timestamp(event.at)}"
                    )
                return humanize.full_timestamp(event.at)
            if column == 3:
                return event.text
            if column == 4:
                return event.job_id
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == 3 and event.repeated > 1:
                return theme.MUTED
            if column == 2 or (column == 3 and event.kind == "error"):
                if event.kind == "error":
                    return theme.RED if event.detail == "ERROR" else theme.AMBER
                if event.kind == "job":
                    return {
                        "FAILED": theme.RED,
                        "FINISHED": theme.GREEN,
                        "CANCELLED": theme.MUTED,
                    }.get(event.detail or "", theme.INDIGO)
            if column == 4:
                return theme.INDIGO
        return None

    def set_filter(
        self,
        daemon: str | None,
        kinds: tuple[str, ...],
        idle: str | None = None,
        span: float | None = None,
    ) -> None:
        self.daemon, self.kinds, self.span_seconds = daemon, kinds, span
        if idle is not None:
            self.idle = idle
        self.reload()

    def _request(self, cursor: str | None) -> Awaitable[dict[str, Any]]:
        return self.ctx.client.ops.history(
            daemon=self.daemon,
            kinds=list(self.kinds),
            idle=self.idle,
            before=cursor,
            after=self._since,
            limit=self.page_size,
        )

    def _reload_started(self) -> None:
        # older pages keep the same start, or scrolling would drop rows as time passes
        self._since = time.time() - self.span_seconds if self.span_seconds else None

    def _clear(self, page: dict[str, Any]) -> None:
        self.events = []
        self._keys = set()

    def _add_page(self, page: dict[str, Any]) -> None:
        events = [TimelineEvent.from_json(item) for item in page["items"]]
        # the cursor never repeats a row; the keys only guard against a reload's overlap
        fresh = [e for e in events if e.key not in self._keys]
        if not fresh:
            return
        first = len(self.events)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        self.events.extend(fresh)
        self._keys.update(e.key for e in fresh)
        self.endInsertRows()


class HistoryPage(QWidget):
    """The timeline with its daemon, kind and idle-row filters.

    Attributes:
        model: the TimelineModel.
        daemon_filter, kind_filter, span_filter: the filter combo boxes.
        show_idle: "Show idle rows" (unticked: runs of sleeping rows are folded).
        notice: says why the rows shown may not be current (failed load, no link).
    """

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = TimelineModel(ctx, self)
        self._dirty = False
        self._disconnected: str | None = None

        self.daemon_filter = QComboBox()
        self._fill_daemons()
        self.kind_filter = QComboBox()
        self.kind_filter.addItem("All kinds", KINDS)
        for kind in KINDS:
            self.kind_filter.addItem(KIND_FILTER_LABELS[kind], (kind,))
        self.span_filter = QComboBox()
        for label, seconds in SPANS:
            self.span_filter.addItem(label, seconds)
        self.show_idle = QCheckBox("Show idle rows")
        self.show_idle.setToolTip(
            "Show every status of a daemon sleeping between passes, "
            "instead of one row per quiet spell"
        )
        self.daemon_filter.currentIndexChanged.connect(self._filters_changed)
        self.kind_filter.currentIndexChanged.connect(self._filters_changed)
        self.span_filter.currentIndexChanged.connect(self._filters_changed)
        self.show_idle.toggled.connect(self._filters_changed)
        self.refresh = button("Refresh")
        self.refresh.clicked.connect(self.model.reload)
        self.header = PageHeader(
            "History",
            "What every daemon did: status changes, the jobs it launched and how they ended, "
            "errors",
            actions=(
                self.show_idle,
                self.daemon_filter,
                self.kind_filter,
                self.span_filter,
                self.refresh,
            ),
        )
        layout = page_layout(self, self.header)

        self.notice = Banner("warning")
        self.notice.setVisible(False)
        layout.addWidget(self.notice)
        self.table = data_table(self.model)
        header = self.table.horizontalHeader()
        for column, width in ((0, 130), (1, 170), (2, 110), (4, 170)):
            header.resizeSection(column, width)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self._open)
        layout.addWidget(self.table, 1)
        layout.addWidget(muted("Double-click an event with a job to open the job."))

        self.model.loaded.connect(self._show_notice)
        self.model.failed.connect(self._show_notice)
        bridge = ctx.bridge
        for signal in (bridge.status_changed, bridge.job_action, bridge.logged):
            signal.connect(self._mark_dirty)
        bridge.connection_changed.connect(self._on_connection)
        self.refresher = QTimer(self)
        self.refresher.setInterval(1500)
        self.refresher.timeout.connect(self._refresh_if_dirty)
        self.refresher.start()

    def _fill_daemons(self) -> None:
        """The daemons the engine runs (again after a resync: it may run others now)."""
        current = self.daemon_filter.currentData()
        self.daemon_filter.blockSignals(True)
        self.daemon_filter.clear()
        self.daemon_filter.addItem("All daemons", None)
        for name, daemon in self.ctx.client.mirror.daemons.items():
            self.daemon_filter.addItem(daemon.display_name or name, name)
        self.daemon_filter.setCurrentIndex(max(0, self.daemon_filter.findData(current)))
        self.daemon_filter.blockSignals(False)

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.model.start()

    def _filters_changed(self) -> None:
        self.model.set_filter(
            self.daemon_filter.currentData(),
            self.kind_filter.currentData(),
            "show" if self.show_idle.isChecked() else "fold",
            self.span_filter.currentData(),
        )

    def _mark_dirty(self, *_args: Any) -> None:
        self._dirty = True

    def _refresh_if_dirty(self) -> None:
        if (
            self._dirty
            and self.isVisible()
            and self.model.started
            and self.table.verticalScrollBar().value() == 0
        ):
            self._dirty = False
            self.model.reload()

    def _on_connection(self, event: Any) -> None:
        if not event.connected:
            self._disconnected = event.message or "Not connected to the engine"
        else:
            self._disconnected = None
            if event.resynced:
                self._fill_daemons()
            if self.model.started:
                self.model.reload()  # what happened while the link was down
        self._show_notice()

    def _show_notice(self) -> None:
        if self._disconnected:
            text = (
                f"{self._disconnected}. The history below is how it stood then and "
                "may be missing newer events."
            )
        elif self.model.error:
            text = f"{self.model.error}. The rows below may be out of date."
        else:
            self.notice.setVisible(False)
            return
        self.notice.set_kind("error" if self.model.error and not self._disconnected else "warning")
        self.notice.set_text(text)
        self.notice.setVisible(True)

    def _open(self, index: QModelIndex) -> None:
        event = self.model.events[index.row()]
        if event.job_id:
            self.ctx.nav.open_job(event.job_id)

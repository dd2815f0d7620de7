"""The History page: one timeline across daemons, read from the database.

Three tables feed it: status changes (``DaemonStatus``), job actions
(``DaemonJobAction``) and errors (``DaemonLog`` lines at WARNING or ERROR).
Each page of the timeline takes the newest ``PAGE_SIZE`` rows of each table
older than the last row shown (each by its ``at`` index) and merges them, so
scrolling back costs the same on day one and after a month of floods. While
the page is visible and scrolled to the top, new events appear by themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QVBoxLayout,
    QWidget,
)

from stashdesk.store.models import DaemonJobAction, DaemonLog, DaemonStatus, Job
from stashdesk.ui import humanize, theme
from stashdesk.ui.context import UiContext
from stashdesk.ui.widgets import ColumnsModel, button, data_table, muted, page_title

PAGE_SIZE = 200
KINDS = ("status", "job", "error")
KIND_LABELS = {"status": "Status", "job": "Job action", "error": "Error"}
KIND_FILTER_LABELS = {"status": "Status changes", "job": "Job actions",
                      "error": "Errors and warnings"}
ModelIndex = QModelIndex | QPersistentModelIndex


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    kind: str  # status | job | error
    row_id: int
    at: float
    daemon: str
    text: str
    detail: str | None  # job action name, log level
    job_id: str | None
    job_type: str | None

    @property
    def key(self) -> tuple[str, int]:
        return self.kind, self.row_id


def load_timeline(daemon: str | None, kinds: tuple[str, ...], before: float | None,
                  limit: int) -> list[TimelineEvent]:
    """The newest ``limit`` events at or before ``before`` (None: the newest of all)."""
    events: list[TimelineEvent] = []
    if "status" in kinds:
        q = DaemonStatus.select(DaemonStatus.id, DaemonStatus.at, DaemonStatus.daemon,
                                DaemonStatus.message, DaemonStatus.job_id,
                                DaemonStatus.job_type)
        if daemon:
            q = q.where(DaemonStatus.daemon == daemon)
        if before is not None:
            q = q.where(DaemonStatus.at <= before)
        for row_id, at, name, message, job_id, job_type in (
                q.order_by(DaemonStatus.at.desc()).limit(limit).tuples()):
            events.append(TimelineEvent("status", row_id, at, name, message, None, job_id,
                                        job_type))
    if "job" in kinds:
        q = DaemonJobAction.select(DaemonJobAction.id, DaemonJobAction.at,
                                   DaemonJobAction.daemon, DaemonJobAction.action,
                                   DaemonJobAction.job_id, DaemonJobAction.reason)
        if daemon:
            q = q.where(DaemonJobAction.daemon == daemon)
        if before is not None:
            q = q.where(DaemonJobAction.at <= before)
        rows = list(q.order_by(DaemonJobAction.at.desc()).limit(limit).tuples())
        ids = list({row[4] for row in rows})
        types = dict(Job.select(Job.id, Job.type).where(Job.id.in_(ids)).tuples()) if ids else {}
        for row_id, at, name, action, job_id, reason in rows:
            text = f"{action.capitalize()} job" + (f": {reason}" if reason else "")
            events.append(TimelineEvent("job", row_id, at, name, text, action, job_id,
                                        types.get(job_id)))
    if "error" in kinds:
        q = DaemonLog.select(DaemonLog.id, DaemonLog.at, DaemonLog.daemon, DaemonLog.level,
                             DaemonLog.message).where(DaemonLog.level.in_(["WARNING", "ERROR"]))
        if daemon:
            q = q.where(DaemonLog.daemon == daemon)
        if before is not None:
            q = q.where(DaemonLog.at <= before)
        for row_id, at, name, level, message in (
                q.order_by(DaemonLog.at.desc()).limit(limit).tuples()):
            events.append(TimelineEvent("error", row_id, at, name, message, level, None, None))
    events.sort(key=lambda e: (e.at, e.row_id), reverse=True)
    return events[:limit]


class TimelineModel(ColumnsModel):
    """Signals:
        loaded(): a reload finished.
    """

    COLUMNS = ("Time", "Daemon", "Kind", "What happened", "Job")
    loaded = Signal()

    def __init__(self, ctx: UiContext, parent: Any = None, page_size: int = PAGE_SIZE) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.page_size = page_size
        self.daemon: str | None = None
        self.kinds: tuple[str, ...] = KINDS
        self.events: list[TimelineEvent] = []
        self._keys: set[tuple[str, int]] = set()
        self._exhausted = False
        self._loading = False
        self._generation = 0
        self.loaded_once = False

    def row_count(self) -> int:
        return len(self.events)

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        event = self.events[index.row()]
        column = index.column()
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
                return event.text
            if column == 4:
                if not event.job_id:
                    return ""
                return f"{event.job_type or 'job'} {event.job_id[:8]}"
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 0:
                return humanize.full_timestamp(event.at)
            if column == 3:
                return event.text
            if column == 4:
                return event.job_id
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == 2 or (column == 3 and event.kind == "error"):
                if event.kind == "error":
                    return theme.RED if event.detail == "ERROR" else theme.AMBER
                if event.kind == "job":
                    return {"FAILED": theme.RED, "FINISHED": theme.GREEN,
                            "CANCELLED": theme.MUTED}.get(event.detail or "", theme.INDIGO)
            if column == 4:
                return theme.INDIGO
        return None

    def set_filter(self, daemon: str | None, kinds: tuple[str, ...]) -> None:
        self.daemon, self.kinds = daemon, kinds
        self.reload()

    def reload(self) -> None:
        self._generation += 1
        generation = self._generation
        daemon, kinds, size = self.daemon, self.kinds, self.page_size
        self._loading = True

        async def load() -> None:
            try:
                events = await self.ctx.services.store.read(
                    lambda: load_timeline(daemon, kinds, None, size))
            finally:
                if generation == self._generation:
                    self._loading = False
            if generation != self._generation:
                return
            self.beginResetModel()
            self.events = []
            self._keys = set()
            self._exhausted = False
            self.endResetModel()
            self.loaded_once = True
            self._append(events)
            self.loaded.emit()

        self.ctx.tasks.spawn(load(), "Loading history")

    @property
    def loading(self) -> bool:
        return self._loading

    def canFetchMore(self, parent: ModelIndex = QModelIndex()) -> bool:  # noqa: B008
        return (not parent.isValid() and self.loaded_once and not self._exhausted
                and not self._loading and bool(self.events))

    def fetchMore(self, parent: ModelIndex = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent):
            return
        generation = self._generation
        daemon, kinds, size = self.daemon, self.kinds, self.page_size
        # "<=" with de-duplication: rows sharing the boundary instant are not skipped.
        before = self.events[-1].at
        self._loading = True

        async def load() -> None:
            try:
                events = await self.ctx.services.store.read(
                    lambda: load_timeline(daemon, kinds, before, size))
            finally:
                if generation == self._generation:
                    self._loading = False
            if generation == self._generation:
                self._append(events)

        self.ctx.tasks.spawn(load(), "Loading older history")

    def _append(self, events: list[TimelineEvent]) -> None:
        fresh = [e for e in events if e.key not in self._keys]
        if not fresh:
            self._exhausted = True
            return
        if len(events) < self.page_size:
            self._exhausted = True
        first = len(self.events)
        self.beginInsertRows(QModelIndex(), first, first + len(fresh) - 1)
        self.events.extend(fresh)
        self._keys.update(e.key for e in fresh)
        self.endInsertRows()


class HistoryPage(QWidget):
    """The timeline with its daemon and kind filters."""

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = TimelineModel(ctx, self)
        self._dirty = False
        self._started = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 12)
        layout.setSpacing(12)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.addWidget(page_title("History"))
        titles.addWidget(muted("What every daemon did: status changes, the jobs it launched "
                               "and how they ended, errors"))
        head.addLayout(titles, 1)
        self.daemon_filter = QComboBox()
        self.daemon_filter.addItem("All daemons", None)
        for name, handle in ctx.services.manager.handles.items():
            self.daemon_filter.addItem(handle.cls.display_name or name, name)
        self.kind_filter = QComboBox()
        self.kind_filter.addItem("All kinds", KINDS)
        for kind in KINDS:
            self.kind_filter.addItem(KIND_FILTER_LABELS[kind], (kind,))
        self.daemon_filter.currentIndexChanged.connect(self._filters_changed)
        self.kind_filter.currentIndexChanged.connect(self._filters_changed)
        self.refresh = button("Refresh")
        self.refresh.clicked.connect(self.model.reload)
        for widget in (self.daemon_filter, self.kind_filter, self.refresh):
            head.addWidget(widget, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(head)

        self.table = data_table(self.model)
        header = self.table.horizontalHeader()
        for column, width in ((0, 130), (1, 170), (2, 110), (4, 170)):
            header.resizeSection(column, width)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self._open)
        layout.addWidget(self.table, 1)
        layout.addWidget(muted("Double-click an event with a job to open the job."))

        bridge = ctx.bridge
        for signal in (bridge.status_changed, bridge.job_action, bridge.logged):
            signal.connect(self._mark_dirty)
        self.refresher = QTimer(self)
        self.refresher.setInterval(1500)
        self.refresher.timeout.connect(self._refresh_if_dirty)
        self.refresher.start()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._started:
            self._started = True
            self.model.reload()

    def _filters_changed(self) -> None:
        self.model.set_filter(self.daemon_filter.currentData(), self.kind_filter.currentData())

    def _mark_dirty(self, *_args: Any) -> None:
        self._dirty = True

    def _refresh_if_dirty(self) -> None:
        if (self._dirty and self.isVisible() and self._started
                and self.table.verticalScrollBar().value() == 0):
            self._dirty = False
            self.model.reload()

    def _open(self, index: QModelIndex) -> None:
        event = self.model.events[index.row()]
        if event.job_id:
            self.ctx.nav.open_job(event.job_id)

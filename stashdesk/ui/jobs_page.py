"""The Jobs page: every job in the database, newest first, with live progress.

``JobTableModel`` is a model over the Job table that loads it a page at a time
(keyset paging on ``created_at, id``, so page 500 costs what page 1 costs) from
a reader thread: 100,000 rows stay as smooth as 100, because the view only ever
holds what was scrolled to. Live events update the rows already loaded and put
new jobs on top.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import peewee as pw
from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QRectF,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QLinearGradient, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from stashdesk.events import JobCreated, JobFinished, JobProgressed
from stashdesk.jobs.base import ACTIVE_STATUSES, JOB_TYPES, JobStatus
from stashdesk.store.models import Job
from stashdesk.ui import humanize, theme
from stashdesk.ui.context import UiContext
from stashdesk.ui.widgets import ColumnsModel, button, data_table, muted, page_title

PAGE_SIZE = 200
ROW_ROLE = Qt.ItemDataRole.UserRole + 1
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 2

ModelIndex = QModelIndex | QPersistentModelIndex


@dataclass(slots=True)
class JobRow:
    id: str
    type: str
    status: str
    progress: float
    message: str | None
    created_by: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    error: str | None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


_FIELDS = (Job.id, Job.type, Job.status, Job.progress, Job.message, Job.created_by,
           Job.created_at, Job.started_at, Job.finished_at, Job.error)


@dataclass(frozen=True)
class JobFilter:
    """Which jobs the table shows: statuses (None: all) and one type (None: all)."""

    statuses: tuple[str, ...] | None = None
    job_type: str | None = None

    def matches(self, status: str, job_type: str) -> bool:
        return ((self.statuses is None or status in self.statuses)
                and (self.job_type is None or job_type == self.job_type))

    def clause(self) -> Any:
        clause = pw.SQL("1")
        if self.statuses is not None:
            clause = Job.status.in_(list(self.statuses))
        if self.job_type is not None:
            clause = clause & (Job.type == self.job_type)
        return clause


def load_page(flt: JobFilter, after: tuple[float, str] | None, limit: int) -> list[JobRow]:
    """One page of jobs older than ``after`` (created_at, id), newest first."""
    query = Job.select(*_FIELDS).where(flt.clause())
    if after is not None:
        created_at, job_id = after
        query = query.where((Job.created_at < created_at)
                            | ((Job.created_at == created_at) & (Job.id < job_id)))
    query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
    return [JobRow(*values) for values in query.tuples()]


def count_jobs(flt: JobFilter) -> int:
    return Job.select().where(flt.clause()).count()


class JobTableModel(ColumnsModel):
    """Jobs, newest first, loaded page by page.

    Signals:
        loaded(): a reload finished (the first page and the count are in).

    Attributes:
        total: how many jobs match the filter in the database (live).
        filter: the JobFilter in force.
    """

    COLUMNS = ("Type", "Status", "Progress", "Message", "Launched by", "Created", "Finished",
               "Took")
    PROGRESS_COLUMN = 2
    loaded = Signal()

    def __init__(self, ctx: UiContext, parent: Any = None, page_size: int = PAGE_SIZE) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.page_size = page_size
        self.filter = JobFilter()
        self.total = 0
        self._head: list[JobRow] = []  # live arrivals, oldest first (shown reversed, on top)
        self._tail: list[JobRow] = []  # loaded pages, newest first
        self._where: dict[str, tuple[bool, int]] = {}  # id -> (in head, index)
        self._exhausted = False
        self._loading = False
        self._generation = 0
        self.loaded_once = False
        ctx.bridge.job_created.connect(self.on_created)
        ctx.bridge.job_progressed.connect(self.on_progress)
        ctx.bridge.job_finished.connect(self.on_finished)

    # --- Qt model API ----------------------------------------------------------------------------

    def row_count(self) -> int:
        return len(self._head) + len(self._tail)

    def row_at(self, row: int) -> JobRow:
        head = len(self._head)
        return self._head[head - 1 - row] if row < head else self._tail[row - head]

    def row_of(self, job_id: str) -> int | None:
        where = self._where.get(job_id)
        if where is None:
            return None
        in_head, index = where
        return len(self._head) - 1 - index if in_head else len(self._head) + index

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        job = self.row_at(index.row())
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(job, column)
        if role == ROW_ROLE:
            return job
        if role == PROGRESS_ROLE:
            return job.progress
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 3:
                return job.error or job.message
            if column == 5:
                return humanize.full_timestamp(job.created_at)
            if column == 6:
                return humanize.full_timestamp(job.finished_at)
            if column == 7 and job.started_at is not None:
                return f"Started {humanize.full_timestamp(job.started_at)}"
            return None
        if role == Qt.ItemDataRole.ForegroundRole and column == 1:
            return theme.STATUS_COLOURS.get(job.status)
        return None

    def _display(self, job: JobRow, column: int) -> str:
        if column == 0:
            return job.type
        if column == 1:
            return job.status
        if column == 2:
            return f"{job.progress:.0f} %"
        if column == 3:
            return (job.error if job.status in ("failed", "interrupted") and job.error
                    else job.message or "")
        if column == 4:
            return self.ctx.daemon_display_name(job.created_by) or ""
        if column == 5:
            return humanize.timestamp(job.created_at)
        if column == 6:
            return humanize.timestamp(job.finished_at)
        if column == 7:
            if job.started_at is None:
                return ""
            end = job.finished_at or time.time()
            return humanize.duration(end - job.started_at)
        return ""

    @property
    def loading(self) -> bool:
        return self._loading

    def canFetchMore(self, parent: ModelIndex = QModelIndex()) -> bool:  # noqa: B008
        return (not parent.isValid() and self.loaded_once and not self._exhausted
                and not self._loading)

    def fetchMore(self, parent: ModelIndex = QModelIndex()) -> None:  # noqa: B008
        if not self.canFetchMore(parent):
            return
        after = (self._tail[-1].created_at, self._tail[-1].id) if self._tail else None
        flt, generation, size = self.filter, self._generation, self.page_size
        self._loading = True

        async def load() -> None:
            try:
                rows = await self.ctx.services.store.read(lambda: load_page(flt, after, size))
            finally:
                if generation == self._generation:
                    self._loading = False
            if generation == self._generation:
                self._append(rows)

        self.ctx.tasks.spawn(load(), "Loading more jobs")

    # --- loading ---------------------------------------------------------------------------------

    def set_filter(self, flt: JobFilter) -> None:
        self.filter = flt
        self.reload()

    def reload(self) -> None:
        """Start again from the newest job (asynchronously; ``loaded`` tells when)."""
        self._generation += 1
        generation, flt, size = self._generation, self.filter, self.page_size
        self._loading = True

        def read() -> tuple[list[JobRow], int]:
            return load_page(flt, None, size), count_jobs(flt)

        async def load() -> None:
            try:
                rows, total = await self.ctx.services.store.read(read)
            finally:
                if generation == self._generation:
                    self._loading = False
            if generation != self._generation:
                return
            self.beginResetModel()
            self._head, self._tail, self._where = [], [], {}
            self._exhausted = False
            self.total = total
            self.endResetModel()
            self.loaded_once = True
            self._append(rows)
            self.loaded.emit()

        self.ctx.tasks.spawn(load(), "Loading jobs")

    def _append(self, rows: list[JobRow]) -> None:
        rows = [r for r in rows if r.id not in self._where]
        if len(rows) < self.page_size:
            self._exhausted = True
        if not rows:
            return
        first = self.rowCount()
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        for row in rows:
            self._where[row.id] = (False, len(self._tail))
            self._tail.append(row)
        self.endInsertRows()

    # --- live events -----------------------------------------------------------------------------

    def on_created(self, event: JobCreated) -> None:
        if not self.loaded_once or event.job_id in self._where:
            return
        info = self.ctx.services.runner.snapshot(event.job_id)
        status = info.status if info is not None else JobStatus.PENDING
        if not self.filter.matches(status, event.job_type):
            return
        row = JobRow(
            id=event.job_id, type=event.job_type, status=status,
            progress=info.progress if info else 0.0,
            message=info.message if info else None, created_by=event.created_by,
            created_at=info.created_at if info else event.at,
            started_at=info.started_at if info else None, finished_at=None, error=None)
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._where[row.id] = (True, len(self._head))
        self._head.append(row)
        self.total += 1
        self.endInsertRows()

    def on_progress(self, event: JobProgressed) -> None:
        row_number = self.row_of(event.job_id)
        if row_number is None:
            return
        job = self.row_at(row_number)
        job.progress, job.status = event.progress, event.status
        if event.message is not None:
            job.message = event.message
        if job.started_at is None and event.status != JobStatus.PENDING:
            job.started_at = event.at
        self._changed(row_number)

    def on_finished(self, event: JobFinished) -> None:
        row_number = self.row_of(event.job_id)
        if row_number is None:
            return
        job = self.row_at(row_number)
        job.status, job.error, job.finished_at = event.status, event.error, event.at
        if event.status == JobStatus.COMPLETED:
            job.progress = 100.0
        self._changed(row_number)

    def _changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a slim bar with its percentage."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        value = index.data(PROGRESS_ROLE)
        if value is None:
            super().paint(painter, option, index)
            return
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else QApplication.style()
        option.text = ""  # background (selection, alternate rows) only
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        rect: QRect = option.rect
        track = QRectF(rect.left() + 8, rect.center().y() - 2.5, max(10, rect.width() - 60), 5)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor("#e4e8ef"))
        painter.drawRoundedRect(track, 2.5, 2.5)
        if value > 0:
            filled = QRectF(track.left(), track.top(), track.width() * min(value, 100) / 100,
                            track.height())
            gradient = QLinearGradient(track.left(), 0, track.right(), 0)
            gradient.setColorAt(0, QColor("#0f9488"))
            gradient.setColorAt(1, QColor("#4338ca"))
            painter.setBrush(gradient)
            painter.drawRoundedRect(filled, 2.5, 2.5)
        painter.setPen(theme.MUTED)
        text_rect = QRect(rect.right() - 48, rect.top(), 44, rect.height())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         f"{value:.0f} %")
        painter.restore()


STATUS_FILTERS: list[tuple[str, tuple[str, ...] | None]] = [
    ("All statuses", None),
    ("Active", tuple(str(s) for s in ACTIVE_STATUSES)),
    ("Pending", ("pending",)),
    ("Running", ("running", "cancelling")),
    ("Completed", ("completed",)),
    ("Failed", ("failed",)),
    ("Cancelled", ("cancelled",)),
    ("Interrupted", ("interrupted",)),
]


class JobsPage(QWidget):
    """The jobs table with its filters, Cancel and Details."""

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.model = JobTableModel(ctx, self)
        self.model.loaded.connect(self._update_summary)
        self.model.rowsInserted.connect(self._update_summary)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 12)
        layout.setSpacing(12)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.addWidget(page_title("Jobs"))
        self.summary = muted()
        titles.addWidget(self.summary)
        head.addLayout(titles, 1)
        self.status_filter = QComboBox()
        for label, _statuses in STATUS_FILTERS:
            self.status_filter.addItem(label)
        self.type_filter = QComboBox()
        self.type_filter.addItem("All types", None)
        for job_type in sorted(JOB_TYPES):
            self.type_filter.addItem(job_type, job_type)
        self.status_filter.currentIndexChanged.connect(self._filters_changed)
        self.type_filter.currentIndexChanged.connect(self._filters_changed)
        self.refresh = button("Refresh")
        self.refresh.clicked.connect(self.model.reload)
        for widget in (self.status_filter, self.type_filter, self.refresh):
            head.addWidget(widget, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(head)

        self.table = data_table(self.model, row_height=30)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setItemDelegateForColumn(JobTableModel.PROGRESS_COLUMN, ProgressDelegate(self))
        header = self.table.horizontalHeader()
        for column, width in enumerate((150, 90, 112, 300, 150, 92, 92, 96)):
            header.resizeSection(column, width)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(self._open_index)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.dataChanged.connect(self._update_buttons)
        layout.addWidget(self.table, 1)

        actions = QHBoxLayout()
        actions.addStretch(1)
        self.details = button("Details…")
        self.cancel = button("Cancel job", danger=True)
        self.details.clicked.connect(self._open_selected)
        self.cancel.clicked.connect(self._cancel_selected)
        actions.addWidget(self.details)
        actions.addWidget(self.cancel)
        layout.addLayout(actions)
        self._update_buttons()
        self._started = False

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._started:
            self._started = True
            self.model.reload()

    def _filters_changed(self) -> None:
        statuses = STATUS_FILTERS[self.status_filter.currentIndex()][1]
        self.model.set_filter(JobFilter(statuses, self.type_filter.currentData()))

    def selected_job(self) -> JobRow | None:
        rows = self.table.selectionModel().selectedRows()
        return self.model.row_at(rows[0].row()) if rows else None

    def select_job(self, job_id: str) -> bool:
        row = self.model.row_of(job_id)
        if row is None:
            return False
        self.table.selectRow(row)
        self.table.scrollTo(self.model.index(row, 0))
        return True

    def _update_buttons(self) -> None:
        job = self.selected_job()
        self.details.setEnabled(job is not None)
        can_cancel = (job is not None and job.active
                      and self.ctx.services.runner.snapshot(job.id) is not None)
        self.cancel.setEnabled(can_cancel)
        self.cancel.setToolTip("" if job is None or can_cancel else
                               "Only pending or running jobs of this StashDesk can be cancelled")

    def _update_summary(self) -> None:
        shown = self.model.rowCount()
        total = self.model.total
        text = humanize.count(total, "job")
        if shown < total:
            text += f" · {shown:,} loaded (scroll for more)"
        self.summary.setText(text)

    def _open_index(self, index: QModelIndex) -> None:
        self.ctx.nav.open_job(self.model.row_at(index.row()).id)

    def _open_selected(self) -> None:
        job = self.selected_job()
        if job is not None:
            self.ctx.nav.open_job(job.id)

    def _cancel_selected(self) -> None:
        job = self.selected_job()
        if job is None:
            return
        self.cancel.setEnabled(False)
        self.ctx.tasks.spawn(self.ctx.services.runner.cancel(job.id), f"Cancelling {job.type} job")

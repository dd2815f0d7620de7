"""The jobs table: a model loading the engine's jobs a page at a time, kept live.

``JobTableModel`` asks the engine for one page of jobs at a time
(``ops.list_jobs``: the engine pages by keyset, so page 500 costs what page 1
costs, and hands back a cursor for the next page): 100,000 jobs stay as smooth
as 100, because the view only ever holds what was scrolled to. Live events
update the rows already loaded and put new jobs on top; the client's mirror
of active jobs corrects rows that changed while a page was on its way.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

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
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

from stashdesk.engine_client.base import ACTIVE_JOB_STATUSES
from stashdesk.engine_client.errors import ClientError
from stashdesk.events import JobCreated, JobFinished, JobProgressed
from stashdesk.timestamps import from_iso
from stashdesk.ui import humanize, theme
from stashdesk.ui.context import UiContext
from stashdesk.ui.paged_model import PAGE_SIZE, PagedModel

ROW_ROLE = Qt.ItemDataRole.UserRole + 1
PROGRESS_ROLE = Qt.ItemDataRole.UserRole + 2
DEFAULT_SORT = "-created_at"  # newest first: the only order new jobs go on top in


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
    title: str | None = None  # the type by name ("Stash scan")
    failure_summary: str | None = None  # "1 of 6 failed": completed, but not all of it

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> JobRow:
        """A job as ``list_jobs``/``get_job`` answer it (ISO times)."""
        return cls(
            id=item["id"],
            type=item["type"],
            status=item["status"],
            progress=float(item.get("progress") or 0.0),
            message=item.get("message"),
            created_by=item.get("created_by"),
            created_at=from_iso(item.get("created_at")) or 0.0,
            started_at=from_iso(item.get("started_at")),
            finished_at=from_iso(item.get("finished_at")),
            error=item.get("error"),
            title=item.get("title"),
            failure_summary=item.get("failure_summary"),
        )


@dataclass(frozen=True)
class JobFilter:
    """Which jobs the table shows: statuses (None: all) and one type (None: all)."""

    statuses: tuple[str, ...] | None = None
    job_type: str | None = None

    def matches(self, status: str, job_type: str) -> bool:
        return (self.statuses is None or status in self.statuses) and (
            self.job_type is None or job_type == self.job_type
        )


class JobTableModel(PagedModel):
    """Jobs in the order asked (newest first by default), loaded page by page.

    Signals (besides PagedModel's loaded and failed):
        counted(): ``total`` or ``unseen`` changed without rows coming or going.

    Attributes:
        total: how many jobs match the filter in the engine (kept live).
        filter: the JobFilter in force.
        sort_key: the ``list_jobs`` sort key in force ("-created_at": newest first).
        error: why the last load failed (None: it did not).
        unseen: jobs created since the last reload that a sort other than newest
            first cannot place (Refresh shows them).
    """

    COLUMNS = (
        "Type",
        "Status",
        "Progress",
        "Message",
        "Launched by",
        "Created",
        "Finished",
        "Took",
    )
    PROGRESS_COLUMN = 2
    # The engine's sort key behind each column that can be sorted on.
    SORT_KEYS = {0: "type", 1: "status", 2: "progress", 5: "created_at", 6: "finished_at"}
    RELOAD_FAILED = "Could not load the jobs"
    MORE_FAILED = "Could not load more jobs"
    RELOAD_TASK = "Loading jobs"
    MORE_TASK = "Loading more jobs"
    # After a failure the view would ask again at every scroll: Refresh retries.
    FETCH_AFTER_FAILURE = False
    counted = Signal()

    def __init__(self, ctx: UiContext, parent: Any = None, page_size: int = PAGE_SIZE) -> None:
        super().__init__(ctx, parent, page_size)
        self.filter = JobFilter()
        self.sort_key = DEFAULT_SORT
        self.total = 0
        self.unseen = 0
        self._head: list[JobRow] = []  # live arrivals, oldest first (shown reversed, on top)
        self._tail: list[JobRow] = []  # loaded pages, in the sort order
        self._where: dict[str, tuple[bool, int]] = {}  # id -> (in head, index)
        self._created_meanwhile: list[JobCreated] = []  # while a reload is on its way
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

    def cell(self, job: JobRow, column: int, role: int) -> Any:
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
            if job.failure_summary:  # amber, not the green of a clean completion
                return theme.STATUS_COLOURS["interrupted"]
            return theme.STATUS_COLOURS.get(job.status)
        return None

    def _display(self, job: JobRow, column: int) -> str:
        if column == 0:
            return job.title or job.type
        if column == 1:
            return f"{job.status} - {job.failure_summary}" if job.failure_summary else job.status
        if column == 2:
            return f"{job.progress:.0f} %"
        if column == 3:
            return (
                job.error
                if job.status in ("failed", "interrupted") and job.error
                else job.message or ""
            )
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

    # --- loading ---------------------------------------------------------------------------------

    def set_filter(self, flt: JobFilter) -> None:
        self.filter = flt
        self.reload()

    def set_sort(self, sort: str) -> None:
        self.sort_key = sort
        self.reload()

    def _request(self, cursor: str | None) -> Awaitable[dict[str, Any]]:
        return self.ctx.client.ops.list_jobs(
            status=list(self.filter.statuses) if self.filter.statuses is not None else None,
            job_type=self.filter.job_type,
            limit=self.page_size,
            cursor=cursor,
            sort=self.sort_key,
            count=cursor is None,  # the first page counts the jobs
        )

    def _reload_started(self) -> None:
        self._created_meanwhile = []

    def _clear(self, page: dict[str, Any]) -> None:
        self._head, self._tail, self._where = [], [], {}
        self.total = page["total"] or 0
        self.unseen = 0

    def _reloaded(self) -> None:
        # Jobs created while the page was on its way may not be in it.
        created, self._created_meanwhile = self._created_meanwhile, []
        for event in created:
            self.on_created(event)

    def _add_page(self, page: dict[str, Any]) -> None:
        rows = [JobRow.from_json(item) for item in page["items"]]
        rows = [r for r in rows if r.id not in self._where]
        if not rows:
            return
        self._catch_up(rows)
        first = self.rowCount()
        self.beginInsertRows(QModelIndex(), first, first + len(rows) - 1)
        for row in rows:
            self._where[row.id] = (False, len(self._tail))
            self._tail.append(row)
        self.endInsertRows()

    def _catch_up(self, rows: list[JobRow]) -> None:
        """Bring rows up to the mirror: events that arrived while their page was on
        its way (a remote engine answers and streams events separately) found no row
        to update. An active row the mirror no longer has has ended since: reread it."""
        jobs = self.ctx.client.mirror.jobs
        for row in rows:
            if not row.active:
                continue
            view = jobs.get(row.id)
            if view is None:
                self.refresh_row(row.id)
            elif view.progress >= row.progress:
                row.status, row.progress = view.status, view.progress
                row.message = view.message if view.message is not None else row.message

    def refresh_row(self, job_id: str) -> None:
        """Read one loaded job afresh from the engine."""
        generation = self._generation

        def show(item: dict[str, Any]) -> None:
            row_number = self.row_of(job_id)
            if generation != self._generation or row_number is None:
                return
            fresh = JobRow.from_json(item)
            job = self.row_at(row_number)
            for name in JobRow.__slots__:
                setattr(job, name, getattr(fresh, name))
            self._changed(row_number)

        async def read() -> dict[str, Any] | None:
            try:
                return await self.ctx.client.ops.get_job(job_id)
            except ClientError:  # gone, or out of reach: the next reload says so
                return None

        def read_done(item: dict[str, Any] | None) -> None:
            if item:
                show(item)

        self.ctx.tasks.spawn(read(), "Reading a job", on_done=read_done)

    # --- live events -----------------------------------------------------------------------------

    def on_created(self, event: JobCreated) -> None:
        if self.reloading:
            self._created_meanwhile.append(event)
            return
        if not self.loaded_once or event.job_id in self._where:
            return
        view = self.ctx.client.mirror.jobs.get(event.job_id)
        status = view.status if view is not None else "pending"
        if not self.filter.matches(status, event.job_type):
            return
        self.total += 1
        if self.sort_key != DEFAULT_SORT:  # no telling where it goes in this order
            self.unseen += 1
            self.counted.emit()
            return
        row = JobRow(
            id=event.job_id,
            type=event.job_type,
            status=status,
            progress=view.progress if view else 0.0,
            message=view.message if view else None,
            created_by=event.created_by,
            created_at=(view.created_at if view and view.created_at else event.at),
            started_at=view.started_at if view else None,
            finished_at=None,
            error=None,
        )
        self.beginInsertRows(QModelIndex(), 0, 0)
        self._where[row.id] = (True, len(self._head))
        self._head.append(row)
        self.endInsertRows()

    def on_progress(self, event: JobProgressed) -> None:
        row_number = self.row_of(event.job_id)
        if row_number is None:
            return
        job = self.row_at(row_number)
        job.progress, job.status = event.progress, event.status
        if event.message is not None:
            job.message = event.message
        if job.started_at is None and event.status != "pending":
            job.started_at = event.at
        self._changed(row_number)

    def on_finished(self, event: JobFinished) -> None:
        row_number = self.row_of(event.job_id)
        if row_number is None:
            return
        job = self.row_at(row_number)
        job.status, job.error, job.finished_at = event.status, event.error, event.at
        if event.status == "completed":
            job.progress = 100.0
        self._changed(row_number)

    def _changed(self, row: int) -> None:
        self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))


class ProgressDelegate(QStyledItemDelegate):
    """Draws the progress column as a slim bar with its percentage."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
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
            filled = QRectF(
                track.left(), track.top(), track.width() * min(value, 100) / 100, track.height()
            )
            gradient = QLinearGradient(track.left(), 0, track.right(), 0)
            gradient.setColorAt(0, QColor("#0f9488"))
            gradient.setColorAt(1, QColor("#4338ca"))
            painter.setBrush(gradient)
            painter.drawRoundedRect(filled, 2.5, 2.5)
        painter.setPen(theme.MUTED)
        text_rect = QRect(rect.right() - 48, rect.top(), 44, rect.height())
        painter.drawText(
            text_rect, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"{value:.0f} %"
        )
        painter.restore()

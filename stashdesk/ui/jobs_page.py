"""The Jobs page: every job of the engine, newest first, with live progress.

The table (``stashdesk.ui.job_table``) loads the engine's jobs a page at a
time; the page around it filters them by status and type, sorts them by a
column (click its header), and cancels or opens the one selected. It talks to
the engine only through ``ctx.client``, so it works the same for an engine on
another machine: while the link is down it says that what it shows may be old,
and it reloads when the client had to resynchronise.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QWidget,
)

from stashdesk.engine_client.base import ACTIVE_JOB_STATUSES, EngineConnection
from stashdesk.engine_client.errors import ClientError
from stashdesk.ui import humanize, theme
from stashdesk.ui.context import UiContext
from stashdesk.ui.job_table import JobFilter, JobRow, JobTableModel, ProgressDelegate
from stashdesk.ui.paged_model import PAGE_SIZE
from stashdesk.ui.widgets import PageHeader, button, data_table, page_layout

__all__ = ["PAGE_SIZE", "STATUS_FILTERS", "JobFilter", "JobRow", "JobTableModel", "JobsPage"]

STATUS_FILTERS: list[tuple[str, tuple[str, ...] | None]] = [
    ("All statuses", None),
    ("Active", ACTIVE_JOB_STATUSES),
    ("Pending", ("pending",)),
    ("Running", ("running", "cancelling")),
    ("Completed", ("completed",)),
    ("Failed", ("failed",)),
    ("Cancelled", ("cancelled",)),
    ("Interrupted", ("interrupted",)),
]
CREATED_COLUMN = 5


class JobsPage(QWidget):
    """The jobs table with its filters, sorting, Cancel and Details.

    Attributes:
        model: the JobTableModel shown.
        connected: whether the link to the engine is up (False: what is shown may be old).
    """

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.connected = True
        self.model = JobTableModel(ctx, self)
        self.model.loaded.connect(self._update_summary)
        self.model.counted.connect(self._update_summary)
        self.model.failed.connect(self._update_summary)
        self.model.rowsInserted.connect(self._update_summary)

        self.status_filter = QComboBox()
        for label, _statuses in STATUS_FILTERS:
            self.status_filter.addItem(label)
        self.type_filter = QComboBox()
        self.type_filter.addItem("All types", None)
        for job_type in self._job_types():
            self.type_filter.addItem(job_type, job_type)
        self.status_filter.currentIndexChanged.connect(self._filters_changed)
        self.type_filter.currentIndexChanged.connect(self._filters_changed)
        self.refresh = button("Refresh")
        self.refresh.clicked.connect(self.model.reload)
        self.header = PageHeader(
            "Jobs", wrap=True, actions=(self.status_filter, self.type_filter, self.refresh)
        )
        self.summary = self.header.subtitle
        layout = page_layout(self, self.header)

        self.table = data_table(self.model, row_height=30)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setItemDelegateForColumn(JobTableModel.PROGRESS_COLUMN, ProgressDelegate(self))
        header = self.table.horizontalHeader()
        for column, width in enumerate((150, 90, 112, 300, 150, 92, 92, 96)):
            header.resizeSection(column, width)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        # The engine sorts (the table holds only the pages loaded), so the header only
        # shows the order and asks for another one.
        header.setSectionsClickable(True)
        header.setSortIndicatorShown(True)
        self._sorted_by = (CREATED_COLUMN, Qt.SortOrder.DescendingOrder)
        header.setSortIndicator(*self._sorted_by)
        header.sortIndicatorChanged.connect(self._sort_changed)
        self.table.doubleClicked.connect(self._open_index)
        self.table.selectionModel().selectionChanged.connect(self._update_buttons)
        self.model.dataChanged.connect(self._update_buttons)
        self.model.modelReset.connect(self._update_buttons)
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
        ctx.bridge.connection_changed.connect(self._on_connection)
        self._update_buttons()

    def _job_types(self) -> list[str]:
        """The job types the engine knows (it said so when the client started)."""
        return sorted(
            str(spec["type"])
            for spec in self.ctx.client.info.get("job_types") or []
            if isinstance(spec, dict) and spec.get("type")
        )

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.model.start()

    def _filters_changed(self) -> None:
        statuses = STATUS_FILTERS[self.status_filter.currentIndex()][1]
        self.model.set_filter(JobFilter(statuses, self.type_filter.currentData()))

    def _sort_changed(self, column: int, order: Qt.SortOrder) -> None:
        key = JobTableModel.SORT_KEYS.get(column)
        if key is None:  # Message, Launched by, Took: the engine cannot sort on them
            header = self.table.horizontalHeader()
            header.blockSignals(True)
            header.setSortIndicator(*self._sorted_by)
            header.blockSignals(False)
            return
        self._sorted_by = (column, order)
        self.model.set_sort(key if order == Qt.SortOrder.AscendingOrder else f"-{key}")

    def sort_by(self, column: int, order: Qt.SortOrder) -> None:
        """Sort as a click on the column's header would."""
        self.table.horizontalHeader().setSortIndicator(column, order)

    def _on_connection(self, event: EngineConnection) -> None:
        self.connected = event.connected
        if event.connected and event.resynced:  # events were missed: the rows may be wrong
            self.model.reload()
        self._update_summary()
        self._update_buttons()

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
        # Only the engine's own active jobs can be cancelled (its mirror lists them); a
        # row left running by a process that died is reconciled at the next start.
        can_cancel = (
            job is not None
            and job.active
            and job.status != "cancelling"
            and self.connected
            and job.id in self.ctx.client.mirror.jobs
        )
        self.cancel.setEnabled(can_cancel)
        self.cancel.setToolTip(
            ""
            if job is None or can_cancel
            else "Not connected to the engine"
            if not self.connected
            else "Only pending or running jobs of the engine can be cancelled"
        )

    def _update_summary(self) -> None:
        model = self.model
        shown, total = model.rowCount(), model.total
        if model.error is not None:
            text = f"{model.error} - press Refresh to try again"
        elif not model.loaded_once:
            text = "Loading…"
        else:
            text = humanize.count(total, "job")
            if shown < total:
                text += f" · {shown:,} loaded (scroll for more)"
            if model.unseen:
                text += f" · {humanize.count(model.unseen, 'new job')}: Refresh to show"
        if not self.connected:
            text += " · not current: the link to the engine is down"
        theme.set_property(self.summary, "error", model.error is not None)
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

        async def cancel() -> None:
            try:
                answer = await self.ctx.client.ops.cancel_job(job.id)
            except ClientError as exc:
                self.ctx.nav.show_message(f"Could not cancel the {job.type} job: {exc}", error=True)
                self._update_buttons()
                return
            if answer.get("already_ended"):  # it ended before the request got there
                self.model.refresh_row(job.id)

        self.ctx.tasks.spawn(cancel(), f"Cancelling the {job.type} job")

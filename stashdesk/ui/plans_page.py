"""The Plans page: analysis plans and, for the selected one, its proposed changes.

Review goes through ``stashdesk.analysis.plans`` on the store's writer thread:
approve or reject one change, a selection, every change of a field, or every
change at or above a confidence. "Apply" launches an APPLY_PLAN job for the
plan and links to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import peewee as pw
from PySide6.QtCore import (
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    Signal,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from stashdesk.analysis.plans import (
    OPEN_PLAN_STATUSES,
    ChangeSelector,
    PlanError,
    approve_changes,
    cancel_plan,
    change_counts,
    reject_changes,
)
from stashdesk.events import JobFinished
from stashdesk.jobs.base import JOB_TYPES
from stashdesk.store.models import Job, Plan, PlanChange, Scene, SceneFile
from stashdesk.ui import humanize, theme
from stashdesk.ui.context import UiContext
from stashdesk.ui.widgets import (
    Banner,
    RowsModel,
    button,
    data_table,
    muted,
    page_title,
    section,
)

APPLY_JOB_TYPE = "APPLY_PLAN"
ModelIndex = QModelIndex | QPersistentModelIndex


@dataclass(slots=True)
class PlanRow:
    id: int
    name: str
    status: str
    job_id: str | None
    created_at: float
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(slots=True)
class ChangeRow:
    id: int
    scene_id: str
    title: str
    path: str
    field: str
    action: str
    current: Any
    proposed: Any
    confidence: float
    status: str
    reason: str | None


def load_plans() -> list[PlanRow]:
    plans = list(Plan.select(Plan.id, Plan.name, Plan.status, Plan.job_id, Plan.created_at)
                 .order_by(Plan.created_at.desc(), Plan.id.desc()).tuples())
    counts = change_counts([p[0] for p in plans]) if plans else {}
    return [PlanRow(*p, counts=counts.get(p[0], {})) for p in plans]


def load_changes(plan_id: int) -> list[ChangeRow]:
    changes = list(PlanChange.select().where(PlanChange.plan == plan_id)
                   .order_by(PlanChange.scene_id, PlanChange.field, PlanChange.id))
    scene_ids = sorted({c.scene_id for c in changes})
    titles: dict[str, str] = {}
    paths: dict[str, str] = {}
    for start in range(0, len(scene_ids), 500):
        chunk = scene_ids[start:start + 500]
        titles.update(Scene.select(Scene.id, Scene.title).where(Scene.id.in_(chunk)).tuples())
        paths.update(SceneFile.select(SceneFile.scene, pw.fn.MIN(SceneFile.path))
                     .where(SceneFile.scene.in_(chunk)).group_by(SceneFile.scene).tuples())
    return [ChangeRow(c.id, c.scene_id, titles.get(c.scene_id) or f"Scene {c.scene_id}",
                      paths.get(c.scene_id) or "", c.field, c.action, c.current_value,
                      c.proposed_value, c.confidence, c.status, c.reason)
            for c in changes]


def apply_jobs_of(plan_id: int, limit: int = 200) -> list[tuple[str, str]]:
    """(job id, status) of APPLY_PLAN jobs launched for ``plan_id``, newest first."""
    rows = (Job.select(Job.id, Job.status, Job.metadata).where(Job.type == APPLY_JOB_TYPE)
            .order_by(Job.created_at.desc()).limit(limit))
    found = []
    for row in rows:
        metadata = row.metadata or {}
        if str(metadata.get("plan_id")) == str(plan_id):
            found.append((row.id, row.status))
    return found


class PlanListModel(RowsModel):
    COLUMNS = ("#", "Name", "Status", "Changes", "Pending", "Approved", "Rejected", "Applied",
               "Created")

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        plan = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            counts = plan.counts
            return (str(plan.id), plan.name, plan.status, str(plan.total),
                    str(counts.get("pending", 0)), str(counts.get("approved", 0)),
                    str(counts.get("rejected", 0)), str(counts.get("applied", 0)),
                    humanize.timestamp(plan.created_at))[column]
        if role == Qt.ItemDataRole.ForegroundRole and column == 2:
            return theme.STATUS_COLOURS.get(plan.status)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 3, 4, 5, 6, 7):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class ChangeModel(RowsModel):
    COLUMNS = ("Scene", "Path", "Field", "Action", "Current", "Proposed", "Confidence", "Status")

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        change = self.rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (change.title, change.path, change.field, change.action,
                    humanize.plan_value(change.current), humanize.plan_value(change.proposed),
                    f"{change.confidence:.2f}", change.status)[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            if column in (4, 5):
                value = change.current if column == 4 else change.proposed
                return json.dumps(value, ensure_ascii=False, indent=1, default=str)
            if column == 7 and change.reason:
                return change.reason
            if column in (0, 1):
                return f"{change.title}\n{change.path}\nStash scene {change.scene_id}"
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == 7:
                return theme.STATUS_COLOURS.get(change.status)
            if column == 1:
                return theme.MUTED
        if role == Qt.ItemDataRole.TextAlignmentRole and column == 6:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


FIELDS = ("tags", "performers", "studio", "title", "details", "markers")


class PlansPage(QWidget):
    """Plans (top) and the selected plan's changes (bottom).

    Signals:
        changed(): plans or changes were (re)loaded (tests wait on it).

    Attributes:
        plan: the selected PlanRow, or None.
        last_apply_job_id: the APPLY_PLAN job launched last from this page.
    """

    changed = Signal()

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.plan: PlanRow | None = None
        self.last_apply_job_id: str | None = None
        self._apply_jobs: list[tuple[str, str]] = []
        self._pending_select: int | None = None
        self._started = False
        self._generation = 0
        self._apply_info_plan: int | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(24, 20, 24, 12)
        layout.setSpacing(12)
        head = QHBoxLayout()
        titles = QVBoxLayout()
        titles.addWidget(page_title("Plans"))
        self.summary = muted("Proposed changes to your scenes, waiting for review")
        titles.addWidget(self.summary)
        head.addLayout(titles, 1)
        self.refresh = button("Refresh")
        self.refresh.clicked.connect(self.reload)
        head.addWidget(self.refresh, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(head)

        splitter = QSplitter(Qt.Orientation.Vertical)
        self.plans = PlanListModel(self)
        self.plan_table = data_table(self.plans)
        self.plan_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.plan_table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for column, width in ((0, 50), (2, 90), (3, 80), (4, 80), (5, 84), (6, 80), (7, 80),
                              (8, 110)):
            header.resizeSection(column, width)
        self.plan_table.selectionModel().selectionChanged.connect(self._plan_selected)
        splitter.addWidget(self.plan_table)

        detail = QWidget()
        column = QVBoxLayout(detail)
        column.setContentsMargins(0, 8, 0, 0)
        top = QHBoxLayout()
        self.plan_title = section("Select a plan to review its changes")
        top.addWidget(self.plan_title, 1)
        self.apply_button = button("Apply plan", primary=True)
        self.apply_button.clicked.connect(self.apply_plan)
        self.cancel_button = button("Cancel plan", danger=True)
        self.cancel_button.clicked.connect(self.cancel_selected_plan)
        top.addWidget(self.cancel_button)
        top.addWidget(self.apply_button)
        column.addLayout(top)

        self.apply_info = Banner("info", "", action="View job")
        self.apply_info.action_clicked.connect(self._view_apply_job)
        self.apply_info.setVisible(False)
        column.addWidget(self.apply_info)

        review = QHBoxLayout()
        self.approve_selected = button("Approve selected")
        self.reject_selected = button("Reject selected")
        self.approve_selected.clicked.connect(lambda: self.review_selection(True))
        self.reject_selected.clicked.connect(lambda: self.review_selection(False))
        review.addWidget(self.approve_selected)
        review.addWidget(self.reject_selected)
        review.addSpacing(24)
        review.addWidget(QLabel("Field"))
        self.field_filter = QComboBox()
        self.field_filter.addItem("Any field", None)
        for name in FIELDS:
            self.field_filter.addItem(name, name)
        review.addWidget(self.field_filter)
        review.addWidget(QLabel("Confidence ≥"))
        self.min_confidence = QDoubleSpinBox()
        self.min_confidence.setRange(0.0, 1.0)
        self.min_confidence.setSingleStep(0.05)
        self.min_confidence.setDecimals(2)
        review.addWidget(self.min_confidence)
        self.approve_matching = button("Approve matching")
        self.reject_matching = button("Reject matching")
        self.approve_matching.clicked.connect(lambda: self.review_matching(True))
        self.reject_matching.clicked.connect(lambda: self.review_matching(False))
        review.addWidget(self.approve_matching)
        review.addWidget(self.reject_matching)
        review.addStretch(1)
        column.addLayout(review)
        self.message = muted(wrap=True)
        column.addWidget(self.message)

        self.changes = ChangeModel(self)
        self.change_table = data_table(self.changes)
        self.change_table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.change_table.horizontalHeader()
        for column_index, width in ((0, 170), (1, 220), (2, 80), (3, 70), (4, 130), (5, 170),
                                    (6, 96), (7, 84)):
            header.resizeSection(column_index, width)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.change_table.selectionModel().selectionChanged.connect(self._update_buttons)
        column.addWidget(self.change_table, 1)
        splitter.addWidget(detail)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        layout.addWidget(splitter, 1)

        ctx.bridge.job_finished.connect(self._on_job_finished)
        self._update_buttons()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._started:
            self._started = True
            self.reload()

    # --- loading ---------------------------------------------------------------------------------

    def reload(self) -> None:
        self._started = True
        self._generation += 1
        generation = self._generation
        keep = self._pending_select or (self.plan.id if self.plan else None)
        self.ctx.tasks.spawn(self.ctx.services.store.read(load_plans), "Loading plans",
                             on_done=lambda rows: self._plans_loaded(rows, keep, generation))

    def _plans_loaded(self, rows: list[PlanRow], keep: int | None, generation: int) -> None:
        if generation != self._generation:
            return  # a newer reload is under way
        self.plans.set_rows(rows)
        open_count = sum(1 for r in rows if r.status in OPEN_PLAN_STATUSES)
        self.summary.setText(f"{humanize.count(len(rows), 'plan')} · {open_count} open "
                             "for review")
        self._pending_select = None
        target = next((i for i, r in enumerate(rows) if r.id == keep), None)
        if target is None and rows:
            target = 0
        if target is not None:
            self.plan = rows[target]
            self.plan_table.selectRow(target)
            self._load_changes()
        else:
            self.plan = None
            self.changes.set_rows([])
            self._update_header()
        self.changed.emit()

    def select_plan(self, plan_id: int) -> None:
        """Show ``plan_id`` (used by links from jobs)."""
        self._pending_select = plan_id
        self.reload()

    def _plan_selected(self) -> None:
        rows = self.plan_table.selectionModel().selectedRows()
        if not rows:
            return
        plan = self.plans.rows[rows[0].row()]
        if self.plan is not None and plan.id == self.plan.id and self.changes.rows:
            return
        self.plan = plan
        self._load_changes()

    def _load_changes(self) -> None:
        plan = self.plan
        if plan is None:
            return
        plan_id = plan.id

        def read() -> tuple[list[ChangeRow], list[tuple[str, str]]]:
            return load_changes(plan_id), apply_jobs_of(plan_id)

        def show(result: tuple[list[ChangeRow], list[tuple[str, str]]]) -> None:
            if self.plan is None or self.plan.id != plan_id:
                return
            self.changes.set_rows(result[0])
            self._apply_jobs = result[1]
            self._update_header()
            self.changed.emit()

        self.ctx.tasks.spawn(self.ctx.services.store.read(read), "Loading the plan's changes",
                             on_done=show)

    def _update_header(self) -> None:
        plan = self.plan
        if plan is None:
            self.plan_title.setText("Select a plan to review its changes")
        else:
            counts = ", ".join(f"{n} {status}" for status, n in sorted(plan.counts.items()))
            self.plan_title.setText(f"#{plan.id} {plan.name} — {plan.status}"
                                    + (f" ({counts})" if counts else ""))
        plan_id = plan.id if plan is not None else None
        if self._apply_info_plan != plan_id:
            # Another plan: show its newest apply job, if it has one.
            self.apply_info.setVisible(False)
            self.last_apply_job_id = self._apply_info_plan = None
            if plan_id is not None and self._apply_jobs:
                job_id, status = self._apply_jobs[0]
                self.last_apply_job_id, self._apply_info_plan = job_id, plan_id
                self.apply_info.set_kind("error" if status in ("failed", "interrupted")
                                         else "info")
                self.apply_info.set_text(f"Last apply job: {job_id[:8]} ({status}).")
                self.apply_info.setVisible(True)
        self._update_buttons()

    def _update_buttons(self) -> None:
        plan = self.plan
        open_plan = plan is not None and plan.status in ("pending",) + OPEN_PLAN_STATUSES
        selected = bool(self.change_table.selectionModel().selectedRows())
        for widget in (self.approve_matching, self.reject_matching):
            widget.setEnabled(open_plan)
        for widget in (self.approve_selected, self.reject_selected):
            widget.setEnabled(open_plan and selected)
        self.cancel_button.setEnabled(plan is not None and plan.status not in ("applied",
                                                                              "cancelled"))
        can_apply = (plan is not None and plan.status in OPEN_PLAN_STATUSES
                     and APPLY_JOB_TYPE in JOB_TYPES)
        self.apply_button.setEnabled(can_apply)
        if APPLY_JOB_TYPE not in JOB_TYPES:
            self.apply_button.setToolTip("This build has no APPLY_PLAN job type")
        elif plan is not None and plan.status not in OPEN_PLAN_STATUSES:
            self.apply_button.setToolTip(f"The plan is {plan.status}")
        else:
            self.apply_button.setToolTip("Apply the approved changes to Stash")

    # --- review ----------------------------------------------------------------------------------

    def selected_change_ids(self) -> tuple[int, ...]:
        rows = self.change_table.selectionModel().selectedRows()
        return tuple(self.changes.rows[index.row()].id for index in rows)

    def review_selection(self, approve: bool) -> None:
        ids = self.selected_change_ids()
        if ids:
            self._review(ChangeSelector(change_ids=ids), approve, "selected")

    def review_matching(self, approve: bool) -> None:
        field = self.field_filter.currentData()
        minimum = self.min_confidence.value() or None
        what = []
        if field:
            what.append(f"{field}")
        if minimum:
            what.append(f"confidence ≥ {minimum:.2f}")
        self._review(ChangeSelector(field=field, min_confidence=minimum), approve,
                     "matching " + (" and ".join(what) if what else "(every change)"))

    def _review(self, selector: ChangeSelector, approve: bool, what: str) -> None:
        plan = self.plan
        if plan is None:
            return
        operation = approve_changes if approve else reject_changes
        plan_id = plan.id

        async def run() -> int:
            try:
                return await self.ctx.services.store.write(lambda: operation(plan_id, selector))
            except PlanError as exc:
                self.message.setText(str(exc))
                return -1

        def done(count: int) -> None:
            if count >= 0:
                verb = "Approved" if approve else "Rejected"
                self.message.setText(f"{verb} {humanize.count(count, 'change')} ({what}).")
            self.reload()

        self.ctx.tasks.spawn(run(), "Reviewing changes", on_done=done)

    def cancel_selected_plan(self) -> None:
        plan = self.plan
        if plan is None:
            return
        plan_id = plan.id

        async def run() -> None:
            try:
                await self.ctx.services.store.write(lambda: cancel_plan(plan_id))
                self.message.setText(f"Plan #{plan_id} cancelled.")
            except PlanError as exc:
                self.message.setText(str(exc))

        self.ctx.tasks.spawn(run(), "Cancelling the plan", on_done=lambda _r: self.reload())

    # --- apply -----------------------------------------------------------------------------------

    def apply_plan(self) -> None:
        plan = self.plan
        if plan is None or APPLY_JOB_TYPE not in JOB_TYPES:
            return
        self.apply_button.setEnabled(False)
        plan_id = plan.id

        def launched(info: Any) -> None:
            self.last_apply_job_id = info.id
            self._apply_info_plan = plan_id
            self._apply_jobs.insert(0, (info.id, info.status))
            self.apply_info.set_kind("info")
            self.apply_info.set_text(f"Applying plan #{plan_id}: job {info.id[:8]} launched.")
            self.apply_info.setVisible(True)
            self._update_buttons()

        self.ctx.tasks.spawn(
            self.ctx.services.runner.submit(APPLY_JOB_TYPE, {"plan_id": plan_id},
                                            created_by="user"),
            f"Applying plan #{plan_id}", on_done=launched)

    def _view_apply_job(self) -> None:
        if self.last_apply_job_id:
            self.ctx.nav.open_job(self.last_apply_job_id)

    def _on_job_finished(self, event: JobFinished) -> None:
        if event.job_type not in (APPLY_JOB_TYPE, "ANALYSIS"):
            return
        if event.job_id == self.last_apply_job_id:
            self.apply_info.set_kind("info" if event.status == "completed" else "error")
            self.apply_info.set_text(f"Apply job {event.job_id[:8]} {event.status}"
                                     + (f": {event.error}" if event.error else "."))
        if self._started:
            self.reload()

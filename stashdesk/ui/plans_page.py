"""The Plans page: analysis plans and, for the selected one, its proposed changes.

Everything goes through the engine client (``ctx.client.ops``), so the page works the
same against an engine on another machine: review (``review_plan``) approves or
rejects one change, a selection, every change of a field, or every change at or above
a confidence; "Apply" asks the engine to launch the plan's APPLY_PLAN job
(``apply_plan``) and links to it. Plan events, finished analysis/apply jobs and a
resynced connection reload what the page shows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from stashdesk.engine_client.base import EngineConnection
from stashdesk.engine_client.errors import ClientError
from stashdesk.events import JobFinished, PlanChanged
from stashdesk.ui import humanize
from stashdesk.ui.context import UiContext
from stashdesk.ui.plan_models import (
    APPLY_JOB_TYPE,
    FIELDS,
    OPEN_PLAN_STATUSES,
    ChangeRow,
    ChangesTab,
    PlanListModel,
    PlanRow,
    load_plan,
    load_plans,
)
from stashdesk.ui.plan_review import ReviewView
from stashdesk.ui.widgets import (
    Banner,
    PageHeader,
    button,
    data_table,
    muted,
    page_layout,
    section,
)

RELOAD_DELAY_MS = 100  # a burst of plan events costs one reload


class PlansPage(QWidget):
    """Plans (top) and the selected plan (bottom): its review by scene ("By scene", a
    ReviewView) and the table of every change ("All changes", a ChangesTab).

    Signals:
        changed(): plans or changes were (re)loaded (tests wait on it).

    Attributes:
        plan: the selected PlanRow, or None.
        last_apply_job_id: the APPLY_PLAN job launched last from this page.
        busy: whether a load or an action is under way (or a reload is due).
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
        self._in_flight = 0
        self._apply_info_plan: int | None = None
        self._selecting = False  # the page, not the user, is selecting a plan row
        self._reload_timer = QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(RELOAD_DELAY_MS)
        self._reload_timer.timeout.connect(self.reload)

        self.refresh = button("Refresh")
        self.refresh.clicked.connect(self.reload)
        self.header = PageHeader(
            "Plans",
            "Proposed changes to your scenes, waiting for review",
            actions=(self.refresh,),
        )
        self.summary = self.header.subtitle
        layout = page_layout(self, self.header)
        # Loading failed or the engine is out of reach: what is shown may be old.
        self.stale = Banner("warning", "")
        self.stale.setVisible(False)
        layout.addWidget(self.stale)

        splitter = QSplitter(Qt.Orientation.Vertical)
        self.plans = PlanListModel(self)
        self.plan_table = data_table(self.plans)
        self.plan_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        header = self.plan_table.horizontalHeader()
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        for section_index, width in (
            (0, 50),
            (2, 90),
            (3, 80),
            (4, 80),
            (5, 84),
            (6, 80),
            (7, 80),
            (8, 110),
        ):
            header.resizeSection(section_index, width)
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

        self.tabs = QTabWidget()
        self.review_view = ReviewView(ctx.client.ops, self._spawn, self.review)
        self.tabs.addTab(self.review_view, "By scene")
        self.changes_tab = ChangesTab()
        self.tabs.addTab(self.changes_tab, "All changes")
        # the tab's parts, as the page's (tests and older callers use these names)
        self.changes = self.changes_tab.changes
        self.change_table = self.changes_tab.change_table
        self.approve_selected = self.changes_tab.approve_selected
        self.reject_selected = self.changes_tab.reject_selected
        self.edit_value = self.changes_tab.edit_value
        self.save_edit_button = self.changes_tab.save_edit_button
        self.approve_selected.clicked.connect(lambda: self.review_selection(True))
        self.reject_selected.clicked.connect(lambda: self.review_selection(False))
        self.edit_value.returnPressed.connect(self.save_edit)
        self.save_edit_button.clicked.connect(self.save_edit)
        self.change_table.selectionModel().selectionChanged.connect(self._update_buttons)
        column.addWidget(self.tabs, 1)
        splitter.addWidget(detail)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 5)
        layout.addWidget(splitter, 1)

        ctx.bridge.job_finished.connect(self._on_job_finished)
        ctx.bridge.plan_changed.connect(self._on_plan_changed)
        ctx.bridge.connection_changed.connect(self._on_connection_changed)
        self._update_buttons()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        if not self._started:
            self._started = True
            self.reload()

    @property
    def busy(self) -> bool:
        return self._in_flight > 0 or self._reload_timer.isActive()

    def _spawn(self, coro: Any, what: str) -> None:
        """Run one of the page's coroutines, counted in ``busy`` until it ends."""
        self._in_flight += 1

        async def counted() -> None:
            try:
                await coro
            finally:
                self._in_flight -= 1

        self.ctx.tasks.spawn(counted(), what)

    # --- loading ---------------------------------------------------------------------------------

    def reload(self) -> None:
        self._started = True
        self._reload_timer.stop()
        self._generation += 1
        keep = self._pending_select or (self.plan.id if self.plan else None)
        self._spawn(self._reload(keep, self._generation), "Loading plans")

    def _schedule_reload(self) -> None:
        if self._started and not self._reload_timer.isActive():
            self._reload_timer.start()

    async def _reload(self, keep: int | None, generation: int) -> None:
        ops = self.ctx.client.ops
        try:
            rows = await load_plans(ops)
            target = next((r.id for r in rows if r.id == keep), rows[0].id if rows else None)
            detail = await load_plan(ops, target) if target is not None else None
        except ClientError as exc:
            if generation == self._generation:
                self._show_stale(
                    f"Could not load the plans: {exc}. What is shown may be out of date."
                )
            return
        if generation != self._generation:
            return  # a newer reload is under way
        self.stale.setVisible(False)
        self.plans.set_rows(rows)
        open_count = sum(1 for r in rows if r.status in OPEN_PLAN_STATUSES)
        self.summary.setText(f"{humanize.count(len(rows), 'plan')} · {open_count} open for review")
        self._pending_select = None
        if detail is None:
            self.plan = None
            self._apply_jobs = []
            self.changes.set_rows([])
            self.review_view.load(None, False)
            self._update_header()
        else:
            index = next(i for i, r in enumerate(rows) if r.id == detail[0].id)
            self._selecting = True
            try:
                self.plan_table.selectRow(index)
            finally:
                self._selecting = False
            self._show_plan(*detail)
        self.changed.emit()

    def _show_stale(self, text: str) -> None:
        self.stale.set_text(text)
        self.stale.setVisible(True)

    def select_plan(self, plan_id: int) -> None:
        """Show ``plan_id`` (used by links from jobs)."""
        self._pending_select = plan_id
        self.reload()

    def _plan_selected(self) -> None:
        rows = self.plan_table.selectionModel().selectedRows()
        if self._selecting or not rows:
            return
        plan = self.plans.rows[rows[0].row()]
        if self.plan is not None and plan.id == self.plan.id:
            return
        self.plan = plan
        self.changes.set_rows([])  # not the old plan's changes under the new plan's title
        self.review_view.load(None, False)
        self._update_header()
        self._generation += 1
        self._spawn(self._load_plan(plan.id, self._generation), "Loading the plan's changes")

    async def _load_plan(self, plan_id: int, generation: int) -> None:
        try:
            detail = await load_plan(self.ctx.client.ops, plan_id)
        except ClientError as exc:
            if generation == self._generation:
                self._show_stale(f"Could not load plan #{plan_id}: {exc}")
            return
        if generation == self._generation and self.plan is not None and self.plan.id == plan_id:
            self.stale.setVisible(False)
            self._show_plan(*detail)
            self.changed.emit()

    def _show_plan(
        self, plan: PlanRow, changes: list[ChangeRow], apply_jobs: list[tuple[str, str]]
    ) -> None:
        same_plan = self.plan is not None and self.plan.id == plan.id
        keep = set(self.selected_change_ids()) if same_plan else set()
        self.plan = plan
        self.changes_tab.set_changes(changes, keep)  # a reload keeps what was selected
        self._apply_jobs = apply_jobs
        self._update_header()
        self.review_view.load(plan.id, self._reviewable(plan))

    def _update_header(self) -> None:
        plan = self.plan
        if plan is None:
            self.plan_title.setText("Select a plan to review its changes")
        else:
            counts = ", ".join(f"{n} {status}" for status, n in sorted(plan.counts.items()))
            self.plan_title.setText(
                f"#{plan.id} {plan.name} — {plan.status}" + (f" ({counts})" if counts else "")
            )
        plan_id = plan.id if plan is not None else None
        if self._apply_info_plan != plan_id:
            # Another plan: show its newest apply job, if it has one.
            self.apply_info.setVisible(False)
            self.last_apply_job_id = self._apply_info_plan = None
            if plan_id is not None and self._apply_jobs:
                job_id, status = self._apply_jobs[0]
                self.last_apply_job_id, self._apply_info_plan = job_id, plan_id
                self.apply_info.set_kind("error" if status in ("failed", "interrupted") else "info")
                self.apply_info.set_text(f"Last apply job: {job_id[:8]} ({status}).")
                self.apply_info.setVisible(True)
        self._update_buttons()

    def _engine_can_apply(self) -> bool:
        types = self.ctx.client.info.get("job_types") or []
        return any(t.get("type") == APPLY_JOB_TYPE for t in types)

    @staticmethod
    def _reviewable(plan: PlanRow | None) -> bool:
        return plan is not None and plan.status in ("pending",) + OPEN_PLAN_STATUSES

    def _update_buttons(self) -> None:
        plan = self.plan
        open_plan = self._reviewable(plan)
        for widget in (self.approve_matching, self.reject_matching):
            widget.setEnabled(open_plan)
        self.changes_tab.set_enabled(open_plan)
        self.cancel_button.setEnabled(
            plan is not None and plan.status not in ("applied", "cancelled")
        )
        can_run = self._engine_can_apply()
        self.apply_button.setEnabled(
            plan is not None and plan.status in OPEN_PLAN_STATUSES and can_run
        )
        if not can_run:
            self.apply_button.setToolTip("The engine has no APPLY_PLAN job type")
        elif plan is not None and plan.status not in OPEN_PLAN_STATUSES:
            self.apply_button.setToolTip(f"The plan is {plan.status}")
        else:
            self.apply_button.setToolTip("Apply the approved changes to Stash")

    # --- review ----------------------------------------------------------------------------------

    def selected_change_ids(self) -> tuple[int, ...]:
        return tuple(change.id for change in self.changes_tab.selected())

    def review_selection(self, approve: bool) -> None:
        ids = self.selected_change_ids()
        if ids:
            self.review(approve, "selected", change_ids=list(ids))

    def review_matching(self, approve: bool) -> None:
        field = self.field_filter.currentData()
        minimum = self.min_confidence.value() or None
        what = []
        if field:
            what.append(f"{field}")
        if minimum:
            what.append(f"confidence ≥ {minimum:.2f}")
        self.review(
            approve,
            "matching " + (" and ".join(what) if what else "(every change)"),
            field=field,
            min_confidence=minimum,
        )

    def review(self, approve: bool, what: str, **selectors: Any) -> None:
        """Approve or reject what ``selectors`` (``review_plan``'s: change_ids, field,
        min_confidence, scene_ids, tag) pick in the shown plan; ``what`` names it."""
        plan = self.plan
        if plan is None:
            return
        verb = "Approved" if approve else "Rejected"
        self._act(
            lambda: self.ctx.client.ops.review_plan(
                plan.id, "approve" if approve else "reject", **selectors
            ),
            lambda result: f"{verb} {humanize.count(result['count'], 'change')} ({what}).",
            "Reviewing changes",
        )

    def save_edit(self) -> None:
        """Send the edited proposed value of the one selected change."""
        plan, ids = self.plan, self.selected_change_ids()
        if plan is None or len(ids) != 1 or not self.save_edit_button.isEnabled():
            return
        change = next(c for c in self.changes.rows if c.id == ids[0])
        try:
            value = self.changes_tab.edited_value(change)
        except ValueError as exc:
            self.message.setText(str(exc))
            return
        self._act(
            lambda: self.ctx.client.ops.edit_change(plan.id, change.id, value),
            lambda _answer: f"Change {change.id} now proposes {humanize.plan_value(value)}.",
            "Editing a change",
        )

    def cancel_selected_plan(self) -> None:
        plan = self.plan
        if plan is None:
            return
        self._act(
            lambda: self.ctx.client.ops.cancel_plan(plan.id),
            lambda _answer: f"Plan #{plan.id} cancelled.",
            "Cancelling the plan",
        )

    def _act(
        self, call: Callable[[], Awaitable[Any]], said: Callable[[Any], str], what: str
    ) -> None:
        """Ask the engine for a change to the plans (``call``), say how it went
        (``said(answer)``, or the error) and reload."""

        async def run() -> None:
            try:
                answer = await call()
            except ClientError as exc:
                self.message.setText(str(exc))
            else:
                self.message.setText(said(answer))
            self.reload()

        self._spawn(run(), what)

    # --- apply -----------------------------------------------------------------------------------

    def apply_plan(self) -> None:
        plan = self.plan
        if plan is None or not self._engine_can_apply():
            return
        self.apply_button.setEnabled(False)
        plan_id = plan.id

        async def run() -> None:
            try:
                launched = await self.ctx.client.ops.apply_plan(plan_id, created_by="user")
            except ClientError as exc:
                self.message.setText(str(exc))
                self._update_buttons()
                return
            job_id = launched["job_id"]
            self.last_apply_job_id = job_id
            self._apply_info_plan = plan_id
            self._apply_jobs.insert(0, (job_id, launched["status"]))
            self.apply_info.set_kind("info")
            self.apply_info.set_text(f"Applying plan #{plan_id}: job {job_id[:8]} launched.")
            self.apply_info.setVisible(True)
            self._update_buttons()

        self._spawn(run(), f"Applying plan #{plan_id}")

    def _view_apply_job(self) -> None:
        if self.last_apply_job_id:
            self.ctx.nav.open_job(self.last_apply_job_id)

    # --- engine events ---------------------------------------------------------------------------

    def _on_job_finished(self, event: JobFinished) -> None:
        if event.job_type not in (APPLY_JOB_TYPE, "ANALYSIS"):
            return
        if event.job_id == self.last_apply_job_id:
            self.apply_info.set_kind("info" if event.status == "completed" else "error")
            self.apply_info.set_text(
                f"Apply job {event.job_id[:8]} {event.status}"
                + (f": {event.error}" if event.error else ".")
            )
        self._schedule_reload()

    def _on_plan_changed(self, _event: PlanChanged) -> None:
        self._schedule_reload()

    def _on_connection_changed(self, event: EngineConnection) -> None:
        if not event.connected:
            why = f" ({event.message})" if event.message else ""
            self._show_stale(f"Not connected to the engine{why}: what is shown may be out of date.")
        elif event.resynced or self.stale.isVisible():
            self._schedule_reload()

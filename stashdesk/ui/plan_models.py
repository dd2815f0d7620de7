"""What the Plans page shows of plans and changes: rows made from the engine's JSON
(``list_plans``, ``get_plan``), the table models that display them, and the "All
changes" tab (the table of every change, with review and edit of a selection)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import (
    QItemSelection,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from stashdesk.timestamps import from_iso
from stashdesk.ui import humanize, theme
from stashdesk.ui.widgets import RowsModel, button, data_table

APPLY_JOB_TYPE = "APPLY_PLAN"
OPEN_PLAN_STATUSES = ("draft", "reviewing")  # the plans review and apply take
CHANGES_PAGE = 2000  # changes asked for per get_plan call
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

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> PlanRow:
        counts = {status: n for status, n in (item.get("change_counts") or {}).items() if n}
        return cls(
            int(item["id"]),
            item.get("name") or "",
            item["status"],
            item.get("job_id"),
            from_iso(item.get("created_at")) or 0.0,
            counts,
        )


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

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> ChangeRow:
        scene_id = str(item["scene_id"])
        return cls(
            int(item["id"]),
            scene_id,
            item.get("scene_title") or f"Scene {scene_id}",
            item.get("scene_path") or "",
            item["field"],
            item["action"],
            item.get("current_value"),
            item.get("proposed_value"),
            float(item.get("confidence") or 0.0),
            item["status"],
            item.get("reason"),
        )


async def load_plans(ops: Any) -> list[PlanRow]:
    return [PlanRow.from_json(item) for item in await ops.list_plans()]


async def load_plan(
    ops: Any, plan_id: int
) -> tuple[PlanRow, list[ChangeRow], list[tuple[str, str]]]:
    """The plan, all its changes (asked for page by page) and its apply jobs (newest
    first)."""
    first = await ops.get_plan(plan_id, offset=0, limit=CHANGES_PAGE)
    items = list(first["change_list"])
    total = int(first.get("changes") or 0)
    while len(items) < total:
        page = await ops.get_plan(plan_id, offset=len(items), limit=CHANGES_PAGE)
        if not page["change_list"]:
            break  # changes went away while paging: show what there is
        items.extend(page["change_list"])
    jobs = [(job["id"], job["status"]) for job in first.get("apply_jobs") or []]
    return PlanRow.from_json(first), [ChangeRow.from_json(item) for item in items], jobs


class PlanListModel(RowsModel):
    COLUMNS = (
        "#",
        "Name",
        "Status",
        "Changes",
        "Pending",
        "Approved",
        "Rejected",
        "Applied",
        "Created",
    )

    def cell(self, plan: PlanRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            counts = plan.counts
            return (
                str(plan.id),
                plan.name,
                plan.status,
                str(plan.total),
                str(counts.get("pending", 0)),
                str(counts.get("approved", 0)),
                str(counts.get("rejected", 0)),
                str(counts.get("applied", 0)),
                humanize.timestamp(plan.created_at),
            )[column]
        if role == Qt.ItemDataRole.ForegroundRole and column == 2:
            return theme.STATUS_COLOURS.get(plan.status)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (0, 3, 4, 5, 6, 7):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


class ChangeModel(RowsModel):
    COLUMNS = ("Scene", "Path", "Field", "Action", "Current", "Proposed", "Confidence", "Status")

    def cell(self, change: ChangeRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                change.title,
                change.path,
                change.field,
                change.action,
                humanize.plan_value(change.current),
                humanize.plan_value(change.proposed),
                f"{change.confidence:.2f}",
                change.status,
            )[column]
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


EDITABLE_STATUSES = ("pending", "approved", "rejected")


class ChangesTab(QWidget):
    """Every change of the plan in a table; the page connects its buttons.

    Attributes:
        changes: the ChangeModel; change_table: its view (extended selection).
        approve_selected, reject_selected: review the selected changes.
        edit_value, save_edit_button: what the one selected change proposes, editable.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 6, 0, 0)
        actions = QHBoxLayout()
        self.approve_selected = button("Approve selected")
        self.reject_selected = button("Reject selected")
        actions.addWidget(self.approve_selected)
        actions.addWidget(self.reject_selected)
        actions.addSpacing(24)
        actions.addWidget(QLabel("Proposed value"))
        self.edit_value = QLineEdit()
        self.edit_value.setPlaceholderText("Select one change to edit what it proposes")
        actions.addWidget(self.edit_value, 1)
        self.save_edit_button = button("Save value")
        actions.addWidget(self.save_edit_button)
        column.addLayout(actions)

        self.changes = ChangeModel(self)
        self.change_table = data_table(self.changes)
        self.change_table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.change_table.horizontalHeader()
        for column_index, width in (
            (0, 170),
            (1, 220),
            (2, 80),
            (3, 70),
            (4, 130),
            (5, 170),
            (6, 96),
            (7, 84),
        ):
            header.resizeSection(column_index, width)
        header.setSectionResizeMode(5, QHeaderView.ResizeMode.Stretch)
        self.change_table.selectionModel().selectionChanged.connect(self._fill_edit)
        column.addWidget(self.change_table, 1)

    def selected(self) -> list[ChangeRow]:
        return [
            self.changes.rows[i.row()] for i in self.change_table.selectionModel().selectedRows()
        ]

    def set_changes(self, changes: list[ChangeRow], keep: set[int]) -> None:
        """Show ``changes``, selecting again those of ``keep`` (ids)."""
        self.changes.set_rows(changes)
        if keep:
            selection = QItemSelection()
            for row, change in enumerate(changes):
                if change.id in keep:
                    selection.select(self.changes.index(row, 0), self.changes.index(row, 0))
            self.change_table.selectionModel().select(
                selection,
                QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows,
            )

    def set_enabled(self, reviewable: bool) -> None:
        selected = self.selected()
        for widget in (self.approve_selected, self.reject_selected):
            widget.setEnabled(reviewable and bool(selected))
        editable = reviewable and len(selected) == 1 and selected[0].status in EDITABLE_STATUSES
        self.edit_value.setEnabled(editable)
        self.save_edit_button.setEnabled(editable)

    def edited_value(self, change: ChangeRow) -> Any:
        """The value typed for ``change``: text for a text value, else JSON (ValueError
        with a sentence when it is not)."""
        text = self.edit_value.text()
        if isinstance(change.proposed, str) or change.proposed is None:
            return text
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError(
                f"The value is not valid JSON (this change proposes "
                f"{type(change.proposed).__name__} data)."
            ) from None

    def _fill_edit(self) -> None:
        selected = self.selected()
        if len(selected) == 1:
            value = selected[0].proposed
            self.edit_value.setText(
                value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            )
        else:
            self.edit_value.clear()

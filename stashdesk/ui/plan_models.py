"""What the Plans page shows of plans and changes: rows made from the engine's JSON
(``list_plans``, ``get_plan``) and the table models that display them."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt

from stashdesk.timestamps import from_iso
from stashdesk.ui import humanize, theme
from stashdesk.ui.widgets import RowsModel

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
        return cls(int(item["id"]), item.get("name") or "", item["status"], item.get("job_id"),
                   from_iso(item.get("created_at")) or 0.0, counts)


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
        return cls(int(item["id"]), scene_id, item.get("scene_title") or f"Scene {scene_id}",
                   item.get("scene_path") or "", item["field"], item["action"],
                   item.get("current_value"), item.get("proposed_value"),
                   float(item.get("confidence") or 0.0), item["status"], item.get("reason"))


async def load_plans(ops: Any) -> list[PlanRow]:
    return [PlanRow.from_json(item) for item in await ops.list_plans()]


async def load_plan(ops: Any, plan_id: int) -> tuple[PlanRow, list[ChangeRow],
                                                        list[tuple[str, str]]]:
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

"""A job's details: metadata, result, error, who launched it, its plan; live.

The dialog is not modal: it is shown with ``show()``, one per job, and follows
the job's progress while it is open.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from stashdesk.events import JobFinished, JobProgressed
from stashdesk.jobs.base import FINAL_STATUSES, JobInfo
from stashdesk.store.models import Plan
from stashdesk.ui import humanize, theme
from stashdesk.ui.context import UiContext
from stashdesk.ui.widgets import button, muted


def _json(value: Any) -> str:
    if value in (None, {}, []):
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _link(text: str, href: str) -> str:
    return f'<a href="{href}">{text}</a>'


class JobDetailsDialog(QDialog):
    """Attributes:
        job_id: the job shown.
        info: its JobInfo as last loaded (None until loaded).
        plan: the plan an ANALYSIS job built, once known.
    """

    def __init__(self, ctx: UiContext, job_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.job_id = job_id
        self.info: JobInfo | None = None
        self.plan: Plan | None = None
        self.setWindowTitle(f"Job {job_id[:8]}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(680, 560)

        layout = QVBoxLayout(self)
        self.heading = QLabel("Loading…")
        self.heading.setProperty("role", "page-title")
        layout.addWidget(self.heading)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setTextVisible(False)
        self.progress_label = muted(wrap=True)
        bar = QHBoxLayout()
        bar.addWidget(self.progress, 1)
        bar.addWidget(self.progress_label, 1)
        layout.addLayout(bar)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.fields: dict[str, QLabel] = {}
        for key, label in (("id", "Job id"), ("status", "Status"), ("launched", "Launched by"),
                           ("parent", "Parent job"), ("plan", "Plan"), ("created", "Created"),
                           ("started", "Started"), ("finished", "Finished"),
                           ("took", "Took")):
            value = QLabel()
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
            value.setOpenExternalLinks(False)
            value.linkActivated.connect(self._link_activated)
            value.setWordWrap(True)
            self.fields[key] = value
            form.addRow(label, value)
        layout.addLayout(form)

        self.error = QLabel()
        self.error.setProperty("error", True)
        self.error.setWordWrap(True)
        self.error.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error.setVisible(False)
        layout.addWidget(self.error)

        self.tabs = QTabWidget()
        self.metadata = QPlainTextEdit()
        self.result = QPlainTextEdit()
        for view in (self.metadata, self.result):
            view.setReadOnly(True)
            view.setProperty("role", "mono")
        self.tabs.addTab(self.result, "Result")
        self.tabs.addTab(self.metadata, "Metadata")
        layout.addWidget(self.tabs, 1)

        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.cancel_button = button("Cancel job", danger=True)
        self.cancel_button.clicked.connect(self._cancel)
        self.cancel_button.setVisible(False)
        close = QPushButton("Close")
        close.clicked.connect(self.close)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(close)
        layout.addLayout(buttons)

        ctx.bridge.job_progressed.connect(self._on_progress)
        ctx.bridge.job_finished.connect(self._on_finished)
        self.reload()

    # --- loading ---------------------------------------------------------------------------------

    def reload(self) -> None:
        async def load() -> tuple[JobInfo, Plan | None]:
            info = await self.ctx.services.runner.get(self.job_id)
            plan = await self.ctx.services.store.read(
                lambda: Plan.get_or_none(Plan.job_id == self.job_id))
            return info, plan

        self.ctx.tasks.spawn(load(), "Loading the job", on_done=self._show)

    def _show(self, loaded: tuple[JobInfo, Plan | None]) -> None:
        info, plan = loaded
        self.info, self.plan = info, plan
        self.heading.setText(f"{info.type} job")
        self.setWindowTitle(f"{info.type} job {info.id[:8]}")
        f = self.fields
        f["id"].setText(info.id)
        f["status"].setText(f'<b style="color:{self._colour(info.status)}">{info.status}</b>')
        if info.created_by and info.created_by in self.ctx.services.manager.handles:
            f["launched"].setText(_link(self.ctx.daemon_display_name(info.created_by),
                                        f"daemon:{info.created_by}"))
        else:
            f["launched"].setText(info.created_by or "—")
        f["parent"].setText(_link(info.parent_id[:8], f"job:{info.parent_id}")
                            if info.parent_id else "—")
        if plan is not None:
            f["plan"].setText(_link(f"#{plan.id} {plan.name} ({plan.status})", f"plan:{plan.id}"))
        elif info.type == "ANALYSIS":
            f["plan"].setText("no plan yet")
        else:
            f["plan"].setText("—")
        f["created"].setText(humanize.full_timestamp(info.created_at))
        f["started"].setText(humanize.full_timestamp(info.started_at) or "not yet")
        f["finished"].setText(humanize.full_timestamp(info.finished_at) or "not yet")
        took = (info.finished_at - info.started_at
                if info.finished_at and info.started_at else None)
        f["took"].setText(humanize.duration(took) if took is not None else "—")
        self.error.setText(info.error or "")
        self.error.setVisible(bool(info.error))
        self.metadata.setPlainText(_json(info.metadata) or "(none)")
        self.result.setPlainText(_json(info.result) or ("(none yet)" if not info.finished
                                                        else "(none)"))
        self._show_progress(info.progress, info.message, info.status)

    @staticmethod
    def _colour(status: str) -> str:
        colour = theme.STATUS_COLOURS.get(status)
        return colour.name() if colour is not None else "#1f2937"

    def _show_progress(self, progress: float, message: str | None, status: str) -> None:
        self.progress.setValue(int(progress))
        self.progress_label.setText(f"{progress:.0f} %" + (f" · {message}" if message else ""))
        active = status not in FINAL_STATUSES
        self.cancel_button.setVisible(
            active and self.ctx.services.runner.snapshot(self.job_id) is not None)
        self.cancel_button.setEnabled(status != "cancelling")

    # --- live ------------------------------------------------------------------------------------

    def _on_progress(self, event: JobProgressed) -> None:
        if event.job_id != self.job_id or self.info is None:
            return
        self.info.progress, self.info.status = event.progress, event.status
        if event.message is not None:
            self.info.message = event.message
        self.fields["status"].setText(
            f'<b style="color:{self._colour(event.status)}">{event.status}</b>')
        self._show_progress(event.progress, self.info.message, event.status)

    def _on_finished(self, event: JobFinished) -> None:
        if event.job_id == self.job_id:
            self.reload()

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)
        self.ctx.tasks.spawn(self.ctx.services.runner.cancel(self.job_id), "Cancelling the job")

    def _link_activated(self, href: str) -> None:
        kind, _, value = href.partition(":")
        if kind == "daemon":
            self.ctx.nav.open_daemon_details(value)
        elif kind == "job":
            self.ctx.nav.open_job(value)
        elif kind == "plan":
            self.ctx.nav.open_plan(int(value))

"""A job's details, written for people: what it is, how it went, what it did; live.

The dialog is not modal: it is shown with ``show()``, one per job, and follows
the job's progress while it is open. It reads the job from the engine
(``ops.get_job``) and shows each field as a labelled row, the job's metadata
and result as "Key: value" rows (``stashdesk.ui.job_text``) and, when the
result lists items the job failed on, those one per line. Cancel is offered
only while the job is active in the engine.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from stashdesk.engine_client.base import ACTIVE_JOB_STATUSES, EngineConnection
from stashdesk.engine_client.errors import ClientError
from stashdesk.events import JobFinished, JobProgressed
from stashdesk.timestamps import from_iso
from stashdesk.ui import humanize, job_text, theme
from stashdesk.ui.context import UiContext
from stashdesk.ui.job_table import JobRow
from stashdesk.ui.widgets import button, flat_scroll, muted, section

# The labelled rows at the top, by key (``fields``), in order.
FIELDS = (
    ("id", "Job id"),
    ("type", "Type"),
    ("status", "Status"),
    ("summary", "Summary"),
    ("launched", "Launched by"),
    ("parent", "Parent job"),
    ("plan", "Plan"),
    ("created", "Created"),
    ("started", "Started"),
    ("finished", "Finished"),
    ("took", "Took"),
    ("progress", "Progress"),
    ("message", "Message"),
    ("error", "Error"),
)


def _link(text: str, href: str) -> str:
    return f'<a href="{href}">{text}</a>'


def _value_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setTextFormat(Qt.TextFormat.PlainText)  # the job's own text, never markup
    return label


def _fill(form: QFormLayout, rows: list[tuple[str, str]], empty: str) -> None:
    while form.rowCount():
        form.removeRow(0)
    if not rows:
        form.addRow(muted(empty))
    for label, value in rows:
        shown = _value_label()
        shown.setText(value)
        form.addRow(f"{label}:", shown)


class JobDetailsDialog(QDialog):
    """Attributes:
    job_id: the job shown.
    job: the job as the engine last answered (``get_job``; None until loaded).
    info: its main fields as a JobRow (times in POSIX seconds; None until loaded).
    plan: the plan an ANALYSIS job built (``get_plan``), once known.
    fields: the value label of each labelled row, by key (see ``FIELDS``).
    metadata_lines, result_lines: the job's metadata and result as shown,
        "Key: value" each.
    failed: the list of the items the job failed on (hidden when there are none).
    load_error: why the job could not be loaded (None: it was).
    """

    def __init__(self, ctx: UiContext, job_id: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.job_id = job_id
        self.job: dict[str, Any] | None = None
        self.info: JobRow | None = None
        self.plan: dict[str, Any] | None = None
        self.metadata_lines: list[str] = []
        self.result_lines: list[str] = []
        self.load_error: str | None = None
        self.setWindowTitle(f"Job {job_id[:8]}")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.resize(680, 620)

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
        # Shown while the link to the engine is down: the rows may be old then.
        self.stale = muted("Not current: the link to the engine is down.", wrap=True)
        self.stale.setVisible(False)
        layout.addWidget(self.stale)

        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(0, 0, 8, 0)
        self.form = QFormLayout()
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.fields: dict[str, QLabel] = {}
        for key, label in FIELDS:
            value = _value_label()
            if key in ("status", "launched", "parent", "plan"):  # links and colour
                value.setTextFormat(Qt.TextFormat.RichText)
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
                value.setOpenExternalLinks(False)
                value.linkActivated.connect(self._link_activated)
            self.fields[key] = value
            self.form.addRow(f"{label}:", value)
        self.error = self.fields["error"]
        self.error.setProperty("error", True)
        column.addLayout(self.form)

        column.addWidget(section("Ran with"))
        self.metadata_form = QFormLayout()
        column.addLayout(self.metadata_form)
        column.addWidget(section("Result"))
        self.result_form = QFormLayout()
        column.addLayout(self.result_form)
        # The JSON behind the rows, for whoever needs the exact keys (a bug report).
        self.raw_button = button("Raw")
        self.raw_button.setCheckable(True)
        self.raw_button.setToolTip(
            "Show the job's metadata and result as the engine keeps them (JSON)"
        )
        self.raw = QPlainTextEdit()
        self.raw.setReadOnly(True)
        self.raw.setVisible(False)
        self.raw.setMinimumHeight(160)
        self.raw_button.toggled.connect(self.raw.setVisible)
        column.addWidget(self.raw_button, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(self.raw)
        for form in (self.metadata_form, self.result_form):
            form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        self.failed_title = section("Failed items")
        self.failed = QListWidget()
        self.failed.setWordWrap(True)
        self.failed.setMinimumHeight(120)
        column.addWidget(self.failed_title)
        column.addWidget(self.failed)
        column.addStretch(1)
        layout.addWidget(flat_scroll(body), 1)
        self._show_failed([])
        self.form.setRowVisible(self.error, False)

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
        ctx.bridge.connection_changed.connect(self._on_connection)
        self.reload()

    @property
    def active(self) -> bool:
        return self.job is not None and self.job["status"] in ACTIVE_JOB_STATUSES

    @property
    def ended(self) -> bool:
        return self.job is not None and not self.active

    # --- loading ---------------------------------------------------------------------------------

    def reload(self) -> None:
        async def load() -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
            try:
                job = await self.ctx.client.ops.get_job(self.job_id)
            except ClientError as exc:
                self._show_load_error(str(exc))
                return None, None
            plan = None
            if job.get("plan_id") is not None:
                try:  # one change is enough: only its name and status are shown
                    plan = await self.ctx.client.ops.get_plan(job["plan_id"], limit=1)
                except ClientError:
                    plan = {"id": job["plan_id"]}
            return job, plan

        self.ctx.tasks.spawn(load(), "Loading the job", on_done=self._show)

    def _show_load_error(self, message: str) -> None:
        self.load_error = message
        if self.job is None:
            self.heading.setText("Could not load this job")
        self.error.setText(f"Could not load the job: {message}")
        self.form.setRowVisible(self.error, True)

    def _show(self, loaded: tuple[dict[str, Any] | None, dict[str, Any] | None]) -> None:
        job, plan = loaded
        if job is None:
            return
        self.job, self.plan, self.load_error = job, plan, None
        self.info = JobRow.from_json(job)
        title = job.get("title") or job["type"]
        self.heading.setText(title)
        self.setWindowTitle(f"{title} {job['id'][:8]}")
        f = self.fields
        f["id"].setText(job["id"])
        f["type"].setText(f"{title} ({job['type']})")
        self._show_status(job["status"], job.get("failure_summary"))
        f["summary"].setText(job.get("summary") or job_text.NOTHING)
        self.form.setRowVisible(f["summary"], bool(job.get("summary")))
        created_by = job.get("created_by")
        if created_by and created_by in self.ctx.client.mirror.daemons:
            f["launched"].setText(
                _link(escape(self.ctx.daemon_display_name(created_by)), f"daemon:{created_by}")
            )
        else:
            f["launched"].setText(escape(created_by or job_text.NOTHING))
        parent_id = job.get("parent_id")
        f["parent"].setText(
            _link(parent_id[:8], f"job:{parent_id}") if parent_id else job_text.NOTHING
        )
        if plan is not None:
            name = f"#{plan['id']} {plan.get('name', '')}".strip()
            if plan.get("status"):
                name += f" ({plan['status']})"
            f["plan"].setText(_link(escape(name), f"plan:{plan['id']}"))
        else:
            f["plan"].setText("no plan yet" if job["type"] == "ANALYSIS" else job_text.NOTHING)
        created, started, finished = (
            from_iso(job.get(k)) for k in ("created_at", "started_at", "finished_at")
        )
        f["created"].setText(humanize.full_timestamp(created) or job_text.NOTHING)
        f["started"].setText(humanize.full_timestamp(started) or "not yet")
        f["finished"].setText(humanize.full_timestamp(finished) or "not yet")
        f["took"].setText(
            humanize.duration(finished - started)
            if finished is not None and started is not None
            else job_text.NOTHING
        )
        self.error.setText(job.get("error") or "")
        self.form.setRowVisible(self.error, bool(job.get("error")))
        metadata, result = job.get("metadata"), job.get("result")
        self.metadata_lines = job_text.lines(metadata)
        self.result_lines = job_text.lines(result)
        _fill(self.metadata_form, job_text.rows(metadata), "nothing")
        _fill(self.result_form, job_text.rows(result), "nothing yet" if self.active else "nothing")
        engine_items = job.get("failed_items")  # the engine's reading of this job type
        self._show_failed(
            [f"{item['item']}: {item['reason']}" for item in engine_items]
            if engine_items
            else job_text.failed_items(result)
        )
        self.raw.setPlainText(
            json.dumps(
                {"metadata": metadata, "result": result}, indent=2, sort_keys=True, default=str
            )
        )
        self._show_progress()

    def _show_failed(self, items: list[str]) -> None:
        self.failed.clear()
        self.failed.addItems(items)
        self.failed_title.setText(f"Failed items ({len(items):,})")
        self.failed_title.setVisible(bool(items))
        self.failed.setVisible(bool(items))

    @staticmethod
    def _colour(status: str) -> str:
        colour = theme.STATUS_COLOURS.get(status)
        return colour.name() if colour is not None else "#1f2937"

    def _show_status(self, status: str, failure_summary: str | None = None) -> None:
        """The status, amber with its failures when a completed job had some."""
        if failure_summary:
            colour = theme.STATUS_COLOURS["interrupted"].name()  # the amber of warnings
            text = f"{status} - {escape(failure_summary)}"
        else:
            colour, text = self._colour(status), status
        self.fields["status"].setText(f'<b style="color:{colour}">{text}</b>')

    def _show_progress(self) -> None:
        if self.job is None:
            return
        progress, message = float(self.job.get("progress") or 0.0), self.job.get("message")
        self.progress.setValue(int(progress))
        self.progress_label.setText(f"{progress:.0f} %" + (f" · {message}" if message else ""))
        self.fields["progress"].setText(f"{progress:.0f} %")
        self.fields["message"].setText(message or job_text.NOTHING)
        # Only the engine's own active jobs can be cancelled (its mirror lists them).
        self.cancel_button.setVisible(
            self.active and self.job_id_full in self.ctx.client.mirror.jobs
        )
        self.cancel_button.setEnabled(
            self.job["status"] != "cancelling" and self.ctx.client.connected
        )

    @property
    def job_id_full(self) -> str:
        """The job's whole id (the dialog may have been opened with a prefix)."""
        return self.job["id"] if self.job is not None else self.job_id

    # --- live ------------------------------------------------------------------------------------

    def _on_progress(self, event: JobProgressed) -> None:
        if event.job_id != self.job_id_full or self.job is None:
            return
        self.job["progress"], self.job["status"] = event.progress, event.status
        if event.message is not None:
            self.job["message"] = event.message
        if self.info is not None:
            self.info.progress, self.info.status = event.progress, event.status
            self.info.message = self.job.get("message")
        self._show_status(event.status, self.job.get("failure_summary") if self.job else None)
        self._show_progress()

    def _on_finished(self, event: JobFinished) -> None:
        if event.job_id == self.job_id_full:
            self.reload()

    def _on_connection(self, event: EngineConnection) -> None:
        self.stale.setVisible(not event.connected)
        if event.connected and event.resynced:
            self.reload()
        elif self.job is not None:
            self._show_progress()

    def _cancel(self) -> None:
        self.cancel_button.setEnabled(False)

        async def cancel() -> None:
            try:
                answer = await self.ctx.client.ops.cancel_job(self.job_id_full)
            except ClientError as exc:
                self.error.setText(f"Could not cancel the job: {exc}")
                self.form.setRowVisible(self.error, True)
                self._show_progress()
                return
            if answer.get("already_ended"):
                self.reload()

        self.ctx.tasks.spawn(cancel(), "Cancelling the job")

    def _link_activated(self, href: str) -> None:
        kind, _, value = href.partition(":")
        if kind == "daemon":
            self.ctx.nav.open_daemon_details(value)
        elif kind == "job":
            self.ctx.nav.open_job(value)
        elif kind == "plan":
            self.ctx.nav.open_plan(int(value))

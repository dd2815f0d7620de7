"""One daemon's card on the Daemons page: what it is doing, live.

The card shows the newest status the bridge hands it (the bridge coalesces
floods), ticks the status's age and the sleep countdown once a second, follows
the progress of the job its daemon waits on, and offers the daemon's controls.

Its badge and accent follow the daemon's health, not only whether its task runs:
a daemon whose last pass failed (a rejected key, a service down) reads
"retrying" in amber with the reason and, where a setting fixes it, a button that
opens that setting.

The job tag and "View job" button do not blink: once a status names a job they
stay for ``JOB_HOLD_SECONDS`` after the last status that named it, unless a
different job replaces them or the daemon stops. A status without a job between
two with a job therefore never hides them. Their space is kept when hidden, so
the card's layout does not jump either.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from stashdesk.events import DaemonStatusChanged, JobProgressed
from stashdesk.ui import humanize, theme
from stashdesk.ui.daemon_health import ATTENTION, HEALTH_LOOK, fix_label, shown_health
from stashdesk.ui.widgets import (
    Banner,
    PulseDot,
    ToggleSwitch,
    badge,
    button,
    muted,
    set_badge,
    tag,
)

JOB_HOLD_SECONDS = 5.0
COUNTDOWN_STEPS = 1000


class DaemonCard(QFrame):
    """A daemon's live card.

    Signals:
        start_requested(str), stop_requested(str), restart_requested(str): by name.
        details_requested(str): the Details button (by name).
        job_requested(str): "View job" (by job id).
        auto_start_toggled(str, bool): the auto-start switch (name, on).
        run_now_requested(str): "Run now" (by name).
        fix_requested(str, str): the health banner's fix button (name, setting key).

    Attributes:
        name: the daemon's name.
        state: running, stopped or error.
        health, health_reason, health_setting: the daemon's health (see
            ``DaemonHealthChanged``), why, and the setting that fixes it.
        message: the status shown (None when cleared).
        job_id, job_type: the job the current status names (None when it names none).
        phase, wake_at, status_at: from the current status.
        shown_job_id, shown_job_type: the job the tag and "View job" button show.
        applied_at: ``time.time()`` when the newest status reached the card.
    """

    start_requested = Signal(str)
    stop_requested = Signal(str)
    restart_requested = Signal(str)
    details_requested = Signal(str)
    job_requested = Signal(str)
    auto_start_toggled = Signal(str, bool)
    run_now_requested = Signal(str)
    fix_requested = Signal(str, str)

    def __init__(
        self, name: str, display_name: str, description: str = "", parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.name = name
        self.display_name = display_name
        self.state = "stopped"
        self.running = False
        self.error: str | None = None
        self.health = "stopped"
        self.health_reason: str | None = None
        self.health_setting: str | None = None
        self.message: str | None = None
        self.job_id: str | None = None
        self.job_type: str | None = None
        self.phase: str | None = None
        self.wake_at: float | None = None
        self.status_at: float | None = None
        self.state_at: float | None = None
        self.applied_at: float | None = None
        self.shown_job_id: str | None = None
        self.shown_job_type: str | None = None
        self._job_seen_at = 0.0  # monotonic
        self._job_progress: float | None = None
        self._job_message: str | None = None
        self._busy = False
        self.setObjectName(f"card-{name}")
        self.setProperty("card", True)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
        self._build(description)
        self._render_state()
        self._render_status()

    # --- layout -----------------------------------------------------------------------------

    def _build(self, description: str) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(16, 14, 16, 14)
        outer.setSpacing(8)

        head = QHBoxLayout()
        head.setSpacing(8)
        self.pulse = PulseDot()
        self.title = QLabel(self.display_name)
        self.title.setProperty("role", "card-title")
        self.badge = badge("stopped", "stopped")
        head.addWidget(self.pulse)
        head.addWidget(self.title)
        head.addWidget(self.badge)
        head.addStretch(1)
        self.auto_start_label = muted("Auto-start")
        self.auto_start = ToggleSwitch()
        self.auto_start.setToolTip("Start this daemon whenever StashDesk starts")
        self.auto_start.toggled.connect(lambda on: self.auto_start_toggled.emit(self.name, on))
        head.addWidget(self.auto_start_label)
        head.addWidget(self.auto_start)
        outer.addLayout(head)

        if description:
            outer.addWidget(muted(description, wrap=True))

        self.status_label = QLabel()
        self.status_label.setProperty("role", "status")
        self.status_label.setWordWrap(True)  # wraps between words, never inside one
        self.status_label.setTextFormat(Qt.TextFormat.PlainText)  # "<" is text, not markup
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status_label.setMinimumHeight(20)
        outer.addWidget(self.status_label)

        bar_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setTextVisible(False)
        self.progress.setRange(0, 100)
        self.progress_label = muted()
        self.progress_label.setMinimumWidth(150)
        self.progress_label.setAlignment(
            Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        )
        bar_row.addWidget(self.progress, 1)
        bar_row.addWidget(self.progress_label)
        self.progress_row = QWidget()
        self.progress_row.setLayout(bar_row)
        bar_row.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.progress_row)

        info = QHBoxLayout()
        self.age_label = muted()
        info.addWidget(self.age_label, 1)
        self.job_tag = tag("")
        self.view_job = QPushButton("View job")
        self.view_job.setToolTip("Open the job this status names")
        self.view_job.clicked.connect(self._view_job_clicked)
        for widget in (self.job_tag, self.view_job):
            policy = widget.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            widget.setSizePolicy(policy)
            widget.setVisible(False)
        info.addWidget(self.job_tag)
        info.addWidget(self.view_job)
        outer.addLayout(info)

        self.error_label = QLabel()
        self.error_label.setProperty("error", True)
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setVisible(False)
        outer.addWidget(self.error_label)

        self.health_banner = Banner("warning", action="Fix")
        self.health_banner.label.setTextFormat(Qt.TextFormat.PlainText)
        self.health_banner.action_clicked.connect(self._fix_clicked)
        self.health_banner.setVisible(False)
        outer.addWidget(self.health_banner)

        actions = QHBoxLayout()
        self.start_button = button("Start", primary=True)
        self.stop_button = button("Stop", danger=True)
        self.restart_button = button("Restart")
        self.run_now_button = button("Run now")
        self.run_now_button.setToolTip(
            "Check now, whatever the interval and processing windows say"
        )
        self.details_button = button("Details")
        self.start_button.clicked.connect(lambda: self.start_requested.emit(self.name))
        self.stop_button.clicked.connect(lambda: self.stop_requested.emit(self.name))
        self.restart_button.clicked.connect(lambda: self.restart_requested.emit(self.name))
        self.details_button.clicked.connect(lambda: self.details_requested.emit(self.name))
        self.run_now_button.clicked.connect(lambda: self.run_now_requested.emit(self.name))
        for widget in (
            self.start_button,
            self.stop_button,
            self.restart_button,
            self.run_now_button,
        ):
            actions.addWidget(widget)
        actions.addStretch(1)
        actions.addWidget(self.details_button)
        outer.addLayout(actions)

    # --- inputs -------------------------------------------------------------------------------

    def set_state(
        self, state: str, *, running: bool, error: str | None = None, at: float | None = None
    ) -> None:
        """The daemon's lifecycle state (and whether its task is alive)."""
        self.state, self.running, self.error = state, running, error
        self.state_at = at
        if state == "stopped":
            self._clear_status()
        self._render_state()
        self._render_status()

    def set_health(
        self, health: str, reason: str | None = None, setting: str | None = None
    ) -> None:
        """The daemon's health; back to ``ok`` as soon as a pass succeeds."""
        self.health, self.health_reason, self.health_setting = health, reason, setting
        self._render_state()

    def set_auto_start(self, on: bool) -> None:
        self.auto_start.blockSignals(True)
        self.auto_start.setChecked(on)
        self.auto_start.blockSignals(False)

    def set_busy(self, busy: bool) -> None:
        """An action (start, stop, restart) is under way: its buttons wait."""
        self._busy = busy
        self._render_state()

    def apply_status(
        self, event: DaemonStatusChanged, last_job: DaemonStatusChanged | None = None
    ) -> None:
        """Show ``event``; ``last_job`` is the newest coalesced status that named a job."""
        self.applied_at = time.time()
        if event.message is None:
            self._clear_status()
            self._render_status()
            return
        previous_job = self.job_id
        self.message, self.job_id, self.job_type = event.message, event.job_id, event.job_type
        self.phase, self.wake_at, self.status_at = event.phase, event.wake_at, event.at
        job_event = event if event.job_id is not None else last_job
        if job_event is not None and job_event.job_id is not None:
            self._show_job(job_event.job_id, job_event.job_type)
        if self.job_id != previous_job:
            self._job_progress, self._job_message = None, None
        self._render_status()

    def apply_progress(self, event: JobProgressed) -> None:
        """Progress of a job; ignored unless it is the job the daemon waits on."""
        if event.job_id != self.job_id:
            return
        self.set_job_progress(event.progress, event.message)

    def set_job_progress(self, progress: float | None, message: str | None) -> None:
        self._job_progress, self._job_message = progress, message
        self._render_progress(time.time())
        self._render_age(time.time())

    def tick(self, now: float | None = None) -> None:
        """Once a second: the age, the countdown, and the job button's hold time."""
        now = time.time() if now is None else now
        if (
            self.shown_job_id is not None
            and self.job_id is None
            and time.monotonic() - self._job_seen_at > JOB_HOLD_SECONDS
        ):
            self._hide_job()
        self._render_age(now)
        if self.phase == "sleeping":
            self._render_progress(now)

    # --- what the card shows (tests, the self-check) ------------------------------------------

    def status_text(self) -> str:
        return self.status_label.text()

    def progress_text(self) -> str:
        return self.progress_label.text()

    def age_text(self) -> str:
        return self.age_label.text()

    @property
    def job_progress(self) -> float | None:
        return self._job_progress

    def job_button_visible(self) -> bool:
        return not self.view_job.isHidden()

    # --- internals -------------------------------------------------------------------------------

    def _clear_status(self) -> None:
        self.message = self.job_id = self.job_type = self.phase = None
        self.wake_at = self.status_at = None
        self._job_progress = self._job_message = None
        self._hide_job()

    def _show_job(self, job_id: str, job_type: str | None) -> None:
        self._job_seen_at = time.monotonic()
        if job_id == self.shown_job_id:
            return
        self.shown_job_id, self.shown_job_type = job_id, job_type
        self.job_tag.setText(job_type or "job")
        self.job_tag.setVisible(True)
        self.view_job.setVisible(True)
        self.view_job.setToolTip(f"Open {job_type or 'job'} {job_id}")

    def _hide_job(self) -> None:
        if self.shown_job_id is None:
            return
        self.shown_job_id = self.shown_job_type = None
        self.job_tag.setVisible(False)
        self.view_job.setVisible(False)

    def _view_job_clicked(self) -> None:
        if self.shown_job_id is not None:
            self.job_requested.emit(self.shown_job_id)

    def shown_health(self) -> str:
        return shown_health(self.state, self.health)

    def badge_text(self) -> str:
        return self.badge.text()

    def _fix_clicked(self) -> None:
        if self.health_setting:
            self.fix_requested.emit(self.name, self.health_setting)

    def _render_state(self) -> None:
        health = self.shown_health()
        text, kind, accent = HEALTH_LOOK[health]
        set_badge(self.badge, text, kind)
        theme.set_property(self, "health", accent or "")
        self.start_button.setEnabled(not self.running and not self._busy)
        self.stop_button.setEnabled(self.running and not self._busy)
        self.restart_button.setEnabled(self.running and not self._busy)
        self.run_now_button.setEnabled(self.running and not self._busy)
        troubled = health in ATTENTION and bool(self.health_reason) and self.state != "error"
        if troubled:
            self.health_banner.set_kind("error" if health == "error" else "warning")
            self.health_banner.set_text(self.health_reason or "")
            self.health_banner.set_action(fix_label(self.health_setting))
        self.health_banner.setVisible(troubled)
        if self.state == "error" and self.error:
            self.error_label.setText(
                f"Crashed: {self.error}. StashDesk restarts it by itself; see Details for the log."
            )
            self.error_label.setVisible(True)
        else:
            self.error_label.setVisible(False)

    def _render_status(self) -> None:
        now = time.time()
        if self.message is not None:
            self.status_label.setText(self.message)
        elif self.state == "running":
            self.status_label.setText("Starting…")
        elif self.state == "error":
            self.status_label.setText("Not running: it crashed.")
        else:
            self.status_label.setText(
                "Stopped. Start it here, or switch on auto-start to run "
                "it whenever StashDesk starts."
            )
        self.pulse.set_mode(self.phase if self.state == "running" and self.message else None)
        self._render_progress(now)
        self._render_age(now)

    def _render_progress(self, now: float) -> None:
        bar = self.progress
        if self.state != "running" or self.message is None:
            self.progress_row.setVisible(False)
            return
        self.progress_row.setVisible(True)
        if self.phase == "waiting" and self.job_id is not None:
            bar.setRange(0, 100)
            value = self._job_progress or 0.0
            bar.setValue(int(value))
            self.progress_label.setText(f"job {value:.0f} %")
            bar.setToolTip(self._job_message or "")
        elif self.phase == "sleeping" and self.wake_at is not None:
            total = max(0.001, self.wake_at - (self.status_at or now))
            left = max(0.0, self.wake_at - now)
            bar.setRange(0, COUNTDOWN_STEPS)
            bar.setValue(int(COUNTDOWN_STEPS * left / total))
            text = f"next check {humanize.countdown(left)}" if left > 0.5 else "checking now"
            if left >= 60:  # long waits also say when, as a time of day
                text += f" · {humanize.clock(self.wake_at, now=now)}"
            self.progress_label.setText(text)
            bar.setToolTip("Time left before the next check")
        else:
            if bar.maximum() != 0:
                bar.setRange(0, 0)  # busy
            self.progress_label.setText("working…")
            bar.setToolTip("")

    def _render_age(self, now: float) -> None:
        if self.status_at is not None and self.message is not None:
            text = f"updated {humanize.age(now - self.status_at)}"
            if self.phase == "waiting" and self._job_message:
                text += f" · {self._job_message}"
        elif self.state in ("stopped", "error") and self.state_at is not None:
            text = (
                f"{'stopped' if self.state == 'stopped' else 'crashed'} "
                f"{humanize.age(now - self.state_at)}"
            )
        else:
            text = ""
        if self.age_label.text() != text:
            self.age_label.setText(text)

"""The bus -> Qt bridge: engine events become Qt signals on the GUI thread.

The engine's bus calls its listeners inline, on the event loop's thread, which
in the window is the GUI thread (qasync). The bridge keeps those listeners
cheap: rare events (state changes, job progress, notifications) are re-emitted
at once; the frequent ones are coalesced.

Status updates are coalesced per daemon: only the newest status of each daemon
is kept, and a flush emits it at most every ``FLUSH_INTERVAL`` seconds. The
first update after a quiet spell goes out on the next turn of the event loop,
so a single update reaches its card within a few milliseconds, while a flood
of thousands per second costs one repaint per card per flush. The newest status
is never dropped: a flush is always pending while something is queued. Along
with the newest status the flush passes the newest status *that named a job*
among those it replaced, so a card never misses a job that came and went
between two flushes. Log lines are batched the same way.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, QTimer, Signal, SignalInstance

from stashdesk.engine_client.base import EngineConnection
from stashdesk.events import (
    DaemonConfigChanged,
    DaemonHealthChanged,
    DaemonJobActionTracked,
    DaemonLogged,
    DaemonStateChanged,
    DaemonStatusChanged,
    Event,
    EventBus,
    HealthChecked,
    JobCreated,
    JobFinished,
    JobProgressed,
    Notification,
    PlanChanged,
    SettingsChanged,
)

FLUSH_INTERVAL = 0.033  # seconds: about 30 repaints per second per card at most


class EventBridge(QObject):
    """Re-emits bus events as Qt signals.

    Signals:
        status_changed(DaemonStatusChanged, DaemonStatusChanged | None): the newest
            status of one daemon, and the newest status with a job among those this
            flush coalesced (None when there was none).
        state_changed(DaemonStateChanged)
        logged(list[DaemonLogged]): log lines since the last flush, oldest first.
        job_action(DaemonJobActionTracked)
        job_created(JobCreated), job_progressed(JobProgressed), job_finished(JobFinished)
        notification(Notification)
        health_changed(DaemonHealthChanged), config_changed(DaemonConfigChanged)
        plan_changed(PlanChanged), settings_changed(SettingsChanged)
        health_checked(HealthChecked): the health checks ran (their results)
        connection_changed(EngineConnection): the link to the engine went down or came
            back (``resynced``: views reload what they show).
        flushed(): after each status flush (the tray and benchmarks listen).

    Attributes:
        flushes: how many status flushes ran (for tests and the benchmark).
    """

    status_changed = Signal(object, object)
    state_changed = Signal(object)
    logged = Signal(list)
    job_action = Signal(object)
    job_created = Signal(object)
    job_progressed = Signal(object)
    job_finished = Signal(object)
    notification = Signal(object)
    health_changed = Signal(object)
    config_changed = Signal(object)
    plan_changed = Signal(object)
    settings_changed = Signal(object)
    health_checked = Signal(object)
    connection_changed = Signal(object)
    flushed = Signal()
    _from_other_thread = Signal(object)

    def __init__(
        self, bus: EventBus, parent: QObject | None = None, interval: float = FLUSH_INTERVAL
    ) -> None:
        super().__init__(parent)
        self.interval = interval
        self.flushes = 0
        self._gui_thread = threading.get_ident()
        self._statuses: dict[str, DaemonStatusChanged] = {}
        self._job_statuses: dict[str, DaemonStatusChanged] = {}
        self._logs: list[DaemonLogged] = []
        self._last_flush = 0.0
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self.flush)
        self._from_other_thread.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        self._direct: dict[type[Event], SignalInstance] = {
            DaemonStateChanged: self.state_changed,
            DaemonJobActionTracked: self.job_action,
            JobCreated: self.job_created,
            JobProgressed: self.job_progressed,
            JobFinished: self.job_finished,
            Notification: self.notification,
            DaemonHealthChanged: self.health_changed,
            DaemonConfigChanged: self.config_changed,
            PlanChanged: self.plan_changed,
            SettingsChanged: self.settings_changed,
            HealthChecked: self.health_checked,
            EngineConnection: self.connection_changed,
        }
        self._unlisten: Callable[[], None] | None = bus.listen(
            self._on_event, DaemonStatusChanged, DaemonLogged, *self._direct
        )

    def close(self) -> None:
        """Stop listening to the bus (the window is going away)."""
        if self._unlisten is not None:
            self._unlisten()
            self._unlisten = None
        self._timer.stop()

    def _on_event(self, event: Event) -> None:
        if threading.get_ident() != self._gui_thread:
            self._from_other_thread.emit(event)  # queued to the GUI thread
            return
        if isinstance(event, DaemonStatusChanged):
            self._statuses[event.daemon] = event
            if event.job_id is not None:
                self._job_statuses[event.daemon] = event
            self._schedule()
        elif isinstance(event, DaemonLogged):
            self._logs.append(event)
            self._schedule()
        else:
            signal = self._direct.get(type(event))
            if signal is not None:
                signal.emit(event)

    def _schedule(self) -> None:
        if self._timer.isActive():
            return
        wait = self.interval - (time.monotonic() - self._last_flush)
        # Quiet until now: go on the next turn of the loop, which still gathers
        # everything published in the same burst.
        self._timer.start(max(0, int(wait * 1000)))

    def flush(self) -> None:
        """Emit what is queued now (also used by tests to skip the wait)."""
        self._timer.stop()
        self._last_flush = time.monotonic()
        statuses, self._statuses = self._statuses, {}
        job_statuses, self._job_statuses = self._job_statuses, {}
        logs, self._logs = self._logs, []
        for daemon, event in statuses.items():
            self.status_changed.emit(event, job_statuses.get(daemon))
        if logs:
            self.logged.emit(logs)
        if statuses:
            self.flushes += 1
            self.flushed.emit()

"""Every operation of the engine API, implemented once, on one engine's services.

The in-process client calls these methods directly; the HTTP API is a thin layer
over them; the remote client is their mirror over the network. Arguments and
results are JSON values, and the field names are the ones the CLI's ``--json``
output uses (times as ISO 8601 text), so ``stashdesk jobs list --json`` and
``GET /api/v1/jobs`` agree. Errors are ``stashdesk.engine_client.errors`` classes.

``live=False`` is the CLI's view of a data folder no engine runs on: reads come
from the database, daemons show as stopped, and what needs running daemons or the
job runner raises ``EngineNotRunning``.

One module per group (engine, daemons, jobs, plans, analysis, history,
notifications, settings); ``Operations`` is all of them.
"""

from __future__ import annotations

from stashdesk.api.operations.analysis import AnalysisOperations
from stashdesk.api.operations.common import (
    DAEMON_ACTIONS,
    OperationsBase,
    WindowHooks,
    check_id,
    check_limit,
    job_as_json,
)
from stashdesk.api.operations.daemons import DaemonOperations
from stashdesk.api.operations.engine import EngineOperations
from stashdesk.api.operations.history import HistoryOperations
from stashdesk.api.operations.jobs import JobOperations
from stashdesk.api.operations.notifications import NotificationOperations
from stashdesk.api.operations.plans import PlanOperations
from stashdesk.api.operations.settings import SettingOperations

__all__ = [
    "DAEMON_ACTIONS",
    "Operations",
    "OperationsBase",
    "WindowHooks",
    "check_id",
    "check_limit",
    "job_as_json",
]


class Operations(
    EngineOperations,
    DaemonOperations,
    JobOperations,
    PlanOperations,
    AnalysisOperations,
    HistoryOperations,
    NotificationOperations,
    SettingOperations,
):
    """The engine API's operations on ``services`` (see the module docstring)."""

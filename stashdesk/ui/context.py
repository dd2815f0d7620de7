"""What every page needs: the engine's client, the bridge, a task keeper and a
way to open other views (the main window implements ``Navigator``).

Pages talk to the engine only through ``client`` (``client.ops`` for calls,
``client.mirror`` for the live picture of daemons and jobs), so they cannot tell
an engine in this process from one on another machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from stashdesk.engine_client.base import EngineClient
    from stashdesk.ui.bridge import EventBridge
    from stashdesk.ui.tasks import TaskKeeper


class Navigator(Protocol):
    def open_job(self, job_id: str) -> object: ...

    def open_daemon_details(self, name: str, tab: str | None = None) -> object: ...

    def open_plan(self, plan_id: int) -> None: ...

    def open_settings(self, group: str | None = None, reason: str | None = None) -> object: ...

    def show_message(self, text: str, *, error: bool = False) -> None: ...


@dataclass
class UiContext:
    client: EngineClient
    bridge: EventBridge
    tasks: TaskKeeper
    nav: Navigator

    def daemon_display_name(self, name: str | None) -> str:
        return self.client.mirror.display_name(name)

"""What every page needs: the engine's services, the bridge, a task keeper and a
way to open other views (the main window implements ``Navigator``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from stashdesk.app import Services
    from stashdesk.ui.bridge import EventBridge
    from stashdesk.ui.tasks import TaskKeeper


class Navigator(Protocol):
    def open_job(self, job_id: str) -> None: ...

    def open_daemon_details(self, name: str, tab: str | None = None) -> None: ...

    def open_plan(self, plan_id: int) -> None: ...

    def show_message(self, text: str, *, error: bool = False) -> None: ...


@dataclass
class UiContext:
    services: Services
    bridge: EventBridge
    tasks: TaskKeeper
    nav: Navigator

    def daemon_display_name(self, name: str | None) -> str:
        if not name:
            return ""
        handle = self.services.manager.handles.get(name)
        return handle.cls.display_name if handle is not None else name

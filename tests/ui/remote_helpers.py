"""Views over a RemoteClient: a started engine's own API over real HTTP on loopback.

The window's other pages do not speak to a remote engine yet, so these tests build
the view they check on a UiContext of its own instead of a whole MainWindow.
"""

from __future__ import annotations

from typing import Any

from stashdesk.engine_client.remote import RemoteClient
from stashdesk.ui.bridge import EventBridge
from stashdesk.ui.context import UiContext
from stashdesk.ui.tasks import TaskKeeper


class RecordingNav:
    """The Navigator of a view shown on its own: records what it asks to open.

    Attributes:
        jobs: job ids asked for, in order.
        messages: (text, error) shown.
    """

    def __init__(self) -> None:
        self.jobs: list[str] = []
        self.messages: list[tuple[str, bool]] = []

    def open_job(self, job_id: str) -> None:
        self.jobs.append(job_id)

    def open_daemon_details(self, name: str, tab: str | None = None) -> None:
        pass

    def open_plan(self, plan_id: int) -> None:
        pass

    def open_settings(self, group: str | None = None, reason: str | None = None) -> Any:
        return None

    def show_message(self, text: str, *, error: bool = False) -> None:
        self.messages.append((text, error))


async def remote_client(engines: Any) -> RemoteClient:
    """A started RemoteClient of the newest engine of ``engines`` (its API listens on a
    loopback port of its own; the key is the engine's)."""
    engine = engines.engine
    key = engine.services.settings.get("api.key")
    client = RemoteClient(f"http://127.0.0.1:{engine.api.port}", key)
    await client.start()
    return client


def remote_context(client: RemoteClient) -> tuple[UiContext, RecordingNav]:
    nav = RecordingNav()
    tasks = TaskKeeper(on_error=lambda text: nav.show_message(text, error=True))
    return UiContext(client, EventBridge(client.bus), tasks, nav), nav

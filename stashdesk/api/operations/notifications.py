"""Notification targets (Apprise URLs) and their events."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from stashdesk.api.operations.common import (
    OperationsBase,
)
from stashdesk.engine_client.errors import (
    BadRequest,
    NotFound,
)

T = TypeVar("T")


class NotificationOperations(OperationsBase):
    """Operations on notification (see the module docstring)."""

    async def _targets_call(self, call: Callable[[], Awaitable[T]]) -> T:
        from stashdesk.notifications.catalog import NotificationSetupError

        center = self.services.notifications
        if not self.live:
            await center.reload_targets()  # another process may have changed them
        try:
            return await call()
        except NotificationSetupError as exc:
            raise BadRequest(str(exc)) from None
        except LookupError as exc:
            raise NotFound(str(exc).strip("'\"")) from None

    async def notification_events(self) -> list[dict[str, Any]]:
        """Every event a target can ask for, with what it means."""
        return self.services.notifications.events()

    async def list_notification_targets(self) -> list[dict[str, Any]]:
        """Every target (its URL masked) with the events it wants and its last delivery."""
        center = self.services.notifications

        async def listing() -> list[dict[str, Any]]:
            return center.list_targets()

        return await self._targets_call(listing)

    async def add_notification_target(self, name: str, url: str, events: Any) -> dict[str, Any]:
        center = self.services.notifications
        return await self._targets_call(lambda: center.add_target(name, url, events))

    async def edit_notification_target(
        self,
        name: str,
        new_name: str | None = None,
        url: str | None = None,
        events: Any = None,
        enabled: bool | None = None,
    ) -> dict[str, Any]:
        center = self.services.notifications
        return await self._targets_call(
            lambda: center.edit_target(
                name, new_name=new_name, url=url, events=events, enabled=enabled
            )
        )

    async def remove_notification_target(self, name: str) -> dict[str, Any]:
        center = self.services.notifications
        return await self._targets_call(lambda: center.remove_target(name))

    async def test_notification_targets(self, name: str | None = None) -> list[dict[str, Any]]:
        """Send a test message to ``name`` (or to every target) and say how it went."""
        center = self.services.notifications
        try:
            return await self._targets_call(lambda: center.test_targets(name))
        finally:
            if not self.live:
                center.close()

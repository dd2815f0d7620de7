"""Notification targets' rows (their URLs are secrets, kept elsewhere).

Blocking Peewee functions for ``Store.read``/``Store.write`` and the writer thread,
where ``stashdesk.notifications.targets`` calls them.
"""

from __future__ import annotations

from typing import Any

from stashdesk.store.models import NotificationTarget
from stashdesk.store.typed import rows_changed


def notification_target_rows() -> list[NotificationTarget]:
    """Every notification target, by name."""
    return list(NotificationTarget.select().order_by(NotificationTarget.name))


def create_notification_target(name: str, events: list[str], now: float) -> int:
    """Add a target (enabled) wanting ``events``; returns its id."""
    row = NotificationTarget.create(name=name, events=events, created_at=now, updated_at=now)
    return row.id


def update_notification_target(target_id: int, **fields: Any) -> int:
    """Set ``fields`` of the target's row; returns how many rows changed."""
    return rows_changed(
        NotificationTarget.update(**fields).where(NotificationTarget.id == target_id)
    )


def delete_notification_target(target_id: int) -> int:
    """Remove the target's row; returns how many rows went."""
    return rows_changed(NotificationTarget.delete().where(NotificationTarget.id == target_id))

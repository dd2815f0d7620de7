"""Setting rows: the user's settings, and where each secret lives (``secret:<key>``).

Synchronous Peewee functions, called where ``stashdesk.settings`` always ran its
statements (the CLI directly, the engine from its store threads).
"""

from __future__ import annotations

from typing import Any

from stashdesk.store.models import Setting


def setting_value(key: str) -> Any:
    """The stored (JSON) value of the setting row ``key``, or None when there is none."""
    row = Setting.get_or_none(Setting.key == key)
    return row.value if row is not None else None


def save_setting(key: str, value: Any) -> None:
    """Store ``value`` under ``key`` (replacing what was there)."""
    Setting.insert(key=key, value=value).on_conflict_replace().execute()


def delete_setting(key: str) -> None:
    """Forget the setting row ``key``."""
    Setting.delete().where(Setting.key == key).execute()


def settings_not_starting_with(prefix: str) -> list[tuple[str, Any]]:
    """(key, value) of every setting row whose key does not start with ``prefix``."""
    return [(row.key, row.value) for row in Setting.select().where(~Setting.key.startswith(prefix))]

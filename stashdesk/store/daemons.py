"""Daemon rows as the database holds them (what a CLI sees when no engine runs)."""

from __future__ import annotations

from collections.abc import Iterable

from stashdesk.store.models import Daemon


def daemon_rows(names: Iterable[str]) -> dict[str, Daemon]:
    """The rows of ``names`` that exist, by name (read-only: nothing is created)."""
    names = list(names)
    return {row.name: row for row in Daemon.select().where(Daemon.name.in_(names))}


def save_daemon_flags(name: str, default_config: dict, **fields: object) -> None:
    """Create the row if missing, then update ``fields`` (enabled, auto_start, config)."""
    Daemon.get_or_create(name=name, defaults={"config": default_config})
    Daemon.update(**fields).where(Daemon.name == name).execute()

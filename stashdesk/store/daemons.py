"""Daemon rows as the database holds them (what a CLI sees when no engine runs)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stashdesk.store.models import Daemon, DaemonJobAction
from stashdesk.store.typed import get_or_create, rows_changed


def daemon_rows(names: Iterable[str]) -> dict[str, Daemon]:
    """The rows of ``names`` that exist, by name (read-only: nothing is created)."""
    names = list(names)
    return {row.name: row for row in Daemon.select().where(Daemon.name.in_(names))}


def save_daemon_flags(name: str, default_config: dict[str, Any], **fields: object) -> None:
    """Create the row if missing, then update ``fields`` (enabled, auto_start, config)."""
    get_or_create(Daemon, name=name, defaults={"config": default_config})
    Daemon.update(**fields).where(Daemon.name == name).execute()


def load_daemon_rows(defaults: dict[str, dict[str, Any]]) -> tuple[list[Daemon], list[str]]:
    """Create the missing rows of ``defaults`` (name -> default config) and reset the
    status of rows a process left behind; returns the rows and the names that were
    left running (writer thread)."""
    names = list(defaults)
    repaired = []
    for name in names:
        row, _created = get_or_create(Daemon, name=name, defaults={"config": defaults[name]})
        if row.state != "stopped" or row.current_status is not None:
            if row.state == "running":
                repaired.append(name)
            Daemon.update(
                state="stopped",
                current_status=None,
                current_job_id=None,
                current_job_type=None,
                current_phase=None,
                wake_at=None,
                status_updated_at=None,
            ).where(Daemon.name == name).execute()
    rows = list(Daemon.select().where(Daemon.name.in_(names)))
    return rows, repaired


def update_daemon(name: str, **fields: object) -> int:
    """Set ``fields`` of the daemon's row; returns how many rows changed."""
    return rows_changed(Daemon.update(**fields).where(Daemon.name == name))


def daemon_row(name: str) -> Daemon:
    """The daemon's row (it exists once the manager has loaded)."""
    return Daemon.get(Daemon.name == name)


def record_job_action(daemon: str, job_id: str, action: str, reason: str | None, at: float) -> None:
    """Append what happened to one of a daemon's jobs (LAUNCHED, FINISHED, ...)."""
    DaemonJobAction.create(daemon=daemon, job_id=job_id, action=action, reason=reason, at=at)

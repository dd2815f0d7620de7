"""Daemons: the status rows, start/stop/restart, Run now, enabling, configuration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stashdesk.engine_client.errors import (
    BadRequest,
    Conflict,
)
from stashdesk.options import OptionError
from stashdesk.store import daemons as daemon_store
from stashdesk.timestamps import iso

if TYPE_CHECKING:
    from stashdesk.daemons.manager import DaemonHandle

from stashdesk.api.operations.common import (
    DAEMON_ACTIONS,
    OperationsBase,
)


class DaemonOperations(OperationsBase):
    """Operations on daemon (see the module docstring)."""

    def _live_daemon(self, h: DaemonHandle) -> dict[str, Any]:
        d = h.instance
        status = d.status if d is not None else None
        current = d if d is not None and status is not None else None  # reporting a status
        return {
            "name": h.name,
            "display_name": h.cls.display_name,
            "description": h.cls.description,
            "state": h.state,
            "running": h.running,
            "enabled": h.enabled,
            "auto_start": h.auto_start,
            "current_status": status,
            "current_job_id": current.job_id if current is not None else None,
            "current_job_type": current.job_type if current is not None else None,
            "current_phase": current.phase if current is not None else None,
            "status_updated_at": iso(current.status_at) if current is not None else None,
            "wake_at": iso(current.wake_at) if current is not None else None,
            "last_heartbeat": iso(d.heartbeat_at) if d is not None else None,
            "last_error": h.last_error,
            "started_at": iso(h.started_at),
            "health": h.health,
            "health_reason": h.health_reason,
            "health_setting": h.health_setting,
            "next_check_at": iso(self.services.manager.next_check_at(h.name)),
            "config": dict(h.config),
        }

    @staticmethod
    def _stored_daemon(h: DaemonHandle, row: Any) -> dict[str, Any]:
        """What the database says of a daemon no engine runs: stopped, whatever it says."""
        return {
            "name": h.name,
            "display_name": h.cls.display_name,
            "description": h.cls.description,
            "state": "stopped",
            "running": False,
            "enabled": row.enabled if row else False,
            "auto_start": row.auto_start if row else True,
            "current_status": None,
            "current_job_id": None,
            "current_job_type": None,
            "current_phase": None,
            "status_updated_at": None,
            "wake_at": None,
            "last_heartbeat": iso(row.last_heartbeat) if row else None,
            "last_error": row.last_error if row else None,
            "started_at": iso(row.started_at) if row else None,
            "health": "stopped",
            "health_reason": None,
            "health_setting": None,
            "next_check_at": None,
            "config": h.cls.load_config((row.config if row else None) or {}),
            # what it last said, for a listing that explains the engine is not running
            "last_status": row.current_status if row else None,
            "last_state": row.state if row else "stopped",
        }

    async def list_daemons(self) -> list[dict[str, Any]]:
        handles = list(self.services.manager.handles.values())
        if self.live:
            return [self._live_daemon(h) for h in handles]
        rows = await self.store.read(lambda: daemon_store.daemon_rows(h.name for h in handles))
        return [self._stored_daemon(h, rows.get(h.name)) for h in handles]

    async def get_daemon(self, name: str) -> dict[str, Any]:
        h = self._handle(name)
        if self.live:
            return self._live_daemon(h)
        rows = await self.store.read(lambda: daemon_store.daemon_rows([h.name]))
        return self._stored_daemon(h, rows.get(h.name))

    async def daemon_action(self, name: str | None, action: str) -> dict[str, Any]:
        """start | stop | restart one daemon; ``name`` None acts on every daemon."""
        if action not in DAEMON_ACTIONS:
            raise BadRequest(
                f"unknown daemon action {action!r} (known: {', '.join(DAEMON_ACTIONS)})"
            )
        manager = self.services.manager
        if name is None:
            self._need_engine(f"{action.capitalize()}ing the daemons")
            await getattr(manager, f"{action}_all")()
            return {
                "daemons": [{"name": h.name, "state": h.state} for h in manager.handles.values()]
            }
        h = self._handle(name)
        self._need_engine(f"`daemons {action} {name}`")
        await getattr(manager, action)(name)
        return {"name": h.name, "state": h.state}

    async def run_daemon_now(self, name: str) -> dict[str, Any]:
        """Have a running daemon check now, whatever its processing windows say."""
        from stashdesk.daemons.manager import DaemonNotRunning

        self._handle(name)
        self._need_engine(f"`daemons run {name}`")
        try:
            return {"name": name, **self.services.manager.run_now(name)}
        except DaemonNotRunning as exc:
            raise Conflict(str(exc)) from None

    async def set_daemon_enabled(
        self, name: str, enabled: bool, auto_start: bool | None = None
    ) -> dict[str, Any]:
        h = self._handle(name)
        if not isinstance(enabled, bool) or auto_start not in (None, True, False):
            raise BadRequest("enabled and auto_start must be true or false")
        if self.live:
            await self.services.manager.set_enabled(name, enabled, auto_start)
            if not enabled and h.running:
                await self.services.manager.stop(name)
        else:
            fields: dict[str, Any] = {"enabled": enabled}
            if auto_start is not None:
                fields["auto_start"] = auto_start
            await self.store.write(
                lambda: daemon_store.save_daemon_flags(name, h.cls.default_config(), **fields)
            )
        return await self.get_daemon(name)

    async def daemon_config(self, name: str) -> dict[str, Any]:
        h = self._handle(name)
        daemon = await self.get_daemon(name)
        return {
            "name": h.name,
            "config": daemon["config"],
            "options": [o.to_spec() for o in h.cls.all_options()],
        }

    async def set_daemon_config(self, name: str, updates: dict[str, Any]) -> dict[str, Any]:
        """Validate and save configuration values (all or none)."""
        h = self._handle(name)
        if not isinstance(updates, dict) or not updates:
            raise BadRequest("the body must be an object of configuration values")
        try:
            for key in updates:
                h.cls.option(key)
            current = (await self.get_daemon(name))["config"]
            checked = {key: h.cls.option(key).validate(value) for key, value in updates.items()}
            config = h.cls.validate_config({**current, **checked})
        except OptionError as exc:
            raise BadRequest(str(exc)) from None
        if self.live:
            config = await self.services.manager.set_config(name, checked)
        else:
            await self.store.write(
                lambda: daemon_store.save_daemon_flags(name, h.cls.default_config(), config=config)
            )
        return {"name": name, "config": config}

    async def reset_daemon_config(self, name: str) -> dict[str, Any]:
        h = self._handle(name)
        if self.live:
            config = await self.services.manager.reset_config(name)
        else:
            config = h.cls.default_config()
            await self.store.write(
                lambda: daemon_store.save_daemon_flags(name, config, config=config)
            )
        return {"name": name, "config": config}

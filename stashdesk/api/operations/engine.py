"""The engine itself: what it is, its counts, its health, its window."""

from __future__ import annotations

import os
import time
from typing import Any

from stashdesk import __version__
from stashdesk.api.operations.common import (
    OperationsBase,
    WindowHooks,
)
from stashdesk.engine_client.errors import (
    NotFound,
)
from stashdesk.jobs.base import JOB_TYPES
from stashdesk.store.stats import collect_stats
from stashdesk.timestamps import iso


class EngineOperations(OperationsBase):
    """Operations on engine (see the module docstring)."""

    async def engine_info(self) -> dict[str, Any]:
        settings = self.services.settings
        return {
            "version": __version__,
            "pid": os.getpid(),
            "live": self.live,
            "data_dir": str(self.services.data_dir),
            "stash_configured": settings.stash_configured,
            "stash_url": settings.get("stash.url"),
            "secrets_location": settings.secrets.location,
            "daemons": list(self.services.manager.handles),
            "job_types": [
                {"type": spec.type, "description": spec.description, "exclusive": spec.exclusive}
                for spec in JOB_TYPES.values()
            ],
            **self._info(),
        }

    async def stats(self) -> dict[str, Any]:
        return await self.store.read(collect_stats)

    async def health(self, refresh: bool = False) -> dict[str, Any]:
        """The health checks: the last results, or fresh ones (``refresh``, or none yet)."""
        from stashdesk.health import run_checks

        monitor = self.health_monitor
        if monitor is None:
            results, at = await run_checks(self.services), time.time()
        else:
            if refresh or monitor.checked_at is None:
                await monitor.run()
            results, at = monitor.results, monitor.checked_at
        items = [r.to_json() for r in results]
        return {
            "checks": items,
            "checked_at": iso(at),
            "failing": sum(1 for item in items if item["ok"] is False),
        }

    def _window(self) -> WindowHooks:
        if self.window is None:
            raise NotFound("this engine runs without a window")
        return self.window

    async def window_status(self) -> dict[str, Any]:
        return self._window().status()

    async def window_show(self) -> dict[str, Any]:
        """Bring the hosting window to the front."""
        return self._window().show()

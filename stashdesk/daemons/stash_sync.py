"""Auto Stash Sync: keeps the local copy of Stash's scenes current.

Each pass counts the scenes Stash changed since the sync watermark (a cheap
``per_page: 0`` count plus a check of the watermark's own second, see
:func:`stashdesk.jobs.sync.count_pending_scenes`); when there are any it
launches a SYNC job, waits for it and reports how many scenes it synced, then
checks again at once (edits made during the sync are picked up right away).
After a restart it waits for the SYNC it launched before instead of starting
another one.
"""

from __future__ import annotations

from typing import ClassVar

from stashdesk.clients.errors import StashJobFailed
from stashdesk.daemons.base import MAX_INTERVAL_SECONDS, BaseDaemon, Rest
from stashdesk.daemons.manager import register_daemon
from stashdesk.jobs.base import JobStatus, JobType
from stashdesk.jobs.sync import count_pending_scenes
from stashdesk.options import Option


@register_daemon
class StashSyncDaemon(BaseDaemon):
    """Syncs scenes changed in Stash into the local database."""

    name = "stash-sync"
    display_order = 2
    display_name = "Auto Stash Sync"
    description = "Brings scenes changed in Stash into StashDesk's local copy."
    # a scan brings new scenes; an applied plan changes scenes in Stash
    wake_on_jobs = ("STASH_SCAN", "APPLY_PLAN")
    uses_settings = ("stash.",)
    config_options: ClassVar[list[Option]] = [
        Option(
            "job_interval_seconds",
            "float",
            300,
            "Seconds between checks for scenes changed in Stash.",
            minimum=0.1,
            maximum=MAX_INTERVAL_SECONDS,
        ),
    ]

    async def run_pass(self) -> Rest | None:
        await self.update_status("Checking for scenes to sync from Stash")
        job = await self.find_own_active_job(JobType.SYNC)
        if job is None:
            pending = await count_pending_scenes(self.services)
            if pending <= 0:
                return Rest(self.interval, "No pending scenes")
            await self.update_status(f"Found {pending} scenes needing sync")
            job = await self.launch_job(
                JobType.SYNC, {"expected": pending}, f"Syncing {pending} scenes from Stash"
            )
        outcome = await self.wait_for_job(job, "Waiting for sync to complete")
        if outcome.status == JobStatus.COMPLETED:
            result = outcome.result if isinstance(outcome.result, dict) else {}
            await self.update_status(f"Sync completed for {int(result.get('synced', 0))} scenes")
            return None  # look again at once: edits made during the sync are waiting
        if outcome.status == JobStatus.CANCELLED:
            return Rest(self.interval, "Sync was cancelled")
        raise StashJobFailed(f"Sync failed: {outcome.error or outcome.status}")

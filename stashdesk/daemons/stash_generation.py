"""Auto Stash Generation: has Stash generate media for synced scenes that lack it.

A pass waits while any other job runs (a StashDesk job pending or running, or
anything in Stash's own job queue), then launches STASH_GENERATE for the synced
scenes not yet covered by a completed generation, and monitors it. A scan
appearing meanwhile (a STASH_SCAN here, or a scan in Stash's queue) would fight
the generation, so the generation is cancelled and left for a later pass.
After a restart the daemon monitors the generation it launched before.
"""

from __future__ import annotations

from typing import Any, ClassVar

from stashdesk.clients.errors import StashJobFailed
from stashdesk.daemons.base import MAX_INTERVAL_SECONDS, BaseDaemon, Rest
from stashdesk.daemons.manager import register_daemon
from stashdesk.jobs.base import ACTIVE_STATUSES, JobInfo, JobStatus, JobType
from stashdesk.jobs.stash_tasks import STASH_ACTIVE, is_scan
from stashdesk.options import Option
from stashdesk.store.scenes import scenes_needing_generation

# Up to this many scenes are named in the request; more, and Stash generates for its
# whole library (it skips what already exists), which is cheaper than a huge id list.
MAX_SCENE_IDS = 1000


@register_daemon
class StashGenerationDaemon(BaseDaemon):
    """Launches and monitors STASH_GENERATE when StashDesk and Stash are otherwise idle."""

    name = "stash-generation"
    display_order = 5
    display_name = "Auto Stash Generation"
    description = (
        "Has Stash generate covers, sprites, previews and phashes for synced "
        "scenes when nothing else is running."
    )
    wake_on_jobs = ("SYNC",)  # newly synced scenes need generating
    uses_settings = ("stash.",)
    config_options: ClassVar[list[Option]] = [
        Option(
            "job_interval_seconds",
            "float",
            3600,
            "Seconds between checks for scenes needing generation.",
            minimum=0.1,
            maximum=MAX_INTERVAL_SECONDS,
        ),
        Option(
            "scan_check_seconds",
            "float",
            15,
            "While generating, how often to look for scans that would fight the generation.",
            minimum=0.05,
            maximum=3600,
        ),
    ]

    def _stash_ids_of_local_jobs(self) -> set[str]:
        return {
            str(j.metadata["stash_job_id"])
            for j in self.runner.active_jobs()
            if j.metadata.get("stash_job_id") is not None
        }

    async def _running_jobs(self, own: JobInfo | None) -> int:
        queue = await self.services.stash().job_queue()
        # Local jobs are read after Stash answered: one that started its Stash job meanwhile
        # is then known by its id (or not yet started, and so not in that answer).
        local = [
            j
            for j in self.runner.active_jobs()
            if j.status in ACTIVE_STATUSES and (own is None or j.id != own.id)
        ]
        known = self._stash_ids_of_local_jobs()
        in_stash = [
            j for j in queue if j.get("status") in STASH_ACTIVE and str(j.get("id")) not in known
        ]
        return len(local) + len(in_stash)

    async def _scan_jobs(self, generation: JobInfo) -> int:
        queue = await self.services.stash().job_queue()
        local = [
            j
            for j in self.runner.active_jobs()
            if j.type == JobType.STASH_SCAN and j.status in ACTIVE_STATUSES
        ]
        own = {str(generation.metadata.get("stash_job_id"))}
        local_stash_ids = {str(j.metadata.get("stash_job_id")) for j in local}
        in_stash = [
            j
            for j in queue
            if is_scan(j)
            and j.get("status") in ("READY", "RUNNING")
            and str(j.get("id")) not in own | local_stash_ids
        ]
        # A local scan whose Stash job has started but whose id is not saved yet.
        unsaved = sum(1 for j in local if j.metadata.get("stash_job_id") is None)
        return len(local) + max(0, len(in_stash) - unsaved)

    async def run_pass(self) -> Rest | None:
        await self.update_status("Checking for running jobs")
        job = await self.find_own_active_job(JobType.STASH_GENERATE)
        if job is None:
            running = await self._running_jobs(None)
            if running:
                return Rest(self.interval, f"Found {running} running jobs")
            await self.update_status("Checking for scenes needing generation")
            needing = await self.services.store.read(scenes_needing_generation)
            if not needing:
                return Rest(self.interval, "All scenes generated")
            metadata: dict[str, Any] = {"scenes": len(needing)}
            if len(needing) <= MAX_SCENE_IDS:
                metadata["scene_ids"] = needing
            job = await self.launch_job(
                JobType.STASH_GENERATE, metadata, "Starting metadata generation"
            )
        outcome, scans = await self._monitor(job)
        if scans:
            return None  # the next pass finds the scan running and waits
        if outcome.status == JobStatus.COMPLETED:
            await self.update_status("Metadata generation completed")
            return None
        if outcome.status == JobStatus.CANCELLED:
            return Rest(self.interval, "Metadata generation was cancelled")
        raise StashJobFailed(f"Metadata generation failed: {outcome.error or outcome.status}")

    async def _monitor(self, job: JobInfo) -> tuple[JobInfo, int]:
        """Wait for the generation; cancel it when a scan appears. Returns (outcome, scans)."""
        found: list[int] = []

        async def scans_starting(current: JobInfo) -> tuple[str, str] | None:
            scans = await self._scan_jobs(current)
            if not scans:
                return None
            found.append(scans)
            return (
                f"Cancelling generation due to {scans} scan jobs",
                f"Cancelled because {scans} scan job(s) started",
            )

        outcome = await self.wait_for_job(
            job,
            "Generating metadata for scenes",
            check=scans_starting,
            check_every=self.config["scan_check_seconds"],
        )
        return outcome, (found[-1] if found else 0)

"""Download Processor: finished torrents into the library, then a Stash scan.

Each pass asks qBittorrent for new downloads (completed, in
``qbittorrent.category``, with neither the processed nor the error tag). When
there are some it launches PROCESS_DOWNLOADS for exactly those torrents, waits
for it, and when files were placed launches STASH_SCAN on their folders as
Stash sees them (``downloads.destination`` mapped to ``downloads.stash_path``).

When qBittorrent cannot be asked (unreachable, login rejected) the pass fails
with that error, so the status names it and its remedy and the daemon backs
off; it never says "No new downloads" unless it really looked.

After a restart it waits for a PROCESS_DOWNLOADS or STASH_SCAN it launched
that is still pending or running instead of launching the same work again.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from stashdesk.daemons.base import BaseDaemon, Rest
from stashdesk.daemons.manager import register_daemon
from stashdesk.jobs.base import JOB_TYPES, JobFailed, JobInfo, JobStatus, JobType
from stashdesk.jobs.process_downloads import check_destination, find_new_downloads, stash_path_for
from stashdesk.options import Option
from stashdesk.store.models import Job


@register_daemon
class DownloadProcessorDaemon(BaseDaemon):
    """Processes finished qBittorrent downloads and has Stash scan them."""

    name = "download-processor"
    display_name = "Download Processor"
    description = ("Hard-links finished torrents of the qBittorrent category into the library "
                   "and has Stash scan them.")
    config_options: ClassVar[list[Option]] = [
        Option("job_interval_seconds", "int", 300, "Seconds between checks of qBittorrent.",
               minimum=1),
        Option("scan_after_processing", "bool", True, "Have Stash scan the folders that "
               "received files."),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._logged_warnings: set[str] = set()

    async def run_pass(self) -> Rest | None:
        unfinished = await self.find_own_active_job(JobType.STASH_SCAN)
        if unfinished is not None:  # launched before a restart
            await self._wait_for_scan(unfinished)
        unfinished = await self.find_own_active_job(JobType.PROCESS_DOWNLOADS)
        if unfinished is not None:
            outcome = await self.wait_for_job(unfinished,
                                              "Waiting for download processing to complete")
            return await self._after_processing(outcome)
        await self._scan_if_missed()

        await self.update_status("Checking qBittorrent for new downloads")
        settings = self.services.settings
        new = await find_new_downloads(self.services.qbittorrent(), settings)
        if not new:
            return Rest(self.interval, "No new downloads")
        count = len(new)
        await self.update_status(f"Found {count} new downloads to process")
        await asyncio.to_thread(check_destination, settings)  # say what is wrong, no job
        job = await self.launch_job(JobType.PROCESS_DOWNLOADS,
                                    {"hashes": [t.hash for t in new],
                                     "names": [t.name for t in new]},
                                    f"Processing {count} downloads")
        outcome = await self.wait_for_job(job, "Waiting for download processing to complete")
        return await self._after_processing(outcome)

    async def _after_processing(self, outcome: JobInfo) -> Rest | None:
        result = outcome.result if isinstance(outcome.result, dict) else {}
        for warning in result.get("warnings") or []:
            if warning not in self._logged_warnings:  # once, not every pass
                self._logged_warnings.add(warning)
                self.log("WARNING", warning)
        for failure in result.get("failures") or []:
            self.log("WARNING", f"{failure.get('name')}: not placed, tagged "
                                f"{self.services.settings.get('qbittorrent.error_tag')}: "
                                f"{failure.get('reason')}")
        if outcome.status == JobStatus.CANCELLED:
            return Rest(self.interval, "Download processing was cancelled")
        if outcome.status != JobStatus.COMPLETED:
            raise JobFailed(f"Download processing {outcome.status}: "
                            f"{outcome.error or 'no reason given'}")
        placed = result.get("placed_paths") or []
        if placed:
            await self._scan(outcome.id, placed, result.get("destination"))
        if not result.get("torrents_processed") and not result.get("failed"):
            # Nothing was tagged, so the same torrents would be found at once again.
            return Rest(self.interval, "No downloads could be processed")
        return None  # look again at once: more may have finished meanwhile

    async def _scan(self, process_job_id: str, placed: list[str],
                    destination: str | None) -> None:
        if not self.config["scan_after_processing"]:
            return
        if JobType.STASH_SCAN not in JOB_TYPES:
            self._warn_once("Stash scans are not available in this build: new files appear "
                            "in Stash after its next own scan")
            return
        settings = self.services.settings
        destination = destination or settings.get("downloads.destination")
        stash_root = settings.get("downloads.stash_path") or destination
        paths = [stash_path_for(p, destination, stash_root) for p in placed]
        scan = await self.launch_job(JobType.STASH_SCAN, {"paths": paths},
                                     "Triggering Stash metadata scan", parent_id=process_job_id)
        await self._wait_for_scan(scan)

    async def _wait_for_scan(self, scan: JobInfo) -> None:
        outcome = await self.wait_for_job(scan, "Waiting for metadata scan to complete")
        if outcome.status != JobStatus.COMPLETED:
            # The files are in the library; Stash's own next scan will find them.
            self.log("WARNING", f"Stash metadata scan {outcome.status}: "
                                f"{outcome.error or 'no reason given'}")

    async def _scan_if_missed(self) -> None:
        """Scan for the newest processing job when a stop came between it and its scan."""
        if not self.config["scan_after_processing"] or JobType.STASH_SCAN not in JOB_TYPES:
            return
        name = self.name

        def newest_without_scan() -> JobInfo | None:
            newest = (Job.select().where(Job.created_by == name,
                                         Job.type == str(JobType.PROCESS_DOWNLOADS))
                      .order_by(Job.created_at.desc()).first())
            if newest is None or newest.status != JobStatus.COMPLETED:
                return None
            if not (newest.result or {}).get("placed_paths"):
                return None
            scanned = Job.select().where(Job.parent_id == newest.id,
                                         Job.type == str(JobType.STASH_SCAN)).exists()
            return None if scanned else JobInfo.from_row(newest)

        missed = await self.services.store.read(newest_without_scan)
        if missed is not None:
            await self._scan(missed.id, missed.result["placed_paths"],
                             missed.result.get("destination"))

    def _warn_once(self, message: str) -> None:
        if message not in self._logged_warnings:
            self._logged_warnings.add(message)
            self.log("WARNING", message)

"""Download Processor: finished torrents into the library, then Stash's scan (and more).

Each pass asks qBittorrent for new downloads (completed, in
``qbittorrent.category``, with neither the processed nor the error tag). When
there are some it launches PROCESS_DOWNLOADS for exactly those torrents, waits
for it, and when files were placed launches STASH_SCAN on their folders as
Stash sees them (``downloads.destination`` mapped to ``downloads.stash_path``).
After a completed scan, when switched on (each off by default), it runs Stash's
Identify on the new scenes only (STASH_IDENTIFY with their scene ids) and/or
Auto Tag on the new paths only (STASH_AUTO_TAG), each a Stash job it names in its
status and waits for.

A scan that failed, was cancelled or could not reach Stash is owed: the next pass
launches it again (for every processing job of the last :data:`OWED_SCAN_DAYS` days
whose files no completed scan covered) before it looks for new downloads, and says
so in its status while Stash stays away.

With ``qbittorrent.done_category`` or ``downloads.remove_after_ratio`` /
``remove_after_hours`` set, each pass also moves placed torrents to the done
category and removes (files kept) those that have seeded enough and whose files are
all in the library (:mod:`stashdesk.downloads.post_import`).

When qBittorrent cannot be asked (unreachable, login rejected) the pass fails
with that error, so the status names it and its remedy and the daemon backs
off; it never says "No new downloads" unless it really looked.

After a restart it waits for a job it launched that is still pending or running
instead of launching the same work again.

A torrent it tagged within the last hour that comes back as new (its tags read
back differently, e.g. a processed tag with a comma that qBittorrent split) is
never processed again: the daemon says so and gives it the error tag; if that
tag does not stick either, it leaves the torrent alone and says so once.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from stashdesk.clients.errors import ServiceError
from stashdesk.clients.qbittorrent import Torrent
from stashdesk.daemons.base import MAX_INTERVAL_SECONDS, BaseDaemon, Rest
from stashdesk.daemons.manager import register_daemon
from stashdesk.downloads.media import is_video
from stashdesk.downloads.post_import import post_import_wanted, sweep_imported
from stashdesk.jobs.base import JOB_TYPES, JobFailed, JobInfo, JobStatus, JobType
from stashdesk.jobs.process_downloads import (
    check_destination,
    find_new_downloads,
    skip_rules,
    stash_path_for,
)
from stashdesk.jobs.stash_identify import check_field_strategies
from stashdesk.options import Option, list_of_strings
from stashdesk.store.jobs import jobs_created_by_since

JUST_TAGGED_SECONDS = 3600.0
OWED_SCAN_DAYS = 7


def owed_scans(daemon: str, since: float) -> list[JobInfo]:
    """This daemon's completed PROCESS_DOWNLOADS since ``since`` that placed files no
    completed STASH_SCAN has covered yet, oldest first (reader thread)."""
    rows = jobs_created_by_since(
        daemon, since, [str(JobType.PROCESS_DOWNLOADS), str(JobType.STASH_SCAN)]
    )
    covered: set[str] = set()
    for row in rows:
        if row.type == JobType.STASH_SCAN and row.status == JobStatus.COMPLETED:
            covered.update((row.metadata or {}).get("covers") or [])
            if row.parent_id:
                covered.add(row.parent_id)
    return [
        JobInfo.from_row(r)
        for r in rows
        if r.type == JobType.PROCESS_DOWNLOADS
        and r.status == JobStatus.COMPLETED
        and (r.result or {}).get("placed_paths")
        and r.id not in covered
    ]


@register_daemon
class DownloadProcessorDaemon(BaseDaemon):
    """Processes finished qBittorrent downloads and has Stash scan them."""

    name = "download-processor"
    display_order = 4
    display_name = "Download Processor"
    description = (
        "Hard-links finished torrents of the qBittorrent category into the library "
        "and has Stash scan them."
    )
    uses_settings = ("qbittorrent.", "downloads.", "stash.")
    config_options: ClassVar[list[Option]] = [
        Option(
            "job_interval_seconds",
            "int",
            300,
            "Seconds between checks of qBittorrent.",
            minimum=1,
            maximum=MAX_INTERVAL_SECONDS,
        ),
        Option(
            "scan_after_processing",
            "bool",
            True,
            "Have Stash scan the folders that received files.",
        ),
        Option(
            "identify_after_import",
            "bool",
            False,
            "After the scan, run Stash's Identify on the new scenes only.",
        ),
        Option(
            "identify_sources",
            "list",
            [],
            "Identify sources in order: stash-box "
            "endpoints (address or name, as configured in Stash) and/or builtin_autotag; "
            "empty: the sources saved in Stash's Identify task, else every stash-box "
            "endpoint, then the auto tagger.",
            validator=list_of_strings("identify_sources"),
        ),
        Option(
            "identify_field_strategies",
            "dict",
            {},
            "Field strategies replacing Stash's "
            'defaults, e.g. {"title": "OVERWRITE", "performers": {"strategy": '
            '"MERGE", "createMissing": true}} (IGNORE, MERGE, OVERWRITE).',
            validator=lambda v: check_field_strategies("identify_field_strategies", v),
        ),
        Option(
            "auto_tag_after_import",
            "bool",
            False,
            "After the scan, run Stash's Auto Tag "
            "(performers, studios, tags) on the new paths only.",
        ),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._logged_warnings: set[str] = set()
        # hash -> ("processed" | "error" | "ignored", when): what this daemon tagged lately
        self._tagged: dict[str, tuple[str, float]] = {}
        self._scan_problem: str | None = None

    async def run_pass(self) -> Rest | None:
        for kind in (JobType.STASH_AUTO_TAG, JobType.STASH_IDENTIFY):
            unfinished = await self.find_own_active_job(kind)
            if unfinished is not None:  # launched before a restart
                await self._wait_for_follow_up(unfinished)
        unfinished = await self.find_own_active_job(JobType.STASH_SCAN)
        if unfinished is not None:
            await self._wait_for_scan(unfinished)
        unfinished = await self.find_own_active_job(JobType.PROCESS_DOWNLOADS)
        if unfinished is not None:
            outcome = await self.wait_for_job(
                unfinished, "Waiting for download processing to complete"
            )
            return await self._after_processing(outcome)
        await self._scan_owed()
        if post_import_wanted(self.services.settings):
            await self._post_import()

        await self.update_status("Checking qBittorrent for new downloads")
        settings = self.services.settings
        new = await self._without_just_tagged(
            await find_new_downloads(self.services.qbittorrent(), settings)
        )
        if not new:
            return Rest(self.interval, "No new downloads" + self._problem_note())
        count = len(new)
        await self.update_status(f"Found {count} new downloads to process")
        await asyncio.to_thread(check_destination, settings)  # say what is wrong, no job
        job = await self.launch_job(
            JobType.PROCESS_DOWNLOADS,
            {"hashes": [t.hash for t in new], "names": [t.name for t in new]},
            f"Processing {count} downloads",
        )
        outcome = await self.wait_for_job(job, "Waiting for download processing to complete")
        return await self._after_processing(outcome)

    async def _without_just_tagged(self, new: list[Torrent]) -> list[Torrent]:
        """``new`` less the torrents this daemon tagged lately (see the module docstring)."""
        now = time.time()
        window = max(JUST_TAGGED_SECONDS, 2 * self.interval)
        self._tagged = {h: seen for h, seen in self._tagged.items() if now - seen[1] < window}
        settings = self.services.settings
        fresh = []
        for torrent in new:
            what = self._tagged.get(torrent.hash, (None, now))[0]
            if what is None:
                fresh.append(torrent)
                continue
            tags = ", ".join(repr(t) for t in torrent.tags) or "none"
            if what == "processed":
                error_tag = settings.get("qbittorrent.error_tag")
                self.log(
                    "WARNING",
                    f"{torrent.name} was just tagged "
                    f"{settings.get('qbittorrent.processed_tag')!r}, but "
                    f"qBittorrent now reports its tags as {tags} - not "
                    f"processing it again; tagged {error_tag!r}. Check "
                    f"qbittorrent.processed_tag (qBittorrent splits tags at "
                    f"commas)",
                )
                await self.services.qbittorrent().add_tags(torrent.hash, [error_tag])
                self._tagged[torrent.hash] = ("error", now)
            elif what == "error":
                self.log(
                    "WARNING",
                    f"{torrent.name}: its error tag does not read back either "
                    f"(tags: {tags}) - left alone; check "
                    f"qbittorrent.error_tag",
                )
                self._tagged[torrent.hash] = ("ignored", now)
        return fresh

    def _problem_note(self) -> str:
        return f" ({self._scan_problem})" if self._scan_problem else ""

    async def _after_processing(self, outcome: JobInfo) -> Rest | None:
        result = outcome.result if isinstance(outcome.result, dict) else {}
        for torrent in result.get("torrents") or []:
            tagged = "processed" if torrent.get("status") == "processed" else "error"
            self._tagged[torrent["hash"]] = (tagged, time.time())
        for warning in result.get("warnings") or []:
            self._warn_once(warning)
        for failure in result.get("failures") or []:
            self.log(
                "WARNING",
                f"{failure.get('name')}: not placed, tagged "
                f"{self.services.settings.get('qbittorrent.error_tag')}: "
                f"{failure.get('reason')}",
            )
        if outcome.status == JobStatus.CANCELLED:
            return Rest(self.interval, "Download processing was cancelled")
        if outcome.status != JobStatus.COMPLETED:
            raise JobFailed(
                f"Download processing {outcome.status}: {outcome.error or 'no reason given'}"
            )
        scanned = (
            not result.get("placed_paths")
            or not self._scans_wanted()
            or await self._scan([outcome])
        )
        if not scanned:
            return Rest(self.interval, self._scan_problem or "Stash scan failed")
        if not result.get("torrents_processed") and not result.get("failed"):
            # Nothing was tagged, so the same torrents would be found at once again.
            return Rest(self.interval, "No downloads could be processed")
        return None  # look again at once: more may have finished meanwhile

    # --- Stash: the scan and what follows it -------------------------------------------------

    def _scans_wanted(self) -> bool:
        if not self.config["scan_after_processing"]:
            return False
        if JobType.STASH_SCAN not in JOB_TYPES:
            self._warn_once(
                "Stash scans are not available in this build: new files appear "
                "in Stash after its next own scan"
            )
            return False
        return True

    async def _scan_owed(self) -> None:
        """Scan again what an earlier scan failed to (or a stop kept from being) scanned."""
        if not self._scans_wanted():
            return
        since = time.time() - OWED_SCAN_DAYS * 86400
        owed = await self.services.store.read(lambda: owed_scans(self.name, since))
        if owed:
            await self._scan(owed)

    async def _scan(self, processed: list[JobInfo]) -> bool:
        """Scan the places these processing jobs filled; identify / auto-tag after it.
        Returns whether the scan completed (else it is owed, and said so)."""
        settings = self.services.settings
        paths: list[str] = []
        files: list[str] = []
        for job in processed:
            destination = job.result.get("destination") or settings.get("downloads.destination")
            stash_root = settings.get("downloads.stash_path") or destination
            for place in job.result.get("placed_paths") or []:
                mapped = stash_path_for(place, destination, stash_root)
                if mapped not in paths:
                    paths.append(mapped)
            for placed in job.result.get("placed_files") or []:
                mapped = stash_path_for(placed, destination, stash_root)
                if is_video(placed) and mapped not in files:
                    files.append(mapped)
        covers = [job.id for job in processed]
        scan = await self.launch_job(
            JobType.STASH_SCAN,
            {"paths": paths, "expect_files": files, "covers": covers},
            "Triggering Stash metadata scan",
            parent_id=covers[-1],
        )
        return await self._wait_for_scan(scan)

    async def _wait_for_scan(self, scan: JobInfo) -> bool:
        outcome = await self.wait_for_job(scan, "Waiting for metadata scan to complete")
        if outcome.status != JobStatus.COMPLETED:
            self._scan_problem = (
                f"Stash metadata scan {outcome.status}: "
                f"{outcome.error or 'no reason given'} - retried on the "
                f"next pass"
            )
            self.log("WARNING", self._scan_problem)
            return False
        self._scan_problem = None
        await self._after_scan(
            list(outcome.metadata.get("paths") or []),
            list(outcome.metadata.get("expect_files") or []),
            scan.id,
        )
        return True

    async def _after_scan(self, paths: list[str], files: list[str], scan_id: str) -> None:
        identify, auto_tag = (
            self.config["identify_after_import"],
            self.config["auto_tag_after_import"],
        )
        if not (identify or auto_tag) or not files:
            return
        await self.update_status(f"Looking up {len(files)} new files in Stash")
        try:
            found = await self.services.stash().scene_ids_for_paths(files)
        except ServiceError as exc:
            self.log(
                "WARNING",
                f"Could not look up the new scenes in Stash, so they are not "
                f"identified or auto-tagged: {exc}",
            )
            return
        scene_ids = sorted(set(found.values()), key=int)
        if not scene_ids:
            self.log(
                "INFO",
                f"Stash has no scene for the {len(files)} new files yet: nothing "
                f"to identify or auto-tag",
            )
            return
        count = len(scene_ids)
        if identify and JobType.STASH_IDENTIFY in JOB_TYPES:
            job = await self.launch_job(
                JobType.STASH_IDENTIFY,
                {
                    "scene_ids": scene_ids,
                    "sources": self.config["identify_sources"],
                    "field_strategies": self.config["identify_field_strategies"],
                },
                f"Identifying {count} new scenes",
                parent_id=scan_id,
            )
            await self._wait_for_follow_up(job)
        if auto_tag and JobType.STASH_AUTO_TAG in JOB_TYPES:
            job = await self.launch_job(
                JobType.STASH_AUTO_TAG,
                {"paths": paths, "scenes": count},
                f"Auto-tagging {count} new scenes",
                parent_id=scan_id,
            )
            await self._wait_for_follow_up(job)

    async def _wait_for_follow_up(self, job: JobInfo) -> None:
        what = "identify" if job.type == JobType.STASH_IDENTIFY else "auto tag"
        outcome = await self.wait_for_job(job, f"Waiting for {what} to complete")
        if outcome.status != JobStatus.COMPLETED:
            # The scenes are in Stash; identify / auto tag can be run there by hand.
            self.log(
                "WARNING", f"Stash {what} {outcome.status}: {outcome.error or 'no reason given'}"
            )

    # --- qBittorrent: after the import ---------------------------------------------------------

    async def _post_import(self) -> None:
        settings = self.services.settings
        await self.update_status("Checking imported torrents for post-import actions")
        destination = await asyncio.to_thread(check_destination, settings)
        rules = await skip_rules(settings, destination)
        outcome = await sweep_imported(self.services.qbittorrent(), settings, destination, rules)
        for entry in outcome["moved"]:
            self.log("INFO", f"{entry['name']}: moved to category {entry['category']}")
        for entry in outcome["removed"]:
            self.log(
                "INFO", f"{entry['name']}: removed from qBittorrent, files kept ({entry['reason']})"
            )
        for entry in outcome["kept"]:
            self._warn_once(f"{entry['name']}: not removed from qBittorrent: {entry['reason']}")
        for entry in outcome["errors"]:
            self.log("WARNING", f"{entry['name']}: post-import action failed: {entry['reason']}")
        if outcome["removed"]:
            await self.update_status(
                f"Removed {len(outcome['removed'])} torrents that "
                f"reached their seeding limit (files kept)"
            )

    def _warn_once(self, message: str) -> None:
        if message not in self._logged_warnings:
            self._logged_warnings.add(message)
            self.log("WARNING", message)

"""PROCESS_DOWNLOADS: finished torrents from qBittorrent into the library.

New downloads are completed torrents in ``qbittorrent.category`` that carry
neither ``qbittorrent.processed_tag`` nor ``qbittorrent.error_tag``
(:func:`find_new_downloads`, shared with the Download Processor daemon). For
each, the files are planned and placed by :mod:`stashdesk.downloads.placement`
on a worker thread; the torrent then gets the processed tag (and moves to
``qbittorrent.done_category`` when set), or the error tag when it cannot be placed
(the reason is kept in the job's result and log). Sample videos and, with ffprobe,
videos shorter than ``downloads.min_duration_seconds`` are skipped
(:func:`skip_rules`); a copy that would leave less than ``downloads.min_free_gb``
free is refused before its first byte. Each torrent's entry in the result says
how its files got there (``method``: hardlink / copy / mixed, ``why_copied``,
``copy_kind``) with a one-line ``summary`` (:mod:`stashdesk.downloads.report`).

Crash safety, with a job the runner does not resume (a killed one is marked
interrupted): the NEXT run finishes the work.

* Before the first file operation of a torrent, a DownloadJournal row names
  its place in the library; it is deleted once the torrent is tagged. A run
  first removes temporary copies under every journalled place (and forgets
  entries whose torrent is no longer waiting), so no half-copied file stays.
* Files only ever appear under their real name complete (hard link, or a copy
  published after fsync and a size check), so what a crash left behind is
  found "already there" by the next run and skipped; the torrent is tagged
  only when every file is in place, and tagging is idempotent.
* Every file in the library is recorded in HandledDownload (insert-or-ignore on
  the destination), also when a later run finds it already placed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from concurrent.futures import Future
from functools import partial
from typing import TYPE_CHECKING, Any

from stashdesk.clients.errors import QBittorrentAnswerError
from stashdesk.clients.qbittorrent import QBittorrentClient, Torrent
from stashdesk.downloads.media import DurationFilter, find_ffprobe
from stashdesk.downloads.placement import (
    Placement,
    PlacementCancelled,
    PlacementError,
    PlannedFile,
    TorrentPlan,
    TorrentRejected,
    place_torrent,
    plan_torrent,
    remove_temp_files,
)
from stashdesk.downloads.post_import import move_to_done_category
from stashdesk.downloads.report import describe_downloads, describe_torrent, torrent_outcome
from stashdesk.downloads.samples import SampleFilter, SkipReason, combine_skip_reasons
from stashdesk.downloads.space import room_check
from stashdesk.jobs.base import JobCancelled, JobContext, JobFailed, JobType, job_type
from stashdesk.store.downloads import (
    download_journal,
    forget_journal_entry,
    journal_download,
    record_handled_download,
)

if TYPE_CHECKING:
    from stashdesk.settings import Settings

log = logging.getLogger(__name__)

#: qBittorrent states of a torrent whose data is complete and settled (not
#: being checked or moved). ``stoppedUP`` is qBittorrent 5's ``pausedUP``.
FINISHED_STATES = frozenset(
    {"uploading", "stalledUP", "queuedUP", "pausedUP", "stoppedUP", "forcedUP"}
)
DETAILS_KEPT = 200  # skipped-file reasons kept in a result
PROGRESS_EVERY = 0.05

FFPROBE_MISSING = (
    "ffprobe is not installed (not found on PATH): "
    "downloads.min_duration_seconds is ignored and every video is placed"
)
_warned: set[str] = set()


async def find_new_downloads(qbittorrent: QBittorrentClient, settings: Settings) -> list[Torrent]:
    """Completed torrents of the category without the processed or error tag.

    Raises QBittorrentUnreachable / QBittorrentLoginRejected when it cannot look.
    """
    category = settings.get("qbittorrent.category")
    done_tags = {settings.get("qbittorrent.processed_tag"), settings.get("qbittorrent.error_tag")}
    torrents = await qbittorrent.completed_torrents(category)
    new = [
        t
        for t in torrents
        if t.category == category
        and t.state in FINISHED_STATES
        and t.progress >= 1.0
        and not done_tags.intersection(t.tags)
    ]
    return sorted(new, key=lambda t: (t.name, t.hash))


def check_destination(settings: Settings) -> str:
    """``downloads.destination``, checked (blocking: it looks at the disk).

    A missing folder is not created: it is most often an unmounted disk, and
    filling the mount point underneath would hide that.
    """
    destination = str(settings.get("downloads.destination") or "").strip()
    if not destination:
        raise JobFailed(
            "downloads.destination is not set - set it to the library folder "
            "finished downloads go to (stashdesk config set downloads.destination "
            "/path/to/library)"
        )
    if not os.path.isabs(destination):
        raise JobFailed(f"downloads.destination must be an absolute path, not {destination!r}")
    if not os.path.isdir(destination):
        raise JobFailed(
            f"downloads.destination {destination} does not exist or is not a "
            f"folder (is its disk mounted?) - create it or change "
            f"downloads.destination"
        )
    return os.path.normpath(destination)


def stash_path_for(path: str, destination: str, stash_root: str) -> str:
    """``path`` under ``destination`` as Stash sees it (``downloads.stash_path``)."""
    if not stash_root:
        return path
    relative = os.path.relpath(path, destination)
    if relative == os.curdir:
        return stash_root
    if relative.startswith(os.pardir):
        return path  # not under the destination: leave it alone
    windows = "\\" in stash_root and "/" not in stash_root
    sep = "\\" if windows else "/"
    return stash_root.rstrip("/\\") + sep + relative.replace(os.sep, sep)


class _Progress:
    """Byte-based progress, fed from the worker thread, reported on the loop."""

    def __init__(self, ctx: JobContext, loop: asyncio.AbstractEventLoop, total: int) -> None:
        self.ctx = ctx
        self.loop = loop
        self.total = max(1, total)
        self.base = 0  # bytes of the torrents already finished
        self.current = 0  # bytes of the current torrent done
        self.limit = 0  # size of the current torrent
        self.message = ""
        self._lock = threading.Lock()
        self._last = 0.0

    def start(self, size: int, message: str) -> None:
        with self._lock:
            self.current, self.limit, self.message = 0, size, message
        self.ctx.progress(self.percent, message)

    def finish(self) -> None:
        with self._lock:
            self.base += self.limit
            self.current = self.limit = 0

    @property
    def percent(self) -> float:
        return 100.0 * (self.base + min(self.current, self.limit)) / self.total

    def add(self, count: int) -> None:  # any thread
        with self._lock:
            self.current += count
            now = time.monotonic()
            if now - self._last < PROGRESS_EVERY:
                return
            self._last = now
        try:
            self.loop.call_soon_threadsafe(self.ctx.progress, self.percent, self.message)
        except RuntimeError:  # the loop closed under a job cut short at shutdown
            pass


@job_type(
    JobType.PROCESS_DOWNLOADS,
    exclusive=True,
    description="hard-links (or copies) finished torrents into downloads.destination",
)
async def process_downloads_job(ctx: JobContext) -> dict[str, Any]:
    settings = ctx.services.settings
    destination = await asyncio.to_thread(check_destination, settings)
    result = ctx.result
    result.update(
        torrents_processed=0,
        files_linked=0,
        files_copied=0,
        skipped=0,
        failed=0,
        bytes=0,
        failures=[],
        placed_paths=[],
        torrents=[],
        skipped_files=[],
        warnings=[],
        temp_files_removed=0,
        destination=destination,
        placed_files=[],
    )
    qbittorrent = ctx.services.qbittorrent()
    processed_tag = settings.get("qbittorrent.processed_tag")
    error_tag = settings.get("qbittorrent.error_tag")

    ctx.progress(0, "Checking qBittorrent for new downloads")
    new = await find_new_downloads(qbittorrent, settings)
    await _clean_up_after_crash(ctx, {t.hash for t in new})
    wanted = ctx.metadata.get("hashes")
    wanted = None if wanted is None else set(wanted)
    torrents = [t for t in new if wanted is None or t.hash in wanted]
    skip_reason = await skip_rules(ctx.services.settings, destination, _warn_once(ctx))
    room = room_check(destination, float(settings.get("downloads.min_free_gb")))
    done_category = settings.get("qbittorrent.done_category")

    progress = _Progress(ctx, asyncio.get_running_loop(), sum(t.size for t in torrents))
    for index, torrent in enumerate(torrents, 1):
        ctx.check_cancelled()
        progress.start(torrent.size, f"Processing torrent {index}/{len(torrents)}: {torrent.name}")
        try:
            files = await qbittorrent.torrent_files(torrent.hash)
        except QBittorrentAnswerError:
            if await qbittorrent.torrent(torrent.hash) is not None:
                raise
            ctx.log.info("%s was removed from qBittorrent meanwhile", torrent.name)
            progress.finish()
            continue
        try:
            plan = await asyncio.to_thread(
                plan_torrent, torrent, files, destination, skip_reason, ctx.cancel_requested.is_set
            )
        except PlacementCancelled:
            raise JobCancelled() from None
        except TorrentRejected as rejected:
            await _reject(ctx, qbittorrent, error_tag, torrent, rejected.reason, None)
            progress.finish()
            continue
        placement = Placement()
        recorder = _Recorder(ctx, torrent)
        if plan.to_place:
            await _journal(ctx, plan)
        try:
            await asyncio.to_thread(
                place_torrent,
                plan,
                placement,
                ctx.cancel_requested.is_set,
                progress.add,
                recorder,
                room,
            )
        except TorrentRejected as rejected:
            await _record(ctx, torrent, plan, placement, recorder)
            await asyncio.to_thread(remove_empty_folders, plan.root)
            await _reject(ctx, qbittorrent, error_tag, torrent, rejected.reason, plan)
            progress.finish()
            continue
        except PlacementCancelled:
            await _record(ctx, torrent, plan, placement, recorder)
            raise JobCancelled() from None
        except PlacementError as exc:
            await _record(ctx, torrent, plan, placement, recorder)
            raise JobFailed(f"{torrent.name}: {exc}") from None
        await _record(ctx, torrent, plan, placement, recorder)
        await qbittorrent.add_tags(torrent.hash, [processed_tag])
        await ctx.services.store.write(partial(forget_journal_entry, torrent.hash))
        entry = _count_processed(result, plan, placement)
        if done_category:
            try:
                entry["post_import"].append(
                    await move_to_done_category(qbittorrent, torrent, done_category)
                )
            except QBittorrentAnswerError as exc:  # tried again by the daemon's next pass
                entry["post_import"].append(f"not moved to category {done_category}: {exc}")
        entry["summary"] = describe_torrent(entry)
        progress.finish()
    result["summary"] = describe_downloads(result)
    ctx.progress(100, _summary(result))
    return result


def remove_empty_folders(root: str) -> None:
    """Remove the folders a refused torrent left empty (its place in the library), deepest
    first; a folder with anything in it stays."""
    if not os.path.isdir(root) or os.path.islink(root):
        return
    for folder, _dirs, _files in os.walk(root, topdown=False):
        try:
            os.rmdir(folder)
        except OSError:  # not empty: it holds something (placed earlier, or someone's)
            pass


async def skip_rules(settings: Settings, destination: str, warn: Any = None) -> SkipReason | None:
    """The files not placed: short videos (``downloads.min_duration_seconds``, with
    ffprobe) and sample videos (``downloads.skip_samples``). ``warn(message)`` hears
    that ffprobe is missing."""
    duration = None
    minimum = float(settings.get("downloads.min_duration_seconds"))
    if minimum > 0:
        ffprobe = await asyncio.to_thread(find_ffprobe)
        if ffprobe:
            duration = DurationFilter(ffprobe, minimum)
        elif warn is not None:
            warn(FFPROBE_MISSING)
    samples = None
    if settings.get("downloads.skip_samples"):
        samples = SampleFilter(
            settings.get("downloads.sample_patterns"),
            float(settings.get("downloads.sample_max_mb")),
            destination,
        )
    return combine_skip_reasons(samples, duration)


def _warn_once(ctx: JobContext) -> Any:
    def warn(message: str) -> None:
        ctx.result["warnings"].append(message)
        if message not in _warned:  # once per process, not once per run
            _warned.add(message)
            ctx.log.warning(message)

    return warn


async def _clean_up_after_crash(ctx: JobContext, waiting: set[str]) -> None:
    """Remove temporary copies a previous run left; forget torrents no longer waiting."""
    store = ctx.services.store
    entries = await store.read(download_journal)
    for entry in entries:
        removed = await asyncio.to_thread(remove_temp_files, entry.destination)
        if removed:
            ctx.result["temp_files_removed"] += len(removed)
            ctx.log.warning(
                "removed %d unfinished cop%s left in %s by an interrupted run",
                len(removed),
                "y" if len(removed) == 1 else "ies",
                entry.destination,
            )
        if entry.torrent_hash not in waiting:
            await store.write(partial(forget_journal_entry, entry.torrent_hash))


async def _journal(ctx: JobContext, plan: TorrentPlan) -> None:
    row = {
        "torrent_hash": plan.torrent_hash,
        "torrent_name": plan.name,
        "destination": plan.root,
        "job_id": ctx.job_id,
        "started_at": time.time(),
    }
    await ctx.services.store.write(lambda: journal_download(row))


class _Recorder:
    """Records each file in HandledDownload the moment it is in place (called on the
    worker thread; the writer thread batches the rows), so that a crash a moment
    later still knows the file was copied, not merely found."""

    def __init__(self, ctx: JobContext, torrent: Torrent) -> None:
        self.writer = ctx.services.store.writer
        self.job_id = ctx.job_id
        self.torrent = torrent
        self.pending: list[Future[None]] = []

    def __call__(self, item: PlannedFile, method: str, _new: bool) -> None:
        row = {
            "torrent_hash": self.torrent.hash,
            "torrent_name": self.torrent.name,
            "source": item.source,
            "destination": item.destination,
            "method": method,
            "size": item.size,
            "job_id": self.job_id,
            "at": time.time(),
        }
        self.pending.append(self.writer.submit(lambda: record_handled_download(row)))

    async def flush(self) -> None:
        """Wait until every row is written; the writer keeps order, so the last suffices."""
        if self.pending:
            await asyncio.wrap_future(self.pending[-1])
        for future in self.pending:
            future.result()  # done by now; raises if that row could not be written
        self.pending.clear()


async def _record(
    ctx: JobContext, torrent: Torrent, plan: TorrentPlan, placement: Placement, recorder: _Recorder
) -> None:
    """Count what was done with the torrent; its rows are written when all are in."""
    await recorder.flush()
    result = ctx.result
    result["files_linked"] += placement.linked
    result["files_copied"] += placement.copied
    result["bytes"] += placement.bytes_placed
    result["skipped"] += placement.already_there + len(plan.skipped)
    for name, reason in plan.skipped:
        if len(result["skipped_files"]) < DETAILS_KEPT:
            result["skipped_files"].append(
                {"torrent": torrent.name, "file": name, "reason": reason}
            )
    if placement.copy_reason:
        ctx.log.info(
            "%s: hard links are not possible (%s); files were copied",
            torrent.name,
            placement.copy_reason,
        )


async def _reject(
    ctx: JobContext,
    qbittorrent: QBittorrentClient,
    error_tag: str,
    torrent: Torrent,
    reason: str,
    plan: TorrentPlan | None,
) -> None:
    ctx.log.warning("%s (%s) not placed: %s", torrent.name, torrent.hash, reason)
    await qbittorrent.add_tags(torrent.hash, [error_tag])
    await ctx.services.store.write(lambda: forget_journal_entry(torrent.hash))
    result = ctx.result
    result["failed"] += 1
    result["failures"].append({"hash": torrent.hash, "name": torrent.name, "reason": reason})
    entry = {
        "hash": torrent.hash,
        "name": torrent.name,
        "status": "failed",
        "reason": reason,
        "destination": plan.root if plan is not None else None,
    }
    entry["summary"] = describe_torrent(entry)
    result["torrents"].append(entry)


def _count_processed(
    result: dict[str, Any], plan: TorrentPlan, placement: Placement
) -> dict[str, Any]:
    result["torrents_processed"] += 1
    if placement.done and plan.root not in result["placed_paths"]:
        result["placed_paths"].append(plan.root)
    files = result.setdefault("placed_files", [])
    for item, _method, _new in placement.done:
        if item.destination not in files:
            files.append(item.destination)
    entry = {
        "hash": plan.torrent_hash,
        "name": plan.name,
        "status": "processed",
        "destination": plan.root,
        "linked": placement.linked,
        "copied": placement.copied,
        "already_there": placement.already_there,
        "skipped": len(plan.skipped),
        **torrent_outcome(placement),
        "post_import": [],
    }
    result["torrents"].append(entry)
    return entry


def _summary(result: dict[str, Any]) -> str:
    text = (
        f"{result['torrents_processed']} torrent(s) processed: "
        f"{result['files_linked']} linked, {result['files_copied']} copied, "
        f"{result['skipped']} skipped, {result['failed']} failed"
    )
    why = sorted({t["why_copied"].split(":")[0] for t in result["torrents"] if t.get("why_copied")})
    return text + (f" (copied: {', '.join(why)})" if why else "")

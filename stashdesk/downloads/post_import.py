"""What happens to a torrent once its files are in the library (Sonarr's "completed
download handling"): a move to ``qbittorrent.done_category``, and its removal from
qBittorrent (files kept) once it has seeded enough.

A torrent is removed when its share ratio reached ``downloads.remove_after_ratio`` or it
has seeded ``downloads.remove_after_hours`` (either; -1 = never), and only when every
file StashDesk would place is in the library right now: the torrent is planned again
(:func:`~stashdesk.downloads.placement.plan_torrent`, the same skip rules) and each
planned file must be found there (linked, or the same file); a torrent with nothing in
the library, or one that cannot be planned, stays.

:func:`sweep_imported` is what the Download Processor runs each pass; it returns a
JSON-able summary (``moved``, ``removed``, ``kept`` with reasons).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from stashdesk.clients.errors import QBittorrentError
from stashdesk.clients.qbittorrent import QBittorrentClient, Torrent, TorrentFile
from stashdesk.downloads.placement import SkipReason, TorrentRejected, plan_torrent

if TYPE_CHECKING:
    from stashdesk.settings import Settings


def post_import_wanted(settings: Settings) -> bool:
    return bool(settings.get("qbittorrent.done_category")) or removal_limits(settings) != (
        None,
        None,
    )


def removal_limits(settings: Settings) -> tuple[float | None, float | None]:
    ratio = float(settings.get("downloads.remove_after_ratio"))
    hours = float(settings.get("downloads.remove_after_hours"))
    return (ratio if ratio >= 0 else None), (hours if hours >= 0 else None)


def removal_due(torrent: Torrent, ratio: float | None, hours: float | None) -> str | None:
    """Why the torrent has seeded enough ("ratio 1.02 reached 1"), or None."""
    if ratio is not None and torrent.ratio >= ratio:
        return f"ratio {torrent.ratio:.2f} reached downloads.remove_after_ratio ({ratio:g})"
    if hours is not None and torrent.seeding_time >= hours * 3600:
        return (
            f"seeded {torrent.seeding_time / 3600:.2f} h, reached "
            f"downloads.remove_after_hours ({hours:g})"
        )
    return None


def missing_from_library(
    torrent: Torrent, files: list[TorrentFile], destination: str, skip_reason: SkipReason | None
) -> str | None:
    """None when every file StashDesk places for ``torrent`` is in the library now, else
    why not (blocking: it looks at the disk)."""
    try:
        plan = plan_torrent(torrent, files, destination, skip_reason)
    except TorrentRejected as rejected:
        return rejected.reason
    waiting = plan.to_place
    if waiting:
        return f"{len(waiting)} of its files are not in the library (e.g. {waiting[0].destination})"
    if not plan.files:
        return "none of its files is in the library"
    return None


async def move_to_done_category(
    qbittorrent: QBittorrentClient, torrent: Torrent, category: str
) -> str:
    await qbittorrent.set_category(torrent.hash, category)
    return f"moved to category {category}"


async def sweep_imported(
    qbittorrent: QBittorrentClient,
    settings: Settings,
    destination: str,
    skip_reason: SkipReason | None,
) -> dict[str, list[dict[str, Any]]]:
    """Move placed torrents still in ``qbittorrent.category`` to the done category, and
    remove those that seeded enough. Placed = carrying the processed tag, in the
    category or the done category."""
    category = settings.get("qbittorrent.category")
    done_category = settings.get("qbittorrent.done_category")
    ratio, hours = removal_limits(settings)
    outcome: dict[str, list[dict[str, Any]]] = {
        "moved": [],
        "removed": [],
        "kept": [],
        "errors": [],
    }
    ours = {category, done_category} - {""}
    torrents = [
        t
        for t in await qbittorrent.tagged_torrents(settings.get("qbittorrent.processed_tag"))
        if t.category in ours
    ]
    for torrent in sorted(torrents, key=lambda t: (t.name, t.hash)):
        entry = {"hash": torrent.hash, "name": torrent.name}
        try:
            if done_category and torrent.category != done_category:
                await move_to_done_category(qbittorrent, torrent, done_category)
                outcome["moved"].append({**entry, "category": done_category})
            due = removal_due(torrent, ratio, hours)
            if due is None:
                continue
            files = await qbittorrent.torrent_files(torrent.hash)
            missing = await asyncio.to_thread(
                missing_from_library, torrent, files, destination, skip_reason
            )
            if missing is not None:
                outcome["kept"].append({**entry, "reason": f"{due}, but {missing}"})
                continue
            await qbittorrent.remove_torrent(torrent.hash)
            outcome["removed"].append({**entry, "reason": due})
        except QBittorrentError as exc:
            outcome["errors"].append({**entry, "reason": str(exc)})
    return outcome

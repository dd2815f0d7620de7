"""How a torrent got into the library, in words: hard-linked or copied, and why.

:func:`torrent_outcome` turns what :func:`~stashdesk.downloads.placement.place_torrent`
did into the fields of a torrent's entry in the PROCESS_DOWNLOADS result;
:func:`describe_torrent` makes the one line a job's details or a daemon card shows,
and :func:`describe_downloads` one line for the whole job.
"""

from __future__ import annotations

import errno
from typing import Any

from stashdesk.downloads.placement import Placement

# Why link() could not be used, by its errno, for people.
COPY_REASONS = {
    errno.EXDEV: "another filesystem: the library and the download are on different disks",
    errno.EPERM: "linking refused: the filesystem does not allow linking these files "
    "(protected hard links when qBittorrent runs as another user)",
    errno.EMLINK: "linking refused: the file has too many hard links already",
    errno.ENOTSUP: "linking refused: the library's filesystem has no hard links",
    errno.ENOSYS: "linking refused: the library's filesystem has no hard links",
}
if hasattr(errno, "EOPNOTSUPP"):
    COPY_REASONS.setdefault(errno.EOPNOTSUPP, COPY_REASONS[errno.ENOTSUP])


def copy_reason(placement: Placement) -> str | None:
    if placement.copy_errno is None:
        return placement.copy_reason
    return COPY_REASONS.get(placement.copy_errno, placement.copy_reason)


def torrent_outcome(placement: Placement) -> dict[str, Any]:
    """``method`` (hardlink, copy, mixed, already_there, none), ``why_copied`` (in
    words; ``copy_reason`` keeps the system's error), ``copy_kind`` (cross_filesystem,
    link_refused) and the bytes copied."""
    linked, copied = placement.linked, placement.copied
    if linked and copied:
        method = "mixed"
    elif copied:
        method = "copy"
    elif linked:
        method = "hardlink"
    else:
        method = "already_there" if placement.already_there else "none"
    reason = copy_reason(placement) if copied else None
    kind = None
    if copied:
        kind = "cross_filesystem" if placement.copy_errno == errno.EXDEV else "link_refused"
    bytes_copied = sum(f.size for f, how, new in placement.done if new and how == "copied")
    return {
        "method": method,
        "copy_reason": placement.copy_reason,
        "why_copied": reason,
        "copy_kind": kind,
        "bytes_copied": bytes_copied,
    }


def _size(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return str(count)


def describe_torrent(entry: dict[str, Any]) -> str:
    """One line for a torrent's entry of a PROCESS_DOWNLOADS result ("Pack: 3 files
    hard-linked", "Pack: 2 files copied (another filesystem: ...), 1.2 GB")."""
    name = entry.get("name") or entry.get("hash") or "?"
    if entry.get("status") == "failed":
        return f"{name}: not placed - {entry.get('reason')}"
    linked, copied = int(entry.get("linked") or 0), int(entry.get("copied") or 0)
    parts = []
    if linked:
        parts.append(f"{linked} file{'s' if linked != 1 else ''} hard-linked")
    if copied:
        parts.append(
            f"{copied} file{'s' if copied != 1 else ''} copied "
            f"({entry.get('why_copied') or 'hard links not possible'}), "
            f"{_size(int(entry.get('bytes_copied') or 0))}"
        )
    if entry.get("already_there"):
        parts.append(f"{entry['already_there']} already in the library")
    if entry.get("skipped"):
        parts.append(f"{entry['skipped']} skipped")
    text = f"{name}: " + (", ".join(parts) if parts else "nothing to place")
    for action in entry.get("post_import") or []:
        text += f"; {action}"
    return text


def describe_downloads(result: dict[str, Any]) -> str:
    """One line for a whole PROCESS_DOWNLOADS result (job card, notification)."""
    torrents = result.get("torrents") or []
    linked = sum(1 for t in torrents if t.get("method") == "hardlink")
    copied = [t for t in torrents if t.get("method") in ("copy", "mixed")]
    failed = sum(1 for t in torrents if t.get("status") == "failed")
    parts = [f"{len(torrents) - failed} torrent(s) placed"]
    if linked:
        parts.append(f"{linked} hard-linked")
    if copied:
        kinds = sorted(
            {
                "another filesystem"
                if t.get("copy_kind") == "cross_filesystem"
                else "linking refused"
                for t in copied
            }
        )
        parts.append(f"{len(copied)} copied ({', '.join(kinds)})")
    if failed:
        parts.append(f"{failed} refused")
    return ", ".join(parts)

"""Room for a copy: a copy into the library must leave ``downloads.min_free_gb`` free.

A hard link takes no room; a copy (another filesystem, linking refused) takes its
whole size. :func:`room_check` gives ``place_torrent`` its ``before_copy`` hook: it
refuses the torrent (:class:`TorrentRejected`, so it gets the error tag) before the
first byte is written, so a copy that would not fit leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable

from stashdesk.downloads.placement import TorrentRejected

GB = 1024**3


def _gb(count: float) -> str:
    return f"{count / GB:.2f} GB"


def existing_folder(path: str) -> str:
    while not os.path.isdir(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path


def room_check(folder: str, min_free_gb: float) -> Callable[[int], None]:
    """``before_copy(needed)``: raises TorrentRejected when ``needed`` bytes would leave
    less than ``min_free_gb`` free at ``folder``."""
    keep = int(min_free_gb * GB)

    def check(needed: int) -> None:
        place = existing_folder(folder)
        free = shutil.disk_usage(place).free
        if free - needed >= keep:
            return
        raise TorrentRejected(
            f"not enough free space to copy it into the library: it needs {_gb(needed)}, "
            f"{place} has {_gb(free)} free and downloads.min_free_gb keeps {_gb(keep)} free "
            f"- free some space (or lower downloads.min_free_gb), then remove the error tag"
        )

    return check

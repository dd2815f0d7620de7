"""Test-only hooks for the download placement, loaded into a headless process through
``STASHDESK_PLUGINS=tests.downloads_plugin``; each is switched on by an environment variable.

``STASHDESK_TEST_FORCE_EXDEV=1``
    ``os.link`` fails with EXDEV, as if the library were on another filesystem,
    so every file is copied.
``STASHDESK_TEST_COPY_GATE=<folder>`` with ``STASHDESK_TEST_PAUSE_AT_COPY=<n>``
    The n-th copy (1-based) pauses after its first chunk is written: it writes
    ``<folder>/paused`` (holding the temporary file's path) and waits, at most
    ``STASHDESK_TEST_PAUSE_SECONDS`` (120), until ``<folder>/release`` exists.
    A test kills the process while it waits.
"""

from __future__ import annotations

import errno
import itertools
import os
import time
from collections.abc import Callable
from pathlib import Path

from stashdesk.downloads import placement

if os.environ.get("STASHDESK_TEST_FORCE_EXDEV") == "1":

    def _cross_device_link(src, dst, *args, **kwargs):
        raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), src, None, dst)

    os.link = _cross_device_link

_gate = os.environ.get("STASHDESK_TEST_COPY_GATE")
if _gate:
    _pause_at = int(os.environ.get("STASHDESK_TEST_PAUSE_AT_COPY", "1"))
    _limit = float(os.environ.get("STASHDESK_TEST_PAUSE_SECONDS", "120"))
    _copies = itertools.count(1)
    _real_copy_file = placement.copy_file

    def _pausing_copy_file(
        source: str,
        destination: str,
        size: int,
        is_cancelled: Callable[[], bool],
        on_bytes: Callable[[int], None],
    ) -> None:
        if next(_copies) != _pause_at:
            return _real_copy_file(source, destination, size, is_cancelled, on_bytes)
        gate = Path(_gate)
        first = [True]

        def pause_after_first_chunk(count: int) -> None:
            on_bytes(count)
            if not first[0]:
                return
            first[0] = False
            (gate / "paused").write_text(placement.temp_path_for(destination))
            deadline = time.monotonic() + _limit
            while not (gate / "release").exists() and time.monotonic() < deadline:
                time.sleep(0.02)

        return _real_copy_file(source, destination, size, is_cancelled, pause_after_first_chunk)

    placement.copy_file = _pausing_copy_file

"""Sample videos a release carries (``Sample/``, ``movie-sample.mkv``) stay out of the library.

The rule is Sonarr's: a video whose name has "sample" as a word, and which is small
(Sonarr's old limit: 70 MB), is a sample. Here the name is the file's own name and each
folder between the torrent's folder and the file, matched against
``downloads.sample_patterns``; ``downloads.sample_max_mb`` bounds the size (0: any
size). The length rule is ``downloads.min_duration_seconds`` (:mod:`.media`).
Only videos are judged: a ``sample.txt`` or a ``Sample/cover.jpg`` is placed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence

from stashdesk.downloads.media import is_video

SkipReason = Callable[[str, str], "str | None"]  # (source, destination) -> why not, or None


class SampleFilter:
    """``(source, destination) -> reason`` for sample videos.

    Attributes:
        patterns: compiled ``downloads.sample_patterns`` (case-insensitive).
        max_bytes: size limit of a sample (0: any size).
    """

    def __init__(self, patterns: Sequence[str], max_mb: float, destination: str) -> None:
        self.patterns = [re.compile(p, re.IGNORECASE) for p in patterns]
        self.max_bytes = int(max_mb * 1024 * 1024)
        self.destination = os.path.normpath(destination)

    def names(self, destination: str) -> list[str]:
        """The file's name (without extension) and the folders within its torrent."""
        parts = os.path.relpath(destination, self.destination).split(os.sep)
        stem = os.path.splitext(parts[-1])[0]
        return [stem, *parts[1:-1]]  # parts[0] is the torrent's own folder

    def __call__(self, source: str, destination: str) -> str | None:
        if not self.patterns or not is_video(destination):
            return None
        name = next(
            (n for n in self.names(destination) if any(p.search(n) for p in self.patterns)), None
        )
        if name is None:
            return None
        size = os.path.getsize(source)
        if self.max_bytes and size > self.max_bytes:
            return None
        limit = f", {size / 1024 / 1024:.1f} MB" if self.max_bytes else ""
        return (
            f"sample video ({name!r} matches downloads.sample_patterns{limit}; "
            f"downloads.skip_samples)"
        )


def combine_skip_reasons(*filters: SkipReason | None) -> SkipReason | None:
    """One skip rule from several: the first reason given wins; None when there are none."""
    chosen = [f for f in filters if f is not None]
    if not chosen:
        return None

    def reason(source: str, destination: str) -> str | None:
        for rule in chosen:
            found = rule(source, destination)
            if found:
                return found
        return None

    return reason

"""Video durations through ffprobe, for the ``downloads.min_duration_seconds`` filter.

ffprobe is optional: when it is not installed the filter is off (the job says
so once), and a file ffprobe cannot read is kept rather than dropped.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from stashdesk.resources_path import is_frozen

# Stash's default video extensions, plus a few container formats it also reads.
VIDEO_EXTENSIONS = frozenset(
    {
        ".m4v",
        ".mp4",
        ".mov",
        ".wmv",
        ".avi",
        ".mpg",
        ".mpeg",
        ".rmvb",
        ".rm",
        ".flv",
        ".asf",
        ".mkv",
        ".webm",
        ".f4v",
        ".ts",
        ".m2ts",
        ".mts",
        ".3gp",
        ".ogv",
        ".vob",
        ".divx",
    }
)

PROBE_TIMEOUT = 60.0


def is_video(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in VIDEO_EXTENSIONS


def find_ffprobe() -> str | None:
    """ffprobe on PATH, or None."""
    return shutil.which("ffprobe")


def host_program_env() -> dict[str, str]:
    """The environment for a program of the system (ffprobe) started from StashDesk.

    A frozen build's bootloader points LD_LIBRARY_PATH at the bundle's own libraries
    (keeping the user's value in LD_LIBRARY_PATH_ORIG); a system program must not load
    those instead of the system's.
    """
    env = dict(os.environ)
    if is_frozen():
        original = env.pop("LD_LIBRARY_PATH_ORIG", None)
        if original is None:
            env.pop("LD_LIBRARY_PATH", None)
        else:
            env["LD_LIBRARY_PATH"] = original
    return env


def probe_duration(ffprobe: str, path: str, timeout: float = PROBE_TIMEOUT) -> float | None:
    """The duration of ``path`` in seconds, or None when ffprobe cannot tell."""
    try:
        done = subprocess.run(
            [
                ffprobe,
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "default=noprint_wrappers=1:nokey=1",
                path,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
            env=host_program_env(),
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        return float(done.stdout.strip().splitlines()[0])
    except (ValueError, IndexError):  # "N/A" or nothing
        return None


class DurationFilter:
    """``(source, destination) -> reason`` for skipping videos shorter than ``minimum``.

    Attributes:
        unreadable: videos ffprobe could not measure (kept, not skipped).
    """

    def __init__(self, ffprobe: str, minimum: float) -> None:
        self.ffprobe = ffprobe
        self.minimum = minimum
        self.unreadable: list[str] = []

    def __call__(self, source: str, destination: str) -> str | None:
        if not is_video(destination):
            return None
        duration = probe_duration(self.ffprobe, source)
        if duration is None:
            self.unreadable.append(source)
            return None
        if duration < self.minimum:
            return (
                f"video is {duration:.1f} s long, shorter than "
                f"downloads.min_duration_seconds ({self.minimum:g} s)"
            )
        return None

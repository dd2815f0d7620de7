"""Where StashDesk's ``resources/`` folder (icons, style sheet, desktop entry) is.

One answer for every way StashDesk runs, so no module builds resource paths
from its own ``__file__``:

1. ``$STASHDESK_RESOURCES_DIR`` when set (a packager that installs the files
   elsewhere, e.g. ``/usr/share/stashdesk``): used as given, even if files are
   missing there, so ``stashdesk --self-check`` names the wrong folder instead of
   quietly using another one;
2. a frozen build (PyInstaller sets ``sys.frozen``): ``resources/`` inside the
   bundle's data folder, ``sys._MEIPASS`` (``_internal/`` next to the
   executable in a one-folder build), else next to the executable;
3. a source checkout: ``resources/`` beside the ``stashdesk`` package;
4. an installed wheel: ``<prefix>/share/stashdesk/resources`` (pyproject's data-files).

Qt-free: the self-check and the build spec use it without a QApplication.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV_VAR = "STASHDESK_RESOURCES_DIR"
FOLDER = "resources"

APP_ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
TRAY_STATES = ("idle", "working", "error")
TRAY_ICON_SIZES = (32, 64)

# Every file the application and the installer expect, relative to the folder.
REQUIRED_RESOURCES: tuple[str, ...] = (
    "icons/stashdesk.svg",
    *(f"icons/stashdesk-{size}.png" for size in APP_ICON_SIZES),
    "icons/stashdesk.ico",
    *(f"icons/tray-{state}.svg" for state in TRAY_STATES),
    *(f"icons/tray-{state}-{size}.png" for state in TRAY_STATES for size in TRAY_ICON_SIZES),
    "style.qss",
    "stashdesk.desktop",
)


def is_frozen() -> bool:
    """True inside a PyInstaller build."""
    return bool(getattr(sys, "frozen", False))


def candidate_dirs() -> list[Path]:
    """Where ``resources_dir`` looks, in order."""
    override = os.environ.get(ENV_VAR)
    if override:
        return [Path(override).expanduser()]
    candidates = []
    if is_frozen():
        bundle = getattr(sys, "_MEIPASS", None)
        if bundle:
            candidates.append(Path(bundle) / FOLDER)
        candidates.append(Path(sys.executable).resolve().parent / FOLDER)
    candidates.append(Path(__file__).resolve().parent.parent / FOLDER)
    candidates.append(Path(sys.prefix) / "share" / "stashdesk" / FOLDER)
    return candidates


def resources_dir() -> Path:
    """The first candidate folder that exists (the first one if none does)."""
    candidates = candidate_dirs()
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def resource_path(*parts: str) -> Path:
    """A file under the resources folder, e.g. ``resource_path("icons", "stashdesk.svg")``."""
    return resources_dir().joinpath(*parts)


def missing_resources(folder: Path | None = None) -> list[str]:
    """The REQUIRED_RESOURCES not present (as files) in ``folder`` (default: resources_dir())."""
    folder = resources_dir() if folder is None else folder
    return [name for name in REQUIRED_RESOURCES if not (folder / name).is_file()]

"""Starting the desktop window (placeholder until the window issue lands)."""

from __future__ import annotations

from pathlib import Path


def run_gui(data_dir: Path, minimized: bool = False, verbose: bool = False) -> int:
    raise SystemExit("the desktop window is not built yet; use --headless")

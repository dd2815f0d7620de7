"""Where StashDesk keeps its data: ``--data-dir``, else ``STASHDESK_DATA_DIR``, else the
platform's user data directory."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

from stashdesk import APP_NAME


def resolve_data_dir(cli_value: str | os.PathLike | None = None) -> Path:
    if cli_value:
        path = Path(cli_value)
    elif os.environ.get("STASHDESK_DATA_DIR"):
        path = Path(os.environ["STASHDESK_DATA_DIR"])
    else:
        path = Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))
    return path.expanduser().resolve()


def ensure_data_dir(path: Path) -> Path:
    """Create the folder readable by its owner only (it may hold secrets)."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
    return path

"""Where the data lives: --data-dir, else STASHDESK_DATA_DIR, else the platform's folder."""

from __future__ import annotations

import stat
from pathlib import Path

import platformdirs

from stashdesk.paths import ensure_data_dir, resolve_data_dir


def test_command_line_wins_over_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STASHDESK_DATA_DIR", str(tmp_path / "from-env"))
    assert resolve_data_dir(tmp_path / "from-cli") == (tmp_path / "from-cli").resolve()
    assert resolve_data_dir(None) == (tmp_path / "from-env").resolve()


def test_platform_folder_by_default(monkeypatch) -> None:
    monkeypatch.delenv("STASHDESK_DATA_DIR", raising=False)
    expected = Path(platformdirs.user_data_dir("StashDesk", appauthor=False)).resolve()
    assert resolve_data_dir(None) == expected


def test_a_new_data_folder_is_private(tmp_path: Path) -> None:
    folder = ensure_data_dir(tmp_path / "new" / "data")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700

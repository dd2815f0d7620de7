"""Fixtures shared by the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    """Where qBittorrent keeps content: two levels deep, so '..' escapes stay in tmp_path."""
    path = tmp_path / "dl" / "save"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def library(tmp_path: Path) -> Path:
    path = tmp_path / "library"
    path.mkdir()
    return path

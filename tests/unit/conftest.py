"""Fixtures shared by the unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from stashdesk.settings import Settings
from stashdesk.store import Store


@pytest.fixture
def settings(tmp_path: Path):
    """Settings on a fresh database in ``tmp_path`` (no keyring)."""
    store = Store(tmp_path)
    s = Settings(tmp_path, use_keyring=False)
    s.reload()
    yield s
    store.close()

"""Pytest fixtures for the Stash stand-in (registered from tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.standins.stash_server import StashStandin


@pytest.fixture
def stash_server() -> Iterator[StashStandin]:
    """A started, empty :class:`StashStandin` (zone +05:30), stopped at teardown.

    Teardown also fails the test if the stand-in itself hit a bug while answering
    (``internal_errors``), so a broken stand-in cannot masquerade as a Stash error.
    """
    server = StashStandin()
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert not server.internal_errors, f"stand-in internal errors: {server.internal_errors!r}"

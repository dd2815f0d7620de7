"""pytest plugin: a real qbittorrent-nox per test (see ``qbittorrent_harness``).

Fixtures
--------
``qbittorrent``
    Function-scoped :class:`QBittorrentProcess`, started in its own temporary
    directory and stopped afterwards.  Startup of qbittorrent-nox 4.5.2 takes
    about 0.1-0.2 s and a graceful stop a few ms, so every test gets a fresh
    daemon (no shared state, no cleanup between tests needed).
``qbittorrent_factory``
    Callable starting additional instances (``factory()`` -> started process),
    all stopped at teardown; for tests that need two daemons or a not-yet
    started one (``factory(start=False)``).
``qbittorrent_binary``
    Path of qbittorrent-nox.

When qbittorrent-nox is missing the test is skipped -- except when
``CI=true``, where it fails loudly: CI must run these tests.  Tests requesting
any of these fixtures get the ``qbittorrent`` marker automatically (so
``-m "not qbittorrent"`` deselects them).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from tests.standins.qbittorrent_harness import QBittorrentProcess, find_qbittorrent_nox

_FIXTURES = ("qbittorrent", "qbittorrent_factory", "qbittorrent_binary")


def require_qbittorrent_nox() -> str:
    """The binary path, or skip (fail when ``CI == "true"``) if it is not installed."""
    binary = find_qbittorrent_nox()
    if binary:
        return binary
    reason = (
        "qbittorrent-nox not found on PATH (or $STASHDESK_QBITTORRENT_NOX); "
        "install it (e.g. apt-get install qbittorrent-nox) to run the qBittorrent tests"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", ())
        if any(name in names for name in _FIXTURES):
            item.add_marker(pytest.mark.qbittorrent)


@pytest.fixture
def qbittorrent_binary() -> str:
    return require_qbittorrent_nox()


@pytest.fixture
def qbittorrent_factory(
    qbittorrent_binary: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., QBittorrentProcess]]:
    processes: list[QBittorrentProcess] = []

    def factory(start: bool = True) -> QBittorrentProcess:
        process = QBittorrentProcess(binary=qbittorrent_binary)
        processes.append(process)
        if start:
            process.start(tmp_path_factory.mktemp("qbt"))
        return process

    yield factory
    _stop_all(processes)


def _stop_all(processes: list[QBittorrentProcess]) -> None:
    """Stop every process, even when stopping one of them raises."""
    if processes:
        try:
            processes[0].stop()
        finally:
            _stop_all(processes[1:])


@pytest.fixture
def qbittorrent(
    qbittorrent_factory: Callable[..., QBittorrentProcess],
) -> QBittorrentProcess:
    """A started qbittorrent-nox on 127.0.0.1 (admin / adminadmin), empty session."""
    return qbittorrent_factory()

"""UI tests run on a qasync loop, so the engine's tasks and Qt share one loop.

pytest-asyncio asks ``pytest_asyncio_loop_factories`` (this directory only) for
its loop. Waiting is done with ``await wait_until(...)`` (tests/engine_fixtures):
the Qt-blocking qtbot.waitUntil would re-enter the loop from inside a task.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import qasync
from PySide6.QtWidgets import QApplication

import tests.fake_plugins  # registers test-tick, test-crash and the test job types
from stashdesk.ui.theme import apply_theme
from tests.ui.fakes import FakeTray

# Every loop made stays referenced until the end of the session. A closed qasync
# loop keeps a QObject timer with timers still registered; if Python's garbage
# collector freed it on another thread (the database writer allocates a lot),
# Qt would later fire a timer at a deleted object and crash. In the app there is
# one loop for the whole run, so this only concerns tests.
_LOOPS: list[asyncio.AbstractEventLoop] = []


def _qasync_loop() -> asyncio.AbstractEventLoop:
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    _LOOPS.append(loop)
    return loop


def pytest_asyncio_loop_factories(config, item):
    return {"qasync": _qasync_loop}


@pytest.fixture
def all_daemons():
    """Ask for this to keep every registered daemon (the real ones too) in the window."""


@pytest.fixture(autouse=True)
def _only_test_daemons(request, monkeypatch):
    """The window shows whatever is registered; most UI tests want only the scripted
    test daemons, not the real ones (which would talk to Stash and qBittorrent)."""
    from stashdesk.app import load_plugins
    from stashdesk.daemons.manager import DAEMON_TYPES

    if "all_daemons" in request.fixturenames:
        return
    load_plugins()  # register the real ones now, or the engine's start would add them later
    for name in list(DAEMON_TYPES):
        if not name.startswith("test-"):
            monkeypatch.delitem(DAEMON_TYPES, name)


@pytest.fixture(autouse=True)
def _crash_counter():
    """The crashing test daemon counts starts per class: start each test from zero."""
    tests.fake_plugins.CrashingDaemon.starts = 0
    yield


class Gui:
    """A started engine, its in-process client and its window (with a recording fake
    tray when asked). Tests drive the engine through ``services``; the window only
    knows ``client``."""

    def __init__(self, services, client, window, tray: FakeTray | None) -> None:
        self.services = services
        self.client = client
        self.window = window
        self.fake_tray = tray

    @property
    def manager(self):
        return self.services.manager


@pytest.fixture
async def make_gui(engines, data_dir: Path, qapp):
    """``await make_gui(tray=False, settings=None)`` -> Gui; torn down after the test."""
    from stashdesk.engine_client.local import LocalClient
    from stashdesk.ui.window import MainWindow

    apply_theme(qapp)
    made: list = []
    clients: list = []

    async def make(
        *,
        tray: bool = False,
        settings: dict | None = None,
        show: bool = True,
        configs: dict | None = None,
    ) -> Gui:
        services = await engines.start(settings=settings)
        for name, config in (configs or {}).items():
            await services.manager.set_config(name, config)
        fakes: list[FakeTray] = []

        def factory(parent):
            fake = FakeTray(parent)
            fakes.append(fake)
            return fake

        client = LocalClient.of(engines.engine)
        await client.start()
        clients.append(client)
        window = MainWindow(
            client, data_dir=data_dir, tray_available=tray, tray_factory=factory if tray else None
        )
        made.append(window)
        if show:
            window.show()
        return Gui(services, client, window, fakes[0] if fakes else None)

    yield make
    for window in made:
        window.shutdown()
        window.deleteLater()
    for client in clients:
        await client.close()


@pytest.fixture
async def gui(make_gui) -> Gui:
    return await make_gui()

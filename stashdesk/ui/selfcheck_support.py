"""What a self-check needs from the window, in two calls.

``stashdesk --self-check`` (see ``stashdesk.selfcheck``) can prove the window
works without knowing its insides:

* ``check_window(data_dir)`` (blocking): makes a QApplication if there is none,
  runs an engine (no daemons started, no control socket) and a window on a
  qasync loop, publishes a status for the first daemon and waits until its card
  shows it; returns a ``WindowCheck`` (ok, the latency, a sentence).
* ``await check_status_reaches_card(window, client)`` does the middle part
  for code that already has a loop, an engine client and a window.

Use an empty temporary ``data_dir``. Without a display, set
``QT_QPA_PLATFORM=offscreen`` before calling.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from stashdesk.events import DaemonStatusChanged

if TYPE_CHECKING:
    from stashdesk.engine_client.base import EngineClient
    from stashdesk.ui.window import MainWindow

STATUS_TIMEOUT = 2.0


@dataclass(frozen=True)
class WindowCheck:
    ok: bool
    latency: float | None  # seconds from publish to the card showing it
    detail: str


async def check_status_reaches_card(
    window: MainWindow,
    client: EngineClient,
    daemon: str | None = None,
    timeout: float = STATUS_TIMEOUT,
) -> WindowCheck:
    """Publish a status for ``daemon`` (default: the first registered) and wait for its card."""
    names = list(client.mirror.daemons)
    if daemon is None:
        if not names:
            return WindowCheck(False, None, "no daemon is registered, so no card to check")
        daemon = names[0]
    message = f"Self-check {time.time():.6f}"
    started = time.perf_counter()
    client.bus.publish(DaemonStatusChanged(daemon=daemon, message=message, phase="working"))
    card = window.card(daemon)
    while card.status_text() != message:
        if time.perf_counter() - started > timeout:
            return WindowCheck(
                False,
                None,
                f"the {daemon} card did not show a published status within {timeout:g} s",
            )
        await asyncio.sleep(0.005)
    latency = time.perf_counter() - started
    return WindowCheck(
        True, latency, f"a status reached the {daemon} card in {latency * 1000:.0f} ms"
    )


def check_window(data_dir: Path, timeout: float = STATUS_TIMEOUT) -> WindowCheck:
    """Start an engine and a window on ``data_dir``, check the status path, stop."""
    import qasync
    from PySide6.QtWidgets import QApplication

    from stashdesk.app import Engine
    from stashdesk.engine_client.local import LocalClient
    from stashdesk.ui.theme import apply_theme
    from stashdesk.ui.window import MainWindow

    # PySide's stubs type instance() as the QCoreApplication base: here it is the QApplication
    app = cast(QApplication, QApplication.instance() or QApplication(sys.argv[:1]))
    apply_theme(app)

    async def run() -> WindowCheck:
        engine = Engine(Path(data_dir), use_keyring=False, mode="self-check")
        await engine.start(auto_start=False, control=False)
        client = LocalClient.of(engine)
        await client.start()
        window = MainWindow(client, data_dir=Path(data_dir), tray_available=False)
        try:
            window.show()
            return await check_status_reaches_card(window, client, timeout=timeout)
        finally:
            window.shutdown()
            window.deleteLater()
            await client.close()
            await engine.stop()

    loop = qasync.QEventLoop(app)
    try:
        checked: WindowCheck = loop.run_until_complete(run())  # qasync is untyped
        return checked
    except Exception as exc:
        return WindowCheck(False, None, f"the window could not start: {type(exc).__name__}: {exc}")
    finally:
        loop.close()

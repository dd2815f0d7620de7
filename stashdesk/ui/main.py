"""Starting the desktop window: ``stashdesk`` without a command lands here.

``run_gui`` makes the QApplication, settles single-instance (a second start
raises the first window and exits), runs the engine and the window on one
qasync event loop, and quits in stages: the window detaches, the daemons stop
(clearing their status), jobs reach a safe point, the writer is flushed, then
the loop closes. With ``connect`` the window hosts no engine: it attaches to the
engine API at that URL, and quitting leaves that engine running.

The program ends through one door: a *quit sentinel* future. The tray menu's
Quit, closing the window without a tray, Ctrl+Q, SIGINT/SIGTERM and Qt's
``aboutToQuit`` (a session ending) all resolve it; the main coroutine then shuts
the engine down and returns. If Qt's loop is stopped from outside before that
finished, the shutdown is completed on a fresh turn of the loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import qasync
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from stashdesk import APP_NAME
from stashdesk.app import Engine, EngineAlreadyRunning
from stashdesk.app_identity import set_app_user_model_id
from stashdesk.engine_client.base import EngineClient
from stashdesk.engine_client.errors import ClientError, UntrustedEngine
from stashdesk.paths import DataDirError, ensure_data_dir
from stashdesk.store import DatabaseRefused
from stashdesk.ui.pyside_check import check_pyside
from stashdesk.ui.single_instance import SingleInstance
from stashdesk.ui.theme import apply_theme

log = logging.getLogger("stashdesk.ui")

SHUTDOWN_TIMEOUT = 60.0
LOG_FILE = "stashdesk.log"


def configure_logging(data_dir: Path, verbose: bool) -> None:
    from stashdesk.log_file import configure_logging as configure_engine_logging

    configure_engine_logging(data_dir, verbose)  # stderr and the owner-only, redacted file


class GuiApp:
    """One run of the window: engine (or remote engine), client, window, quit sentinel.

    Attributes:
        engine: the Engine this window hosts (None when attached to a remote one).
        client: the EngineClient the window talks to, once open.
        window: the MainWindow once built.
        failure: a sentence for the user when the engine could not start or be reached.
    """

    def __init__(
        self,
        app: QApplication,
        data_dir: Path,
        *,
        minimized: bool = False,
        tray_available: bool | None = None,
        instance: SingleInstance | None = None,
        connect: str | None = None,
        api_key: str | None = None,
        fingerprint: str | None = None,
    ) -> None:
        self.app = app
        self.data_dir = data_dir
        self.minimized = minimized
        self.tray_available = tray_available
        self.instance = instance
        self.connect = connect
        self.api_key = api_key
        self.fingerprint = fingerprint
        self.engine = Engine(data_dir, mode="gui") if connect is None else None
        self.client: EngineClient | None = None
        self.window: Any = None
        self.switch_to: asyncio.Future[tuple[str | None, str]] | None = None
        self.failure: str | None = None
        self.quit_sentinel: asyncio.Future[None] | None = None
        self.activations = 0  # how often a second start raised the window

    def request_quit(self) -> None:
        if self.quit_sentinel is not None and not self.quit_sentinel.done():
            self.quit_sentinel.set_result(None)

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        self.quit_sentinel = loop.create_future()
        self.app.aboutToQuit.connect(self.request_quit)
        try:
            self.client = await self._open_client(self.connect, self.api_key)
        except (EngineAlreadyRunning, DatabaseRefused) as exc:
            self.failure = str(exc)
            return 2
        except ClientError as exc:
            self.failure = str(exc)
            return 1
        if self.instance is not None:
            self.instance.activated.connect(self._activated)
        try:
            self._show_window(first=True)
            if self.engine is not None and self.connect is None:
                assert self.engine.services is not None
                started = await self.engine.services.manager.auto_start()
                log.info(
                    "StashDesk window running on %s; daemons started: %s",
                    self.data_dir,
                    ", ".join(started) or "none",
                )
            while not self.quit_sentinel.done():
                self.switch_to = loop.create_future()
                either: set[asyncio.Future[Any]] = {self.quit_sentinel, self.switch_to}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                if not self.quit_sentinel.done():
                    await self._switch(*self.switch_to.result())
        finally:
            if self.window is not None:
                self.window.shutdown()
            await self.client.close()
            if self.engine is not None and self.engine.services is not None:
                log.info("quitting: stopping the daemons and jobs")
                await asyncio.wait_for(self.engine.stop(), SHUTDOWN_TIMEOUT)
            log.info("stopped cleanly")
        return 0

    def _show_window(self, first: bool) -> None:
        from stashdesk.ui.window import MainWindow

        assert self.client is not None
        window = MainWindow(self.client, data_dir=self.data_dir, tray_available=self.tray_available)
        self.window = window
        window.quit_requested.connect(self.request_quit)
        window.switch_requested.connect(self._switch_requested)
        if self.engine is not None and self.engine.ops is not None:
            self.engine.ops.window = self  # `stashdesk window show` raises this window
        if first and self.minimized and window.tray.available:
            pass  # in the tray only
        elif first and self.minimized:
            window.showMinimized()
        else:
            window.show()
        if first and not self.minimized and not self.client.remote:
            window.check_first_start()
        if self.client.remote:
            log.info("StashDesk window attached to the engine at %s", self.client.label)

    def _switch_requested(self, url: str | None, key: str) -> None:
        if self.switch_to is not None and not self.switch_to.done():
            self.switch_to.set_result((url, key))

    async def _switch(self, url: str | None, key: str) -> None:
        """Show another engine: this computer's (started if need be) or a remote one. The
        engine left keeps running; on failure the window stays on the current one."""
        self.window.show_message(f"Connecting to {url or 'this computer'}…")
        try:
            client = await self._open_client(url, key or None)
        except (ClientError, EngineAlreadyRunning, DatabaseRefused) as exc:
            self.window.show_message(f"Could not connect: {exc}", error=True)
            return
        old_client, old_window = self.client, self.window
        assert old_client is not None  # a window is showing: it has its client
        old_window.shutdown()
        old_window.deleteLater()
        await old_client.close()
        self.client = client
        self._show_window(first=False)

    async def _open_client(self, url: str | None, api_key: str | None) -> EngineClient:
        """This computer's engine (started the first time), or the remote engine at
        ``url`` once trusted and reached; its key is kept for the next time."""
        if url is None:
            from stashdesk.engine_client.local import LocalClient

            if self.engine is None:
                self.engine = Engine(self.data_dir, mode="gui")
            if self.engine.services is None:
                await self.engine.start(auto_start=False)
            client: EngineClient = LocalClient.of(self.engine)
            await client.start()
            return client
        from stashdesk.engine_client.connections import SavedConnections
        from stashdesk.engine_client.remote import RemoteClient
        from stashdesk.engine_client.trust import TrustStore

        saved = SavedConnections(self.data_dir)
        key = (
            api_key
            or os.environ.get("STASHDESK_API_KEY")
            or saved.key_for(url)
            or _ask_api_key(url)
        )
        remote = RemoteClient(
            url,
            key,
            fingerprint=self.fingerprint if url == self.connect else None,
            trust=TrustStore(self.data_dir),
        )
        try:
            try:
                await remote.start()
            except UntrustedEngine as exc:
                if not _confirm_trust(str(exc)):
                    raise
                remote.trust_fingerprint(exc.fingerprint)
                await remote.start()
        except BaseException:
            await remote.close()
            raise
        saved.remember(url, key)
        return remote

    def _activated(self) -> None:
        self.activations += 1
        self.window.bring_to_front()

    # --- the window hooks of the engine API (``Operations.window``) ------------------------------

    def show(self) -> dict[str, Any]:
        self.window.bring_to_front()
        return {"visible": self.window.isVisible()}

    def status(self) -> dict[str, Any]:
        window = self.window
        return {
            "visible": window.isVisible(),
            "minimized": window.isMinimized(),
            "title": window.windowTitle(),
            "tray": window.tray.available,
            "activations": self.activations,
        }


def _ask_api_key(url: str) -> str:
    from PySide6.QtWidgets import QInputDialog, QLineEdit

    key, ok = QInputDialog.getText(
        None,
        f"Connect to {url}",
        "The engine's API key (on the engine's machine, `stashdesk api key` prints it):",
        QLineEdit.EchoMode.Password,
    )
    if not ok or not key.strip():
        raise ClientError(f"no API key given for {url}; pass --api-key, or set STASHDESK_API_KEY")
    return key.strip()


def _confirm_trust(question: str) -> bool:
    """Trust on first use: the user compares the fingerprint and accepts it."""
    if QApplication.platformName() in ("offscreen", "minimal"):
        return False  # nobody to ask: --fingerprint says which certificate to trust
    answer = QMessageBox.question(None, "Trust this engine?", f"{question}.\n\nTrust it?")
    return answer == QMessageBox.StandardButton.Yes


def _install_exception_hooks(loop: asyncio.AbstractEventLoop, gui: GuiApp) -> None:
    def report(text: str) -> None:
        if gui.window is not None:
            gui.window.show_message(f"Internal error: {text} (details in {LOG_FILE})", error=True)

    def excepthook(
        kind: type[BaseException], value: BaseException, tb: TracebackType | None
    ) -> None:
        if issubclass(kind, KeyboardInterrupt):
            gui.request_quit()
            return
        log.critical(
            "unhandled exception:\n%s", "".join(traceback.format_exception(kind, value, tb))
        )
        report(f"{kind.__name__}: {value}")

    def loop_handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = context.get("message", "error in the event loop")
        if exc is not None:
            log.error("%s", message, exc_info=exc)
            report(f"{type(exc).__name__}: {exc}")
        else:
            log.error("%s", message)

    sys.excepthook = excepthook
    loop.set_exception_handler(loop_handler)


def _install_signal_handlers(loop: asyncio.AbstractEventLoop, gui: GuiApp) -> QTimer:
    def handler(_signum: int, _frame: Any) -> None:
        loop.call_soon_threadsafe(gui.request_quit)

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            signal.signal(sig, handler)
        except (ValueError, OSError):  # not the main thread, or not supported here
            pass
    # Python runs signal handlers between bytecodes; Qt's C++ loop gives it none
    # unless something calls into Python now and then.
    keepalive = QTimer()
    keepalive.timeout.connect(lambda: None)
    keepalive.start(250)
    return keepalive


def check_display() -> None:
    """On Linux without a display Qt aborts the process; say what to do instead."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise RuntimeError(
            "no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set); "
            "on a server run `stashdesk --headless`, or set QT_QPA_PLATFORM=offscreen"
        )


def run_gui(
    data_dir: Path,
    minimized: bool = False,
    verbose: bool = False,
    *,
    tray_available: bool | None = None,
    connect: str | None = None,
    api_key: str | None = None,
    fingerprint: str | None = None,
) -> int:
    """Run the window on ``data_dir`` until the user quits; returns the exit code.

    ``connect``: the URL of an engine API to attach to instead of hosting an engine
    (``api_key`` and ``fingerprint`` as for the CLI's ``--engine``)."""
    try:
        check_pyside()
        check_display()
    except RuntimeError as exc:
        print(f"{APP_NAME}: {exc}", file=sys.stderr)
        return 2
    set_app_user_model_id()  # before the QApplication: the taskbar and notifications use it
    # PySide's stubs type instance() as the QCoreApplication base: here it is the QApplication
    app = cast(QApplication, QApplication.instance() or QApplication(sys.argv[:1]))
    try:
        data_dir = ensure_data_dir(Path(data_dir).expanduser().resolve())
    except DataDirError as exc:
        _cannot_start(app, str(exc))
        return 2
    configure_logging(data_dir, verbose)
    app.setApplicationName(APP_NAME)
    app.setOrganizationName(APP_NAME)
    app.setDesktopFileName("stashdesk")

    instance = SingleInstance(data_dir)
    if not instance.acquire():
        if instance.signal_running():
            print(
                f"{APP_NAME} is already running for {data_dir}; its window was brought "
                "to the front."
            )
            return 0
        print(
            f"{APP_NAME}: another {APP_NAME} holds {data_dir / 'window.lock'} but does not "
            "answer; if it hangs, end it and start again.",
            file=sys.stderr,
        )
        return 1

    apply_theme(app)
    # The window lives in the tray when one exists; otherwise closing it asks first.
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    gui = GuiApp(
        app,
        data_dir,
        minimized=minimized,
        tray_available=tray_available,
        instance=instance,
        connect=connect,
        api_key=api_key,
        fingerprint=fingerprint,
    )
    _install_exception_hooks(loop, gui)
    keepalive = _install_signal_handlers(loop, gui)
    main = loop.create_task(gui.main(), name="stashdesk-gui")
    code: int = 1
    try:
        try:
            code = loop.run_until_complete(main)
        except RuntimeError:
            # Qt's loop was stopped from outside (aboutToQuit already resolved the
            # sentinel): give the staged shutdown a loop to finish on.
            if main.done():
                raise
            code = loop.run_until_complete(asyncio.wait_for(main, SHUTDOWN_TIMEOUT))
    finally:
        keepalive.stop()
        instance.release()
        loop.close()
        asyncio.set_event_loop(None)
    if gui.failure:
        log.error("%s", gui.failure)
        _cannot_start(app, gui.failure)
    return code


def _cannot_start(app: QApplication, text: str) -> None:
    """Say why on stderr and, where someone can see it, in a dialog (never a traceback)."""
    print(f"{APP_NAME}: {text}", file=sys.stderr)
    if app.platformName() not in ("offscreen", "minimal"):
        QMessageBox.critical(None, f"{APP_NAME} cannot start", text)

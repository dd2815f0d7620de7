"""The window attached to an engine in another process, over the engine API: it shows
and drives that engine, says so plainly when the link drops, catches up when it is
back, and quitting it leaves the engine running."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from stashdesk.api.tls import CERT_FILE, KEY_FILE
from stashdesk.engine_client.remote import RemoteClient
from tests.cli_helpers import REPO, api_key, cli_env, free_port, run_cli
from tests.engine_fixtures import wait_until
from tests.integration.test_api import start_engine

TICK = "test-tick"


@pytest.fixture
def engine_dir(tmp_path: Path) -> Path:
    data_dir = tmp_path / "server"
    run_cli(data_dir, "daemons", "set", TICK, "job_interval_seconds", "60")
    return data_dir


async def test_the_window_shows_and_drives_a_remote_engine_and_survives_its_restart(
    tmp_path, engine_dir, qapp
) -> None:
    from stashdesk.ui.window import MainWindow

    port = free_port()
    engine = start_engine(engine_dir, tmp_path / "engine.log", port)
    url = f"http://127.0.0.1:{port}"
    client = RemoteClient(url, api_key(engine_dir))
    window = None
    try:
        await client.start()
        (tmp_path / "desktop").mkdir()
        window = MainWindow(client, data_dir=tmp_path / "desktop", tray_available=False)
        window.show()
        assert window.windowTitle() == f"StashDesk - 127.0.0.1:{port}"
        assert f"Engine: 127.0.0.1:{port}" in window.location.text()
        card = window.card(TICK)
        assert card.badge_text() == "stopped"

        card.start_button.click()  # over HTTP; the status comes back on the event stream
        await wait_until(
            lambda: card.status_text().startswith("No test work"),
            timeout=15,
            message="the remote daemon's status on its card",
        )
        assert card.badge_text() == "running"
        assert window.daemons_page.summary.text().startswith("1 of ")

        assert engine.terminate() == 0
        await wait_until(
            lambda: window.connection_banner.isVisibleTo(window),
            timeout=15,
            message="the banner saying the link dropped",
        )
        assert "Disconnected from 127.0.0.1" in window.connection_banner.text()

        engine = start_engine(engine_dir, tmp_path / "engine2.log", port)
        await wait_until(
            lambda: not window.connection_banner.isVisibleTo(window),
            timeout=30,
            message="the window to reconnect",
        )
        # A new engine: the window reloaded its picture (the daemon is not started by a
        # restart of the engine unless set to auto-start).
        await wait_until(lambda: card.badge_text() in ("running", "stopped"), timeout=10)
        assert client.mirror.daemons[TICK].state == card.state
    finally:
        if window is not None:
            window.shutdown()
            window.deleteLater()
        await client.close()
        engine.terminate()


@pytest.mark.slow
def test_stashdesk_connect_attaches_and_quitting_leaves_the_engine_running(
    tmp_path, engine_dir
) -> None:
    port = free_port()
    engine = start_engine(engine_dir, tmp_path / "engine.log", port)
    desktop = tmp_path / "desktop"
    try:
        env = cli_env(QT_QPA_PLATFORM="offscreen", STASHDESK_API_KEY=api_key(engine_dir))
        window = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stashdesk",
                "--data-dir",
                str(desktop),
                "--connect",
                f"http://127.0.0.1:{port}",
            ],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        log = desktop / "stashdesk.log"
        engine.wait_for(
            lambda: log.exists() and "attached to the engine" in log.read_text(),
            timeout=30,
            what="the window to attach",
        )
        window.send_signal(signal.SIGTERM)
        output, _ = window.communicate(timeout=30)
        assert window.returncode == 0, output
        assert engine.proc.poll() is None  # the engine still runs
        assert not (desktop / "engine.json").exists()  # the window hosted no engine
    finally:
        assert engine.terminate() == 0


def test_connect_with_a_wrong_key_says_so_and_exits_1(tmp_path, engine_dir) -> None:
    port = free_port()
    engine = start_engine(engine_dir, tmp_path / "engine.log", port)
    try:
        env = cli_env(QT_QPA_PLATFORM="offscreen")
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "stashdesk",
                "--data-dir",
                str(tmp_path / "desktop"),
                "--connect",
                f"http://127.0.0.1:{port}",
                "--api-key",
                "wrong",
            ],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 1, done.stderr
        assert "refused the API key" in done.stderr or "API key" in done.stderr
    finally:
        assert engine.terminate() == 0


async def test_two_windows_on_one_engine_both_see_every_change(tmp_path, engine_dir, qapp) -> None:
    """The status plan's "several tabs", for desktops: a change made from one window
    reaches the other at once."""
    from stashdesk.ui.window import MainWindow

    port = free_port()
    engine = start_engine(engine_dir, tmp_path / "engine.log", port)
    url, key = f"http://127.0.0.1:{port}", api_key(engine_dir)
    clients = [RemoteClient(url, key), RemoteClient(url, key)]
    windows = []
    try:
        for index, client in enumerate(clients):
            await client.start()
            (tmp_path / f"desk-{index}").mkdir()
            window = MainWindow(client, data_dir=tmp_path / f"desk-{index}", tray_available=False)
            window.show()
            windows.append(window)
        windows[0].card(TICK).start_button.click()
        for window in windows:
            card = window.card(TICK)
            await wait_until(
                lambda c=card: c.status_text().startswith("No test work"),
                timeout=15,
                message="the status in both windows",
            )
            assert card.badge_text() == "running"
        windows[1].card(TICK).stop_button.click()
        await wait_until(
            lambda: windows[0].card(TICK).badge_text() == "stopped",
            timeout=15,
            message="a stop from the second window in the first",
        )
    finally:
        for window in windows:
            window.shutdown()
            window.deleteLater()
        for client in clients:
            await client.close()
        assert engine.terminate() == 0


async def test_a_tls_engine_is_trusted_once_pinned_and_refused_when_it_changes(
    tmp_path, engine_dir, qapp
) -> None:
    from stashdesk.engine_client.errors import UntrustedEngine
    from stashdesk.engine_client.trust import TrustStore
    from stashdesk.ui.window import MainWindow

    assert run_cli(engine_dir, "config", "set", "api.tls", "on").returncode == 0
    port = free_port()
    engine = start_engine(engine_dir, tmp_path / "engine.log", port)
    url, key = f"https://127.0.0.1:{port}", api_key(engine_dir)
    fingerprint = json.loads(run_cli(engine_dir, "api", "info", "--json").stdout)["fingerprint"]
    trust = TrustStore(tmp_path / "desktop")
    client = RemoteClient(url, key, trust=trust)
    window = None
    try:
        with pytest.raises(UntrustedEngine) as first_use:
            await client.start()
        assert first_use.value.fingerprint == fingerprint  # what the user compares
        await client.close()
        client.trust_fingerprint(first_use.value.fingerprint)  # the user said yes
        await client.start()  # a real TLS handshake, pinned
        (tmp_path / "desktop").mkdir(exist_ok=True)
        window = MainWindow(client, data_dir=tmp_path / "desktop", tray_available=False)
        assert window.card(TICK).badge_text() == "stopped"
        window.shutdown()
        window = None
        await client.close()
    finally:
        if window is not None:
            window.shutdown()
        await client.close()
        assert engine.terminate() == 0
    # The engine's certificate replaced: the trusted fingerprint no longer matches.
    for name in (CERT_FILE, KEY_FILE):
        (engine_dir / name).unlink()
    engine = start_engine(engine_dir, tmp_path / "engine2.log", port)
    again = RemoteClient(url, key, trust=TrustStore(tmp_path / "desktop"))
    try:
        with pytest.raises(UntrustedEngine) as changed:
            await again.start()
        assert changed.value.expected == fingerprint and "has changed" in str(changed.value)
    finally:
        await again.close()
        assert engine.terminate() == 0


async def test_connect_to_engine_switches_the_window_and_back(tmp_path, engine_dir, qapp) -> None:
    """ "Connect to engine..." in the running window: to a remote engine and back to this
    computer's, whose daemons kept running meanwhile; a failed connection keeps the
    window where it was."""
    from stashdesk.ui.main import GuiApp

    port = free_port()
    engine = start_engine(engine_dir, tmp_path / "engine.log", port)
    url, key = f"http://127.0.0.1:{port}", api_key(engine_dir)
    gui = GuiApp(qapp, tmp_path / "desktop", tray_available=False)
    try:
        gui.client = await gui._open_client(None, None)
        gui._show_window(first=False)
        assert not gui.window.client.remote
        await gui.engine.services.manager.start(TICK)

        await gui._switch(f"http://127.0.0.1:{free_port()}", key)  # nothing listens there
        assert (
            not gui.client.remote and "Could not connect" in gui.window.statusBar().currentMessage()
        )

        await gui._switch(url, key)
        assert gui.client.remote and gui.window.client is gui.client
        assert gui.window.windowTitle() == f"StashDesk - 127.0.0.1:{port}"
        assert gui.engine.services.manager.handle(TICK).running  # the local one runs on
        dialog = gui.window.open_connect()
        assert [dialog.saved.item(i).text() for i in range(dialog.saved.count())] == [
            "This computer",
            f"{url}  (shown now)",
        ]  # remembered for next time
        dialog.close()

        await gui._switch(None, "")
        assert not gui.client.remote and gui.window.card(TICK).badge_text() == "running"
    finally:
        if gui.window is not None:
            gui.window.shutdown()
        if gui.client is not None:
            await gui.client.close()
        if gui.engine is not None:
            await gui.engine.stop()
        assert engine.terminate() == 0

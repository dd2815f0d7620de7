"""The window attached to an engine in another process, over the engine API: it shows
and drives that engine, says so plainly when the link drops, catches up when it is
back, and quitting it leaves the engine running."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

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
        tmp_path, engine_dir, qapp) -> None:
    from stashdesk.ui.window import MainWindow

    port = free_port()
    engine = start_engine(engine_dir, tmp_path / "engine.log", port)
    url = f"http://127.0.0.1:{port}"
    client = RemoteClient(url, api_key(engine_dir))
    window = None
    try:
        await client.start()
        window = MainWindow(client, data_dir=tmp_path / "desktop", tray_available=False)
        window.show()
        assert window.windowTitle() == f"StashDesk - 127.0.0.1:{port}"
        assert f"Engine: 127.0.0.1:{port}" in window.location.text()
        card = window.card(TICK)
        assert card.badge_text() == "stopped"

        card.start_button.click()  # over HTTP; the status comes back on the event stream
        await wait_until(lambda: card.status_text() == "No test work", timeout=15,
                         message="the remote daemon's status on its card")
        assert card.badge_text() == "running"
        assert window.daemons_page.summary.text().startswith("1 of ")

        assert engine.terminate() == 0
        await wait_until(lambda: window.connection_banner.isVisibleTo(window), timeout=15,
                         message="the banner saying the link dropped")
        assert "Disconnected from 127.0.0.1" in window.connection_banner.text()

        engine = start_engine(engine_dir, tmp_path / "engine2.log", port)
        await wait_until(lambda: not window.connection_banner.isVisibleTo(window),
                         timeout=30, message="the window to reconnect")
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
        tmp_path, engine_dir) -> None:
    port = free_port()
    engine = start_engine(engine_dir, tmp_path / "engine.log", port)
    desktop = tmp_path / "desktop"
    try:
        env = cli_env(QT_QPA_PLATFORM="offscreen", STASHDESK_API_KEY=api_key(engine_dir))
        window = subprocess.Popen(
            [sys.executable, "-m", "stashdesk", "--data-dir", str(desktop), "--connect",
             f"http://127.0.0.1:{port}"], cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True)
        log = desktop / "stashdesk.log"
        engine.wait_for(lambda: log.exists() and "attached to the engine" in log.read_text(),
                        timeout=30, what="the window to attach")
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
            [sys.executable, "-m", "stashdesk", "--data-dir", str(tmp_path / "desktop"),
             "--connect", f"http://127.0.0.1:{port}", "--api-key", "wrong"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 1, done.stderr
        assert "refused the API key" in done.stderr or "API key" in done.stderr
    finally:
        assert engine.terminate() == 0

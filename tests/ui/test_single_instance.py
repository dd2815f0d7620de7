"""One window per data directory: a second start raises the first and exits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from stashdesk.api.auth import KEY_HEADER
from stashdesk.api.engine_file import ENGINE_FILE, read_engine_file
from stashdesk.ui.single_instance import PORT_FILE, SingleInstance
from tests.cli_helpers import api_key
from tests.engine_fixtures import wait_until

REPO = Path(__file__).resolve().parents[2]


async def test_the_lock_admits_one_instance_and_the_second_signals_the_first(tmp_path, qapp):
    first = SingleInstance(tmp_path)
    second = SingleInstance(tmp_path)
    activations: list[bool] = []
    first.activated.connect(lambda: activations.append(True))
    try:
        assert first.acquire()
        assert not second.acquire()
        assert second.signal_running()
        await wait_until(lambda: activations == [True], message="the first to be asked to show")
    finally:
        first.release()
    # Released: the next start may take over.
    third = SingleInstance(tmp_path)
    assert third.acquire()
    third.release()


async def test_only_the_token_raises_the_window_and_the_port_file_is_private(tmp_path, qapp):
    import json
    import socket

    first = SingleInstance(tmp_path)
    activations: list[bool] = []
    first.activated.connect(lambda: activations.append(True))
    try:
        assert first.acquire()
        port_file = tmp_path / PORT_FILE
        assert port_file.stat().st_mode & 0o777 == 0o600
        assert json.loads(port_file.read_text())["port"] == first.port
        with socket.create_connection(("127.0.0.1", first.port), timeout=5) as other:
            other.sendall(b"show not-the-token\n")  # another local program guessing
        with socket.create_connection(("127.0.0.1", first.port), timeout=5):
            pass  # connects and says nothing
        assert SingleInstance(tmp_path).signal_running()
        await wait_until(lambda: activations == [True], message="the rightful request")
        await wait_until(lambda: not first._readers, message="every connection closed")
        assert activations == [True]  # the wrong token raised nothing
    finally:
        first.release()
    assert not (tmp_path / PORT_FILE).exists()
    assert not SingleInstance(tmp_path).signal_running(timeout_ms=300)  # nobody listens


def _status(data_dir: Path, key: str) -> dict | None:
    """The hosting window's state through the engine API (None: no engine yet)."""
    info = read_engine_file(data_dir)
    if info is None or not info.get("local_url"):
        return None
    try:
        answer = httpx.get(
            f"{info['local_url']}/api/v1/window", headers={KEY_HEADER: key}, timeout=5
        )
    except httpx.TransportError:
        return None
    return answer.json() if answer.status_code == 200 else None


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.slow
def test_a_second_stashdesk_raises_the_running_window_and_exits(tmp_path):
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "STASHDESK_NO_KEYRING": "1",
        "STASHDESK_PLUGINS": "tests.fake_plugins",
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-m", "stashdesk", "--data-dir", str(data_dir)]
    log = (tmp_path / "first.log").open("wb")
    first = subprocess.Popen(
        command + ["--minimized"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        _wait(
            lambda: first.poll() is None and read_engine_file(data_dir),
            30,
            "the first window's engine to run",
        )
        key = api_key(data_dir)
        status = _wait(lambda: _status(data_dir, key), 30, "the first window to run")
        assert status["title"] == "StashDesk"
        assert status["minimized"] and status["activations"] == 0

        second = subprocess.run(
            command, cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=60
        )
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout
        status = _wait(
            lambda: (s := _status(data_dir, key)) and s["activations"] == 1 and s,
            10,
            "the first window to be raised",
        )
        assert status["visible"] and not status["minimized"]
        assert first.poll() is None  # the first one still runs

        first.send_signal(signal.SIGTERM)
        assert first.wait(60) == 0
        assert not (data_dir / ENGINE_FILE).exists()  # stopped cleanly
    finally:
        if first.poll() is None:
            first.kill()
            first.wait(10)
        log.close()
    output = (tmp_path / "first.log").read_text(errors="replace")
    assert "stopped cleanly" in output, output

"""Running ``stashdesk`` as a real process, the way a user or a script does."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "STASHDESK_NO_KEYRING": "1",
            "PYTHONPATH": str(REPO),
            "STASHDESK_PLUGINS": "tests.fake_plugins",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("STASHDESK_DATA_DIR", None)
    env.update(extra)
    return env


def run_cli(
    data_dir: Path, *args: str, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stashdesk", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=cli_env(**env),
    )


def cli_json(data_dir: Path, *args: str) -> Any:
    done = run_cli(data_dir, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class HeadlessProcess:
    """``stashdesk --headless`` in a subprocess, with its stderr captured to a file."""

    def __init__(self, data_dir: Path, log_path: Path, *args: str, **env: str) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stashdesk", "--headless", "--data-dir", str(data_dir), *args],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=cli_env(**env),
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(
        self, predicate: Callable[[], Any], timeout: float = 20, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"headless process exited ({self.proc.returncode}) "
                    f"while waiting for {what}:\n{self.log()}"
                )
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}:\n{self.log()}")

    def terminate(self, timeout: float = 30) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill9(self) -> None:
        self.proc.kill()
        self.wait(10)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def api_key(data_dir: Path) -> str:
    """The data folder's engine API key, as `stashdesk api key` prints it."""
    done = run_cli(data_dir, "api", "key")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def engine_info(data_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((data_dir / "engine.json").read_text())
    except (OSError, ValueError):
        return None


def query(data_dir: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """Read the database directly (read-only), as another process would."""
    path = data_dir / "stashdesk.db"
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.OperationalError:
        return []  # not created yet
    finally:
        conn.close()


def configure_data_dir(
    data_dir: Path, settings: dict[str, Any], daemons: dict[str, dict[str, Any]] | None = None
) -> None:
    """Settings and enabled daemons (name -> config) written straight into a data
    folder before a process is started on it: what `config set` and `daemons enable`
    would do, without a command per value. Secrets go to the database (no keyring,
    as in the processes ``cli_env`` starts)."""
    from stashdesk.settings import Settings
    from stashdesk.store import Store
    from stashdesk.store.models import Daemon

    store = Store(data_dir)
    try:
        values = Settings(data_dir, use_keyring=False)

        def write() -> None:
            values.reload()
            for key, value in settings.items():
                values.set(key, value)
            for name, config in (daemons or {}).items():
                Daemon.insert(
                    name=name, enabled=True, auto_start=True, config=config
                ).on_conflict_replace().execute()

        store.writer.submit(write).result(30)
    finally:
        store.close()

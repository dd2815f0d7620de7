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
    env.update({"STASHDESK_NO_KEYRING": "1", "PYTHONPATH": str(REPO),
                "STASHDESK_PLUGINS": "tests.fake_plugins", "PYTHONUNBUFFERED": "1"})
    env.pop("STASHDESK_DATA_DIR", None)
    env.update(extra)
    return env


def run_cli(data_dir: Path, *args: str, timeout: float = 60, **env: str
            ) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "stashdesk", "--data-dir", str(data_dir), *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO, env=cli_env(**env))


def cli_json(data_dir: Path, *args: str) -> Any:
    done = run_cli(data_dir, *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class HeadlessProcess:
    """``stashdesk --headless`` in a subprocess, with its stderr captured to a file."""

    def __init__(self, data_dir: Path, log_path: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in wait()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stashdesk", "--headless", "--data-dir", str(data_dir)],
            stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO, env=cli_env(**env))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 20,
                 what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"headless process exited ({self.proc.returncode}) "
                                     f"while waiting for {what}:\n{self.log()}")
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

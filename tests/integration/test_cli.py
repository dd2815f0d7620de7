"""The command line, run as a real process on a real database file."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from stashdesk import __version__
from stashdesk.store.db import SCHEMA_VERSION
from tests.cli_helpers import HeadlessProcess, cli_json, query, run_cli


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_version(data_dir: Path) -> None:
    done = run_cli(data_dir, "--version")
    assert done.returncode == 0 and done.stdout.strip() == f"StashDesk {__version__}"


def test_config_set_get_list_and_masked_secrets(data_dir: Path) -> None:
    assert run_cli(data_dir, "config", "set", "stash.url", "http://10.1.1.1:9999").returncode == 0
    assert run_cli(data_dir, "config", "get", "stash.url").stdout.strip() == "http://10.1.1.1:9999"
    done = run_cli(data_dir, "config", "set", "stash.api_key", "my-very-secret-key")
    assert done.returncode == 0 and "my-very-secret-key" not in done.stdout + done.stderr
    listing = run_cli(data_dir, "config", "list")
    assert "my-very-secret-key" not in listing.stdout
    assert "stash.api_key" in listing.stdout and "********" in listing.stdout
    as_json = {o["key"]: o for o in cli_json(data_dir, "config", "list", "--json")}
    assert as_json["stash.api_key"]["value"] == "********"
    assert as_json["analysis.threshold"]["value"] == 0.3
    assert run_cli(data_dir, "config", "get", "stash.api_key").stdout.strip() == "********"
    # typed parsing from the command line
    assert (
        run_cli(data_dir, "config", "set", "analysis.path_map", '["/data=/mnt/media"]').returncode
        == 0
    )
    assert as_json_value(data_dir, "analysis.path_map") == ["/data=/mnt/media"]
    assert run_cli(data_dir, "config", "unset", "stash.url").returncode == 0
    assert run_cli(data_dir, "config", "get", "stash.url").stdout.strip() == "http://localhost:9999"


def as_json_value(data_dir: Path, key: str):
    return {o["key"]: o for o in cli_json(data_dir, "config", "list", "--json")}[key]["value"]


@pytest.mark.parametrize(
    "args",
    [
        ("config", "set", "no.such.key", "1"),
        ("config", "set", "stash.timeout", "soon"),
        ("config", "set", "stash.url", "ftp://stash"),
        ("config", "get", "bogus"),
        ("daemons", "set", "test-tick", "job_interval_seconds", "-3"),
        ("daemons", "set", "test-tick", "nonsense", "3"),
        ("daemons", "enable", "no-such-daemon"),
    ],
)
def test_invalid_input_exits_2_and_changes_nothing(data_dir: Path, args) -> None:
    run_cli(data_dir, "status")  # create the database
    db = data_dir / "stashdesk.db"
    before = query(data_dir, "SELECT key, value FROM setting ORDER BY key") + query(
        data_dir, "SELECT name, config FROM daemon ORDER BY name"
    )
    done = run_cli(data_dir, *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("stashdesk: ") and "Traceback" not in done.stderr
    after = query(data_dir, "SELECT key, value FROM setting ORDER BY key") + query(
        data_dir, "SELECT name, config FROM daemon ORDER BY name"
    )
    assert before == after and db.exists()


def test_daemons_enable_disable_set_and_list(data_dir: Path) -> None:
    assert run_cli(data_dir, "daemons", "enable", "test-tick").returncode == 0
    assert run_cli(data_dir, "daemons", "enable", "test-crash", "--no-auto-start").returncode == 0
    assert (
        run_cli(data_dir, "daemons", "set", "test-tick", "job_interval_seconds", "42").returncode
        == 0
    )
    listed = {d["name"]: d for d in cli_json(data_dir, "daemons", "list", "--json")}
    assert listed["test-tick"]["enabled"] and listed["test-tick"]["auto_start"]
    assert listed["test-tick"]["config"]["job_interval_seconds"] == 42.0
    assert listed["test-crash"]["enabled"] and not listed["test-crash"]["auto_start"]
    assert run_cli(data_dir, "daemons", "disable", "test-tick").returncode == 0
    listed = {d["name"]: d for d in cli_json(data_dir, "daemons", "list", "--json")}
    assert not listed["test-tick"]["enabled"]


def test_daemon_control_without_a_running_engine_says_so(data_dir: Path) -> None:
    done = run_cli(data_dir, "daemons", "start", "test-tick")
    assert done.returncode == 1
    assert "no StashDesk engine is running" in done.stderr


def test_database_from_a_newer_version_is_refused_untouched(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    db = data_dir / "stashdesk.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    for args in (("status",), ("config", "list")):
        done = run_cli(data_dir, *args)
        assert done.returncode == 2
        assert "newer StashDesk" in done.stderr
    headless = HeadlessProcess(data_dir, data_dir / "headless.log")
    assert headless.wait(30) == 2
    assert "newer StashDesk" in headless.log()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    # (the engine's log file says why it refused; the database is the one left untouched)
    assert sorted(p.name for p in data_dir.iterdir()) == [
        "headless.log",
        "stashdesk.db",
        "stashdesk.log",
    ]


def _is_iso_with_offset(text: str | None) -> bool:
    return text is not None and datetime.fromisoformat(text).utcoffset() is not None


def test_status_history_jobs_and_stats_while_a_headless_engine_runs(data_dir: Path) -> None:
    run_cli(data_dir, "daemons", "enable", "test-tick")
    run_cli(data_dir, "daemons", "set", "test-tick", "job_steps", "3")
    run_cli(data_dir, "daemons", "set", "test-tick", "job_interval_seconds", "60")
    engine = HeadlessProcess(data_dir, data_dir.parent / "headless.log")
    try:
        status = engine.wait_for(
            lambda: next(
                (
                    s
                    for s in cli_json(data_dir, "status", "--json")
                    if s["name"] == "test-tick"
                    and s["current_status"]
                    and "sleeping" in s["current_status"]
                ),
                None,
            ),
            what="test-tick asleep",
        )
        assert set(status) >= {
            "name",
            "display_name",
            "state",
            "enabled",
            "auto_start",
            "current_status",
            "current_job_id",
            "current_job_type",
            "status_updated_at",
            "last_heartbeat",
        }
        assert status["state"] == "running" and status["display_name"] == "Test Tick"
        assert status["current_status"] == "No test work, sleeping for 60 seconds"
        assert _is_iso_with_offset(status["status_updated_at"])

        rows = cli_json(data_dir, "history", "--daemon", "test-tick", "--json")
        assert [r["message"] for r in rows] == [
            "Checking for test work",
            "Running 3 test steps",
            "Waiting for test steps to complete",
            "Test steps completed",
            "No test work, sleeping for 60 seconds",
        ]
        assert set(rows[0]) == {"daemon", "message", "job_id", "job_type", "at"}
        assert rows[1]["job_type"] == "TEST_STEPS" and rows[1]["job_id"]
        assert all(_is_iso_with_offset(r["at"]) for r in rows)
        assert [
            r["message"]
            for r in cli_json(
                data_dir, "history", "--daemon", "test-tick", "--limit", "2", "--json"
            )
        ] == ["Test steps completed", "No test work, sleeping for 60 seconds"]

        jobs = cli_json(data_dir, "jobs", "list", "--json")
        assert len(jobs) == 1 and jobs[0]["id"] == rows[1]["job_id"]
        assert {k for k in jobs[0]} >= {
            "id",
            "type",
            "status",
            "progress",
            "message",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
            "result",
            "error",
        }
        assert jobs[0]["status"] == "completed" and jobs[0]["created_by"] == "test-tick"
        shown = json.loads(run_cli(data_dir, "jobs", "show", jobs[0]["id"][:8]).stdout)
        assert shown["result"] == {"steps": 3, "resumed": False}

        stats = cli_json(data_dir, "stats", "--json")
        assert stats == {
            "scenes": 0,
            "plans": {},
            "changes": {},
            "jobs": {"completed": 1},
            "handled_downloads": 0,
        }

        # acting on the running engine through its control socket
        assert "stopped" in run_cli(data_dir, "daemons", "stop", "test-tick").stdout
        stopped = next(
            s for s in cli_json(data_dir, "status", "--json") if s["name"] == "test-tick"
        )
        assert stopped["state"] == "stopped" and stopped["current_status"] is None
        assert "running" in run_cli(data_dir, "daemons", "start", "test-tick").stdout
        engine.wait_for(
            lambda: any(
                s["name"] == "test-tick" and s["state"] == "running"
                for s in cli_json(data_dir, "status", "--json")
            ),
            what="restarted",
        )
        run_cli(data_dir, "config", "set", "notifications.on_success", "true")
    finally:
        assert engine.terminate() == 0
    log = engine.log()
    assert "stopped cleanly" in log
    assert query(data_dir, "SELECT state, current_status FROM daemon WHERE name='test-tick'") == [
        ("stopped", None)
    ]
    assert not (data_dir / "engine.json").exists()


def test_jobs_cancel_through_the_engine(data_dir: Path) -> None:
    run_cli(data_dir, "daemons", "enable", "test-tick")
    run_cli(data_dir, "daemons", "set", "test-tick", "job_steps", "100000")
    engine = HeadlessProcess(data_dir, data_dir.parent / "headless.log")
    try:
        job_id = engine.wait_for(
            lambda: next(iter(query(data_dir, "SELECT id FROM job WHERE status='running'")), None),
            what="a running job",
        )[0]
        done = run_cli(data_dir, "jobs", "cancel", job_id)
        assert done.returncode == 0 and ("cancelling" in done.stdout or "cancelled" in done.stdout)
        engine.wait_for(
            lambda: (
                query(data_dir, "SELECT status FROM job WHERE id=?", (job_id,)) == [("cancelled",)]
            ),
            what="cancelled",
        )
    finally:
        assert engine.terminate() == 0


def test_gui_without_a_display_says_what_to_do(data_dir: Path) -> None:
    import subprocess
    import sys

    from tests.cli_helpers import REPO, cli_env

    env = cli_env()
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(name, None)
    done = subprocess.run(
        [sys.executable, "-m", "stashdesk", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=env,
    )
    assert done.returncode == 2
    assert "stashdesk --headless" in done.stderr and "Traceback" not in done.stderr

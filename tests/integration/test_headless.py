"""``stashdesk --headless`` as a real process: signals, kill -9 and restart."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.cli_helpers import HeadlessProcess, cli_json, query, run_cli


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def running_rows(data_dir: Path) -> tuple[list, list]:
    return (
        query(data_dir, "SELECT id FROM job WHERE status IN ('running','cancelling')"),
        query(data_dir, "SELECT name FROM daemon WHERE state='running'"),
    )


def test_kill_9_then_restart_leaves_nothing_running_that_is_not(
    data_dir: Path, tmp_path: Path
) -> None:
    run_cli(data_dir, "daemons", "enable", "test-tick")
    run_cli(data_dir, "daemons", "set", "test-tick", "job_steps", "100000")
    first = HeadlessProcess(data_dir, tmp_path / "first.log")
    job_id = first.wait_for(
        lambda: next(iter(query(data_dir, "SELECT id FROM job WHERE status='running'")), None),
        what="a running job",
    )[0]
    first.wait_for(
        lambda: (
            query(data_dir, "SELECT current_job_id FROM daemon WHERE name='test-tick'")
            == [(job_id,)]
        ),
        what="status",
    )
    first.kill9()
    # What a hard kill leaves behind: rows that claim to be running.
    assert running_rows(data_dir) == ([(job_id,)], [("test-tick",)])
    assert (data_dir / "engine.json").exists()

    # Keep the daemon from starting again so that "running" can only be a leftover.
    run_cli(data_dir, "daemons", "enable", "test-tick", "--no-auto-start")
    second = HeadlessProcess(data_dir, tmp_path / "second.log")
    second.wait_for(lambda: "engine running" in second.log(), what="start-up")
    assert running_rows(data_dir) == ([], [])
    assert query(data_dir, "SELECT status, error FROM job WHERE id=?", (job_id,)) == [
        ("interrupted", "Interrupted: StashDesk stopped while this job was running")
    ]
    status = next(s for s in cli_json(data_dir, "status", "--json") if s["name"] == "test-tick")
    assert status["current_status"] is None and status["state"] == "stopped"
    assert "was left running" in second.log()
    assert second.terminate() == 0


def test_sigint_stops_cleanly_and_clears_statuses(data_dir: Path, tmp_path: Path) -> None:
    run_cli(data_dir, "daemons", "enable", "test-tick")
    run_cli(data_dir, "daemons", "enable", "test-crash")
    run_cli(data_dir, "daemons", "set", "test-crash", "crashes", "0")
    run_cli(data_dir, "daemons", "set", "test-tick", "job_steps", "100000")
    engine = HeadlessProcess(data_dir, tmp_path / "engine.log")
    job_id = engine.wait_for(
        lambda: next(iter(query(data_dir, "SELECT id FROM job WHERE status='running'")), None),
        what="a running job",
    )[0]
    engine.wait_for(
        lambda: (
            len(query(data_dir, "SELECT name FROM daemon WHERE current_status IS NOT NULL")) == 2
        ),
        what="statuses",
    )
    engine.proc.send_signal(signal.SIGINT)
    assert engine.wait(30) == 0
    log = engine.log()
    assert "shutting down" in log and "stopped cleanly" in log and "Traceback" not in log
    assert query(
        data_dir,
        "SELECT name, state, current_status, current_job_id FROM daemon "
        "WHERE name LIKE 'test-%' ORDER BY name",
    ) == [("test-crash", "stopped", None, None), ("test-tick", "stopped", None, None)]
    assert query(data_dir, "SELECT status FROM job WHERE id=?", (job_id,)) == [("interrupted",)]
    assert not (data_dir / "engine.json").exists()


def test_a_second_engine_on_the_same_data_dir_is_refused(data_dir: Path, tmp_path: Path) -> None:
    first = HeadlessProcess(data_dir, tmp_path / "first.log")
    first.wait_for(lambda: "engine running" in first.log(), what="start-up")
    second = HeadlessProcess(data_dir, tmp_path / "second.log")
    assert second.wait(30) == 2
    assert "already running" in second.log()
    assert first.terminate() == 0

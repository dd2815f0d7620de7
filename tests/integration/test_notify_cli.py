"""``stashdesk notify ...`` and ``stashdesk daemons run``, with and without an engine."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_helpers import HeadlessProcess, cli_json, run_cli


def test_notification_targets_from_the_command_line(tmp_path: Path, webhook_receiver) -> None:
    data_dir = tmp_path / "data"
    url = webhook_receiver.target_url("/hook-SECRET-9f9f")
    # No engine: the data folder itself.
    added = run_cli(data_dir, "notify", "add", "Hook", url, "--on", "job_failed,plan_ready")
    assert added.returncode == 0, added.stderr
    assert "SECRET-9f9f" not in added.stdout + added.stderr
    listed = cli_json(data_dir, "notify", "list", "--json")
    assert [t["name"] for t in listed] == ["Hook"]
    assert listed[0]["events"] == ["job_failed", "plan_ready"]
    assert "SECRET-9f9f" not in json.dumps(listed)
    bad = run_cli(data_dir, "notify", "add", "Bad", "nonsense", "--on", "job_failed")
    assert bad.returncode == 2 and "Apprise URL" in bad.stderr
    unknown = run_cli(data_dir, "notify", "add", "X", url, "--on", "sunrise")
    assert unknown.returncode == 2
    tested = run_cli(data_dir, "notify", "test", "Hook")
    assert tested.returncode == 0 and "delivered" in tested.stdout
    assert len(webhook_receiver.received("/hook-SECRET-9f9f")) == 1

    # With an engine: the same commands go through it.
    run_cli(data_dir, "daemons", "enable", "test-tick")
    engine = HeadlessProcess(data_dir, tmp_path / "engine.log")
    try:
        engine.wait_for(lambda: "engine running" in engine.log(), what="start-up")
        assert run_cli(data_dir, "notify", "test").returncode == 0
        engine.wait_for(
            lambda: len(webhook_receiver.received("/hook-SECRET-9f9f")) == 2,
            what="the second test message",
        )
        run = run_cli(data_dir, "daemons", "run", "test-tick")
        assert run.returncode == 0 and "test-tick" in run.stdout
        assert run_cli(data_dir, "notify", "remove", "Hook").returncode == 0
        assert cli_json(data_dir, "notify", "list", "--json") == []
        assert run_cli(data_dir, "notify", "remove", "Hook").returncode == 2
        status = cli_json(data_dir, "status", "--json")
        tick = next(r for r in status if r["name"] == "test-tick")
        assert "next_check_at" in tick
    finally:
        assert engine.terminate() == 0
    assert "SECRET-9f9f" not in engine.log()
    stopped = run_cli(data_dir, "daemons", "run", "test-tick")
    assert stopped.returncode == 1 and "no StashDesk engine is running" in stopped.stderr

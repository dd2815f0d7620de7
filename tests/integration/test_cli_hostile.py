"""Commands given hostile input answer with one line and exit 2, changing nothing; and
with no engine running, the listings say so instead of showing anything running."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from stashdesk.store.models import Job
from tests.analysis_helpers import seed_plan
from tests.cli_helpers import HeadlessProcess, cli_json, query, run_cli
from tests.integration.test_plans_cli import change, in_db

HUGE = "99999999999999999999"
TABLES = ("setting", "daemon", "job", "plan", "plan_change")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("hostile") / "data"
    run_cli(data_dir, "status")
    in_db(data_dir, lambda: seed_plan("P", [change("1", "A_AI"), change("2", "B_AI")]))
    return data_dir


def snapshot(data_dir: Path) -> str:
    rows = [query(data_dir, f"SELECT * FROM {table} ORDER BY 1") for table in TABLES]
    return hashlib.sha256(repr(rows).encode()).hexdigest()


@pytest.mark.parametrize(
    "args",
    [
        ("config", "get", ""),
        ("config", "set", "", "x"),
        ("config", "set", "st\u0430sh.url", "http://nas:9999"),  # a Cyrillic a
        ("config", "set", "stash.url\x07", "http://nas:9999"),
        ("config", "set", "stash.timeout", "1e400"),
        ("config", "set", "stash.timeout", '{"seconds": 3}'),
        ("config", "set", "analysis.path_map", '{"not": "a list"}'),
        ("config", "unset", "nope"),
        ("daemons", "enable", ""),
        ("daemons", "enable", "test\u2010tick"),  # a Unicode hyphen
        ("daemons", "disable", "TEST-TICK"),
        ("daemons", "set", "test-tick", "job_steps", HUGE + "0" * 400),
        ("daemons", "set", "test-tick", "job_steps", "[3]"),
        ("daemons", "set", "test-tick", "", "3"),
        ("daemons", "start", ""),
        ("jobs", "show", ""),
        ("jobs", "show", "   "),
        ("jobs", "cancel", ""),
        ("jobs", "cancel", "%"),
        ("jobs", "show", "\u0430bc"),
        ("jobs", "list", "--limit", HUGE),
        ("jobs", "list", "--limit", "0"),
        ("jobs", "list", "--status", "run\x01ning"),
        ("jobs", "list", "--type", ""),
        ("jobs", "list", "--sort", "; DROP TABLE job"),
        ("history", "--limit", HUGE),
        ("history", "--limit", "-1"),
        ("history", "--daemon", ""),
        ("history", "--daemon", "\u202etest-tick"),
        ("plans", "show", HUGE),
        ("plans", "show", "0"),
        ("plans", "approve", "1", "--change", HUGE),
        ("plans", "approve", "1", "--min-confidence", "nan"),
        ("plans", "reject", "1", "--min-confidence", "inf"),
        ("plans", "apply", HUGE),
        ("plans", "cancel", "-1"),
        ("stash", "scan", ""),
        ("stash", "generate", "--scene", "\n"),
        ("--data-dir", "", "status"),
        ("--engine", "", "status"),
        ("--engine", "ftp://nas", "status"),
        ("--engine", "http://nas\n:9999", "status"),
    ],
)
def test_hostile_arguments_exit_2_with_one_line_and_change_nothing(
    seeded: Path, args: tuple
) -> None:
    before = snapshot(seeded)
    done = run_cli(seeded, *args, STASHDESK_API_KEY="k")
    assert done.returncode == 2, (args, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("stashdesk")]
    assert lines, done.stderr
    assert snapshot(seeded) == before


def test_an_ambiguous_job_prefix_lists_the_candidates(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run_cli(data_dir, "status")
    ids = ["abc00000-0000-4000-8000-000000000001", "abc00000-0000-4000-8000-000000000002"]
    in_db(
        data_dir,
        lambda: [
            Job.create(id=job_id, type="SYNC", status="completed", created_at=1.0) for job_id in ids
        ],
    )
    done = run_cli(data_dir, "jobs", "show", "abc")
    assert done.returncode == 2 and all(job_id in done.stderr for job_id in ids)
    assert cli_json(data_dir, "jobs", "show", ids[1][:36])["id"] == ids[1]


def test_with_no_engine_running_nothing_shows_as_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run_cli(data_dir, "daemons", "enable", "test-tick")
    run_cli(data_dir, "daemons", "set", "test-tick", "job_steps", "100000")
    engine = HeadlessProcess(data_dir, tmp_path / "engine.log")
    job_id = engine.wait_for(
        lambda: next(iter(query(data_dir, "SELECT id FROM job WHERE status='running'")), None),
        what="a running job",
    )[0]
    engine.wait_for(
        lambda: (
            query(data_dir, "SELECT state FROM daemon WHERE name='test-tick'") == [("running",)]
        ),
        what="the daemon's row",
    )
    engine.kill9()
    for args in (("status",), ("daemons", "list")):
        done = run_cli(data_dir, *args)
        assert done.returncode == 0 and "StashDesk is not running" in done.stderr
        assert "running" not in done.stdout, done.stdout
    status = run_cli(data_dir, "status")
    assert "it did not stop cleanly" in status.stderr and "last seen" in status.stderr
    rows = cli_json(data_dir, "status", "--json")
    assert all(r["state"] == "stopped" and r["current_status"] is None for r in rows)
    tick = next(r for r in rows if r["name"] == "test-tick")
    assert tick["last_state"] == "running" and tick["last_status"]
    job = next(j for j in cli_json(data_dir, "jobs", "list", "--json") if j["id"] == job_id)
    assert job["status"] == "interrupted" and job["left_over"] is True
    assert "not running" in run_cli(data_dir, "jobs", "list").stderr
    # The next start records what the listing said.
    run_cli(data_dir, "daemons", "enable", "test-tick", "--no-auto-start")
    again = HeadlessProcess(data_dir, tmp_path / "again.log")
    again.wait_for(lambda: "engine running" in again.log(), what="start-up")
    assert query(data_dir, "SELECT status FROM job WHERE id=?", (job_id,)) == [("interrupted",)]
    assert again.terminate() == 0

"""Writes a user asks for never fail because the database is busy.

A headless engine syncs 20,000 scenes from the Stash stand-in (its writer busy with
big transactions) while two loops run every kind of command that changes data, in
parallel, for a minute. Every command must succeed, and every change be there
afterwards.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from stashdesk.store.models import Job
from tests.analysis_helpers import mirror_standin, seed_plan
from tests.cli_helpers import HeadlessProcess, cli_json, query, run_cli
from tests.integration.test_plans_cli import change, in_db

SCENES = 20_000
DURATION = 60.0


@pytest.mark.slow
def test_data_changing_commands_never_fail_while_a_big_sync_runs(
    tmp_path: Path, stash_server
) -> None:
    data_dir = tmp_path / "data"
    for n in range(SCENES):
        stash_server.add_scene(f"Scene {n}", tags=["Bulk"])
    run_cli(data_dir, "config", "set", "stash.url", stash_server.url)
    applied_scene = stash_server.add_scene("Applied here")
    finished = "f1f1f1f1-0000-4000-8000-000000000001"
    review_plan, apply_plan = in_db(
        data_dir,
        lambda: (
            mirror_standin(stash_server),
            Job.create(
                id=finished,
                type="SYNC",
                status="completed",
                created_at=time.time(),
                finished_at=time.time(),
            ),
            (
                seed_plan("Reviewed", [change("1", f"Tag{n}_AI") for n in range(20)]),
                seed_plan("Applied", [change(applied_scene, f"Apply{n}_AI") for n in range(200)]),
            ),
        )[2],
    )
    review_ids = [
        r[0]
        for r in query(
            data_dir, "SELECT id FROM plan_change WHERE plan_id=? ORDER BY id", (review_plan,)
        )
    ]
    apply_ids = [
        r[0]
        for r in query(
            data_dir, "SELECT id FROM plan_change WHERE plan_id=? ORDER BY id", (apply_plan,)
        )
    ]
    engine = HeadlessProcess(data_dir, tmp_path / "engine.log")
    failures: list[str] = []
    expected: dict[str, Any] = {}
    try:
        engine.wait_for(lambda: "engine running" in engine.log(), what="start-up")
        sync_job = cli_json(data_dir, "stash", "sync", "--full", "--json")["job_id"]

        def loop(name: str, commands: list) -> None:
            deadline = time.monotonic() + DURATION
            n = 0
            while time.monotonic() < deadline:
                make, remember = commands[n % len(commands)]
                args = make(n)
                done = run_cli(data_dir, *args, timeout=120)
                if done.returncode != 0:
                    failures.append(
                        f"{name}: {' '.join(args)} -> {done.returncode} {done.stderr.strip()}"
                    )
                else:
                    remember(n)
                n += 1

        def keep(key: str, value: Any) -> Any:
            return lambda _n: expected.__setitem__(key, value(_n))

        first = [
            (
                lambda n: ("config", "set", "stash.timeout", str(10 + n % 500)),
                keep("stash.timeout", lambda n: 10 + n % 500),
            ),
            (
                lambda n: ("daemons", "set", "test-tick", "job_steps", str(1 + n)),
                keep("job_steps", lambda n: 1 + n),
            ),
            (
                lambda n: (
                    "plans",
                    "approve" if n % 2 else "reject",
                    str(review_plan),
                    "--change",
                    str(review_ids[n % len(review_ids)]),
                ),
                lambda n: expected.__setitem__(
                    ("change", review_ids[n % len(review_ids)]), "approved" if n % 2 else "rejected"
                ),
            ),
            (lambda n: ("jobs", "cancel", finished), lambda _n: None),
        ]
        second = [
            (
                lambda n: ("config", "set", "history.retention_days", str(1 + n % 300)),
                keep("history.retention_days", lambda n: 1 + n % 300),
            ),
            (
                lambda n: ("daemons", "enable" if n % 2 else "disable", "test-crash"),
                keep("test-crash enabled", lambda n: bool(n % 2)),
            ),
            (
                lambda n: (
                    "plans",
                    "apply",
                    str(apply_plan),
                    "--auto-approve",
                    "--change",
                    str(apply_ids[n % len(apply_ids)]),
                ),
                lambda n: expected.setdefault("applied", set()).add(apply_ids[n % len(apply_ids)]),
            ),
            (
                lambda n: ("daemons", "set", "test-crash", "crashes", str(n % 5)),
                keep("crashes", lambda n: n % 5),
            ),
        ]
        threads = [
            threading.Thread(target=loop, args=("first", first)),
            threading.Thread(target=loop, args=("second", second)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(DURATION + 180)
        assert failures == []
        engine.wait_for(
            lambda: (
                query(data_dir, "SELECT status FROM job WHERE id=?", (sync_job,))
                == [("completed",)]
            ),
            timeout=600,
            what="the sync",
        )
        engine.wait_for(
            lambda: (
                not query(
                    data_dir,
                    "SELECT id FROM job WHERE type='APPLY_PLAN' "
                    "AND status IN ('pending', 'running')",
                )
            ),
            timeout=120,
            what="the apply jobs",
        )
    finally:
        assert engine.terminate() == 0
    config = {o["key"]: o["value"] for o in cli_json(data_dir, "config", "list", "--json")}
    assert config["stash.timeout"] == expected["stash.timeout"]
    assert config["history.retention_days"] == expected["history.retention_days"]
    daemons = {d["name"]: d for d in cli_json(data_dir, "daemons", "list", "--json")}
    assert daemons["test-tick"]["config"]["job_steps"] == expected["job_steps"]
    assert daemons["test-crash"]["config"]["crashes"] == expected["crashes"]
    assert daemons["test-crash"]["enabled"] is expected["test-crash enabled"]
    statuses = dict(query(data_dir, "SELECT id, status FROM plan_change"))
    for key, status in expected.items():
        if isinstance(key, tuple):
            assert statuses[key[1]] == status, key
    assert all(statuses[c] == "applied" for c in expected["applied"])
    assert query(data_dir, "SELECT COUNT(*) FROM scene WHERE NOT removed")[0][0] >= SCENES
    assert "database is locked" not in engine.log()

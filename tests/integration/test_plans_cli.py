"""`stashdesk plans ...` as a real process on a real database file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stashdesk.store.db import open_database
from tests.analysis_helpers import mirror_standin, seed_plan
from tests.cli_helpers import HeadlessProcess, cli_json, query, run_cli


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def in_db(data_dir: Path, fn: Callable[[], Any]) -> Any:
    """Run ``fn`` on the database file, as another process would (then close it)."""
    db = open_database(data_dir)
    try:
        with db.atomic():
            return fn()
    finally:
        db.close()


def change(
    scene_id: str, value: Any, field: str = "tags", confidence: float = 1.0, **kw: Any
) -> dict:
    return {
        "scene_id": scene_id,
        "field": field,
        "proposed_value": value,
        "confidence": confidence,
        **kw,
    }


@pytest.fixture
def two_plans(data_dir: Path) -> tuple[int, int]:
    def seed() -> tuple[int, int]:
        first = seed_plan(
            "Auto Video Analysis - 2026-03-01 10:00:00",
            [
                change("1", "Kissing_AI", confidence=0.9),
                change("1", "Dancing_AI", confidence=0.4),
                change(
                    "2",
                    {
                        "title": "Kissing_AI",
                        "seconds": 30.0,
                        "end_seconds": 35.0,
                        "primary_tag": "Kissing_AI",
                    },
                    field="markers",
                    confidence=0.8,
                ),
                change("2", "Jane Doe", field="performers", confidence=0.9),
            ],
        )
        second = seed_plan("Manual", [change("3", "X")], status="applied")
        return first, second

    run_cli(data_dir, "status")  # create the database file
    return in_db(data_dir, seed)


def test_list_and_show(data_dir: Path, two_plans) -> None:
    first, second = two_plans
    listed = cli_json(data_dir, "plans", "list", "--json")
    assert [(p["id"], p["status"], p["changes"]) for p in listed] == [
        (second, "applied", 1),
        (first, "draft", 4),
    ]
    assert listed[1]["change_counts"] == {
        "pending": 4,
        "approved": 0,
        "rejected": 0,
        "applied": 0,
        "skipped": 0,
        "failed": 0,
    }
    assert listed[1]["name"].startswith("Auto Video Analysis")
    assert listed[1]["created_at"].startswith("20")  # ISO 8601
    assert [
        p["id"] for p in cli_json(data_dir, "plans", "list", "--status", "draft", "--json")
    ] == [first]
    shown = cli_json(data_dir, "plans", "show", str(first), "--json")
    assert shown["id"] == first and len(shown["change_list"]) == 4
    marker = shown["change_list"][2]
    assert {k: marker[k] for k in ("scene_id", "field", "action", "status", "confidence")} == {
        "scene_id": "2",
        "field": "markers",
        "action": "add",
        "status": "pending",
        "confidence": 0.8,
    }
    assert marker["proposed_value"]["seconds"] == 30.0
    text = run_cli(data_dir, "plans", "show", str(first))
    assert text.returncode == 0 and "Kissing_AI @ 30s-35s" in text.stdout
    table = run_cli(data_dir, "plans", "list")
    assert table.returncode == 0 and "Manual" in table.stdout


def test_approve_and_reject_with_selectors(data_dir: Path, two_plans) -> None:
    first, _ = two_plans

    def statuses() -> list[str]:
        return [
            c["status"]
            for c in cli_json(data_dir, "plans", "show", str(first), "--json")["change_list"]
        ]

    done = run_cli(
        data_dir, "plans", "approve", str(first), "--field", "tags", "--min-confidence", "0.5"
    )
    assert done.returncode == 0 and "1 change(s) approved" in done.stdout
    assert statuses() == ["approved", "pending", "pending", "pending"]
    ids = [
        c["id"] for c in cli_json(data_dir, "plans", "show", str(first), "--json")["change_list"]
    ]
    assert (
        run_cli(
            data_dir,
            "plans",
            "reject",
            str(first),
            "--change",
            str(ids[2]),
            "--change",
            str(ids[3]),
        ).returncode
        == 0
    )
    assert statuses() == ["approved", "pending", "rejected", "rejected"]
    assert run_cli(data_dir, "plans", "approve", str(first)).stdout.startswith("4 change(s)")
    assert statuses() == ["approved"] * 4
    assert cli_json(data_dir, "plans", "show", str(first), "--json")["status"] == "reviewing"


@pytest.mark.parametrize(
    "args, code, message",
    [
        (("plans", "show", "999"), 2, "no plan with id 999"),
        (("plans", "approve", "999"), 2, "no plan with id 999"),
        (("plans", "approve", "FIRST", "--change", "9999"), 2, "has no change with id 9999"),
        (("plans", "reject", "FIRST", "--min-confidence", "1.5"), 2, "between 0 and 1"),
        (("plans", "approve", "FIRST", "--field", "colour"), 2, "invalid choice"),
        (("plans", "show", "one"), 2, "invalid int value"),
        (("plans", "approve", "SECOND"), 1, "is applied"),
        (("plans", "apply", "SECOND"), 1, "cannot be applied"),
        (("plans", "apply", "FIRST"), 1, "no changes to apply"),
        (("plans", "apply", "FIRST", "--change", "9999"), 2, "has no change with id 9999"),
    ],
)
def test_bad_input_changes_nothing(data_dir: Path, two_plans, args, code, message) -> None:
    first, second = two_plans
    args = [str(first) if a == "FIRST" else str(second) if a == "SECOND" else a for a in args]
    before = query(data_dir, "SELECT id, status FROM plan_change ORDER BY id")
    done = run_cli(data_dir, *args)
    assert done.returncode == code, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert query(data_dir, "SELECT id, status FROM plan_change ORDER BY id") == before
    assert query(data_dir, "SELECT count(*) FROM job") == [(0,)]


def test_apply_without_an_engine_runs_the_job_here(data_dir: Path, stash_server) -> None:
    scene = stash_server.add_scene("One", tags=["AI_TagMe"])
    run_cli(data_dir, "config", "set", "stash.url", stash_server.url)
    plan_id = in_db(
        data_dir,
        lambda: (
            mirror_standin(stash_server),
            seed_plan(
                "P",
                [
                    change(scene, "Kissing_AI"),
                    change(scene, "AI_TagMe", action="remove"),
                    change(
                        scene,
                        {
                            "title": "Kissing_AI",
                            "seconds": 30.0,
                            "end_seconds": None,
                            "primary_tag": "Kissing_AI",
                        },
                        field="markers",
                        status="approved",
                    ),
                ],
            ),
        )[1],
    )
    done = run_cli(data_dir, "plans", "apply", str(plan_id), "--auto-approve")
    assert done.returncode == 0, done.stderr
    job_id, outcome = done.stdout.strip().splitlines()
    assert outcome == f"completed: 3 applied, 0 skipped, 0 failed (plan {plan_id} is applied)"
    assert query(data_dir, "SELECT type, status, created_by FROM job WHERE id=?", (job_id,)) == [
        ("APPLY_PLAN", "completed", "cli")
    ]
    assert sorted(stash_server.tags[t].name for t in stash_server.scenes[scene].tag_ids) == [
        "Kissing_AI"
    ]
    assert [m.title for m in stash_server.scene_markers(scene)] == ["Kissing_AI"]
    assert cli_json(data_dir, "plans", "show", str(plan_id), "--json")["status"] == "applied"
    assert not (data_dir / "engine.json").exists()


def test_apply_with_a_running_engine_hands_it_the_job(
    data_dir: Path, tmp_path: Path, stash_server
) -> None:
    scene = stash_server.add_scene("One")
    run_cli(data_dir, "config", "set", "stash.url", stash_server.url)
    plan_id = in_db(
        data_dir,
        lambda: (
            mirror_standin(stash_server),
            seed_plan(
                "P", [change(scene, "Approved_AI", status="approved"), change(scene, "Pending_AI")]
            ),
        )[1],
    )
    engine = HeadlessProcess(data_dir, tmp_path / "engine.log")
    try:
        engine.wait_for(lambda: "engine running" in engine.log(), what="start-up")
        answer = cli_json(data_dir, "plans", "apply", str(plan_id), "--json")
        assert answer["engine"] == "running"
        job_id = answer["job_id"]
        engine.wait_for(
            lambda: (
                query(data_dir, "SELECT status FROM job WHERE id=?", (job_id,)) == [("completed",)]
            ),
            what="the apply job",
        )
        assert (
            query(data_dir, "SELECT created_by, metadata FROM job WHERE id=?", (job_id,))[0][0]
            == "cli"
        )
        assert [stash_server.tags[t].name for t in stash_server.scenes[scene].tag_ids] == [
            "Approved_AI"
        ]
        assert cli_json(data_dir, "plans", "show", str(plan_id), "--json")["status"] == "draft"
        plain = run_cli(data_dir, "plans", "apply", str(plan_id), "--auto-approve")
        assert plain.returncode == 0 and len(plain.stdout.strip()) == 36  # just the job id
    finally:
        assert engine.terminate() == 0


def test_cancel(data_dir: Path, two_plans) -> None:
    first, second = two_plans
    assert run_cli(data_dir, "plans", "cancel", str(first)).returncode == 0
    assert cli_json(data_dir, "plans", "show", str(first), "--json")["status"] == "cancelled"
    assert run_cli(data_dir, "plans", "cancel", str(second)).returncode == 1

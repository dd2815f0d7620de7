"""The history endpoints of a real headless engine over real HTTP: a daemon's statuses and
job actions, paged, and the timeline's idle rows folded or shown."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from stashdesk.store.db import DB_FILENAME
from stashdesk.timestamps import from_iso
from tests.cli_helpers import run_cli
from tests.integration.test_api import Api, _started_api


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    yield from _started_api(tmp_path)


def _asleep(api: Api) -> dict:
    """test-tick after its first pass: one job run, then asleep for 60 seconds."""
    return api.engine.wait_for(
        lambda: next(
            (
                d
                for d in api.get("/daemons")
                if d["name"] == "test-tick" and "sleeping" in (d["current_status"] or "")
            ),
            None,
        ),
        what="test-tick asleep",
    )


def _walk(api: Api, path: str, limit: int) -> list[dict]:
    items, cursor = [], None
    for _ in range(100):
        page = api.get(path, limit=limit, **({"before": cursor} if cursor else {}))
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            return items
    raise AssertionError(f"{path} paging did not end")


def test_a_daemons_statuses_and_job_actions_page_newest_first(api: Api) -> None:
    _asleep(api)
    statuses = _walk(api, "/daemons/test-tick/statuses", 2)
    cli = json.loads(run_cli(api.data_dir, "history", "--daemon", "test-tick", "--json").stdout)
    assert [s["message"] for s in statuses] == [c["message"] for c in reversed(cli)]
    assert statuses[0]["message"] == "No test work, sleeping for 60 seconds"
    assert statuses[0]["phase"] == "sleeping"
    assert from_iso(statuses[0]["wake_at"]) == pytest.approx(
        from_iso(statuses[0]["at"]) + 60, abs=1
    )
    times = [from_iso(s["at"]) for s in statuses]
    assert times == sorted(times, reverse=True)
    waiting = next(s for s in statuses if s["message"].startswith("Waiting for test steps"))
    assert waiting["job_type"] == "TEST_STEPS" and waiting["phase"] == "waiting"

    actions = _walk(api, "/daemons/test-tick/job-actions", 1)
    assert [a["action"] for a in actions] == ["FINISHED", "LAUNCHED"]
    assert {a["job_id"] for a in actions} == {waiting["job_id"]}
    assert {a["job_type"] for a in actions} == {"TEST_STEPS"}
    assert actions[1]["reason"] == "Running 3 test steps"

    for path in ("/daemons/nope/statuses", "/daemons/nope/job-actions"):
        answer = api.http.get(path)
        assert answer.status_code == 404 and "unknown daemon 'nope'" in answer.json()["error"]
    answer = api.http.get("/daemons/test-tick/statuses", params={"before": "soon"})
    assert answer.status_code == 400 and "not a cursor" in answer.json()["error"]


def test_the_timeline_folds_idle_rows_unless_asked_to_show_them(api: Api) -> None:
    asleep = _asleep(api)
    slept_at = from_iso(asleep["status_updated_at"])
    # Four more passes that found nothing, written as the engine writes them.
    now = time.time()
    with sqlite3.connect(api.data_dir / DB_FILENAME, timeout=10) as db:
        db.executemany(
            "INSERT INTO daemon_status (daemon, message, at, phase, wake_at) "
            "VALUES ('test-tick', ?, ?, 'sleeping', ?)",
            [("No test work, sleeping for 60 seconds", now + i, now + i + 60) for i in range(1, 5)],
        )
    folded = api.get("/history", daemon="test-tick", kinds="status")["items"]
    newest = folded[0]
    assert newest["repeated"] == 5 and newest["idle"]
    assert from_iso(newest["first_at"]) == pytest.approx(slept_at, abs=0.01)
    assert from_iso(newest["last_at"]) == pytest.approx(now + 4, abs=0.01)
    assert from_iso(newest["wake_at"]) == pytest.approx(now + 64, abs=0.01)
    assert folded[1]["message"] == "Test steps completed" and folded[1]["repeated"] == 1
    shown = api.get("/history", daemon="test-tick", kinds="status", idle="show")["items"]
    assert [s["repeated"] for s in shown[:5]] == [1] * 5
    assert all(s["idle"] for s in shown[:5]) and shown[5]["message"] == "Test steps completed"
    assert len(shown) == len(folded) + 4
    answer = api.http.get("/history", params={"idle": "hide"})
    assert answer.status_code == 400 and "idle must be one of fold, show" in answer.json()["error"]

"""History and jobs listings in store/: same rows as the pages' queries, keyset paging that
never stalls, indexes the queries really use, and the file-size upkeep (migrations 3-4)."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from stashdesk.store import Store, prune_history, reclaim_space
from stashdesk.store import db as store_db
from stashdesk.store.history import (
    KINDS,
    daemon_job_actions,
    daemon_log_lines,
    daemon_status_rows,
    log_page,
    status_history,
    timeline_page,
)
from stashdesk.store.jobs import JobQuery, count_jobs, job_cursor, job_page
from stashdesk.store.models import DaemonJobAction, DaemonLog, DaemonStatus, Job

NOW = 1_780_000_000.0


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path)
    yield s
    s.close()


def seed_history(store: Store, tied: int = 0) -> None:
    """Status rows, job actions and log lines of two daemons, with many rows sharing
    instants (``tied`` extra status rows all at one instant)."""

    def seed() -> None:
        DaemonStatus.insert_many(
            [
                {
                    "daemon": f"d{i % 2}",
                    "message": f"status {i}",
                    "at": NOW - i // 3,
                    "job_id": f"job-{i % 5}" if i % 4 == 0 else None,
                    "job_type": None,
                }
                for i in range(600)
            ]
            + [{"daemon": "d0", "message": f"tied {i}", "at": NOW - 50} for i in range(tied)]
        ).execute()
        DaemonJobAction.insert_many(
            [
                {
                    "daemon": f"d{i % 2}",
                    "job_id": f"job-{i % 5}",
                    "action": "LAUNCHED",
                    "reason": "why" if i % 2 else None,
                    "at": NOW - i,
                }
                for i in range(150)
            ]
        ).execute()
        DaemonLog.insert_many(
            [
                {
                    "daemon": f"d{i % 2}",
                    "level": ("INFO", "WARNING", "ERROR")[i % 3],
                    "message": f"line {i}",
                    "at": NOW - i // 2,
                }
                for i in range(400)
            ]
        ).execute()
        for i in range(5):
            Job.create(id=f"job-{i}", type="SYNC", status="completed", created_at=NOW - i)

    store.writer.submit(seed).result(10)


def everything(daemon: str | None, kinds: tuple[str, ...], limit: int) -> list:
    pages, after = [], None
    for _ in range(10_000):  # bounded: a stalled cursor fails instead of hanging
        page = timeline_page(daemon, kinds, after, limit)
        pages.extend(page)
        if len(page) < limit:
            return pages
        after = page[-1].cursor
    raise AssertionError("timeline paging did not end")


@pytest.mark.parametrize("daemon", [None, "d0"])
@pytest.mark.parametrize("kinds", [KINDS, ("status",), ("job", "error")])
def test_timeline_pages_walk_every_event_once_in_order_even_through_ties(
    store: Store, daemon: str | None, kinds: tuple[str, ...]
) -> None:
    seed_history(store, tied=450)  # more rows at one instant than a page holds
    with store.db.connection_context():
        walked = everything(daemon, kinds, 100)
        first = timeline_page(daemon, kinds, None, 100)
    keys = [e.key for e in walked]
    assert len(keys) == len(set(keys))
    expected = (
        (
            sum(1 for _ in range(600) if daemon in (None, "d0")) // (2 if daemon else 1)
            + (450 if daemon in (None, "d0") else 0)
        )
        if "status" in kinds
        else 0
    )
    expected += (150 // (2 if daemon else 1)) if "job" in kinds else 0
    problems = [i for i in range(400) if i % 3 and (daemon is None or i % 2 == 0)]
    expected += len(problems) if "error" in kinds else 0
    assert len(walked) == expected
    order = [(e.at, e.row_id, -KINDS.index(e.kind)) for e in walked]
    assert order == sorted(order, reverse=True)
    assert walked[:100] == first
    assert {e.kind for e in walked} == set(kinds)
    assert all(e.daemon == daemon for e in walked) if daemon else True
    launched = [e for e in walked if e.kind == "job"]
    assert all(e.job_type == "SYNC" and e.text.startswith("Launched job") for e in launched)
    assert all(e.detail in ("WARNING", "ERROR") for e in walked if e.kind == "error")


def test_a_daemons_panels_and_the_cli_history_list_newest_rows(store: Store) -> None:
    seed_history(store)
    with store.db.connection_context():
        statuses = daemon_status_rows("d1", 20)
        expected = list(
            DaemonStatus.select(
                DaemonStatus.at, DaemonStatus.message, DaemonStatus.job_id, DaemonStatus.job_type
            )
            .where(DaemonStatus.daemon == "d1")
            .order_by(DaemonStatus.at.desc(), DaemonStatus.id.desc())
            .limit(20)
            .tuples()
        )
        assert statuses == expected
        actions = daemon_job_actions("d0", 10)
        assert [a[0] for a in actions] == [NOW - i for i in range(0, 20, 2)]
        assert all(a[3] == "SYNC" for a in actions)
        lines = daemon_log_lines("d0", 5)
        assert lines == [
            (NOW - 0, "INFO", "line 0"),
            (NOW - 1, "ERROR", "line 2"),
            (NOW - 2, "WARNING", "line 4"),
            (NOW - 3, "INFO", "line 6"),
            (NOW - 4, "ERROR", "line 8"),
        ]
        cli = status_history(None, 7)
        newest = list(
            DaemonStatus.select().order_by(DaemonStatus.at.desc(), DaemonStatus.id.desc()).limit(7)
        )
        assert cli == [
            {
                "daemon": r.daemon,
                "message": r.message,
                "job_id": r.job_id,
                "job_type": r.job_type,
                "at": r.at,
            }
            for r in reversed(newest)
        ]
        assert [i["message"] for i in status_history("d0", 2)] == ["status 0", "status 2"]


def seed_jobs(store: Store, count: int) -> None:
    def seed() -> None:
        Job.insert_many(
            [
                {
                    "id": f"{i:06d}",
                    "type": ("SYNC", "ANALYSIS")[i % 2],
                    "status": ("completed", "failed", "running")[i % 3],
                    "progress": 0.0,
                    "metadata": "{}",
                    "created_at": NOW + i // 4,
                }
                for i in range(count)
            ]
        ).execute()

    store.writer.submit(seed).result(30)


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "-finished_at", "type"])
def test_jobs_pages_walk_every_matching_job_once_in_order(store: Store, sort: str) -> None:
    seed_jobs(store, 1000)
    with store.db.connection_context():
        for statuses, types in (
            (None, None),
            (("running",), None),
            (None, ("SYNC",)),
            (("completed", "failed"), ("ANALYSIS",)),
            ((), None),
        ):
            query = JobQuery(statuses, types, sort=sort)
            reference = list(Job.select().where(query.clause()))
            walked, after = [], None
            while True:
                page = job_page(query, after, 64)
                walked += page
                if len(page) < 64:
                    break
                after = job_cursor(query, page[-1])
            assert [j.id for j in walked] == [
                j.id
                for j in sorted(
                    reference,
                    key=lambda j: (getattr(j, query.column.name) or -1.0, j.id),
                    reverse=query.descending,
                )
            ]
            assert len(walked) == count_jobs(query)


def plan(store: Store, sql: str, params: list) -> str:
    with store.db.connection_context():
        rows = store.db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " | ".join(row[-1] for row in rows)


def captured_sql(store: Store, call) -> list[tuple[str, list]]:
    """The statements ``call`` runs, with their parameters (from SQLite's own trace)."""
    statements: list[str] = []
    with store.db.connection_context():
        conn = store.db.connection()
        conn.set_trace_callback(statements.append)
        try:
            call()
        finally:
            conn.set_trace_callback(None)
    return [(s, []) for s in statements if s.lstrip().upper().startswith("SELECT")]


@pytest.mark.parametrize("daemon", [None, "d0"])
def test_every_listing_query_walks_an_index_in_order(store: Store, daemon: str | None) -> None:
    """EXPLAIN QUERY PLAN of each statement the listings run (with their real literal
    parameters): an index search, and never a sort of the table."""
    seed_history(store)
    seed_jobs(store, 300)
    after = (NOW - 10, 40, "job")
    calls = [
        lambda: timeline_page(daemon, KINDS, None, 50),
        lambda: timeline_page(daemon, KINDS, after, 50),
        lambda: job_page(JobQuery(), None, 50),
        lambda: job_page(JobQuery(), (NOW + 10, "000040"), 50),
        lambda: job_page(JobQuery(("running",), ("SYNC",)), (NOW + 10, "000040"), 50),
        lambda: count_jobs(JobQuery()),
        lambda: count_jobs(JobQuery(("running", "failed"))),
        lambda: count_jobs(JobQuery(types=("SYNC",))),
        lambda: log_page(daemon, ("WARNING", "ERROR"), (NOW - 10, 40), 50),
        lambda: status_history(daemon, 50),
    ]
    if daemon:
        calls += [
            lambda: daemon_status_rows(daemon, 50),
            lambda: daemon_log_lines(daemon, 50),
            lambda: daemon_job_actions(daemon, 50),
        ]
    checked = 0
    for call in calls:
        for sql, params in captured_sql(store, call):
            if " FROM job WHERE id IN" in sql:
                continue  # job types by primary key
            text = plan(store, sql, params)
            assert "USING" in text and "INDEX" in text, (sql, text)
            assert "SCAN daemon_" not in text or "USING INDEX" in text, (sql, text)
            if "ORDER BY" in sql:
                assert "TEMP B-TREE" not in text, (sql, text)
            if "FROM daemon_log" in sql and "level IN" in sql:
                assert "problem_at" in text, (sql, text)
            checked += 1
    assert checked >= len(calls)


def test_retention_keeps_the_newest_rows_of_each_daemon_and_gives_space_back(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path)
    try:
        with store.db.connection_context():
            assert store.db.execute_sql("PRAGMA auto_vacuum").fetchone()[0] == 2  # incremental

        def seed() -> None:
            DaemonStatus.insert_many(
                [
                    {"daemon": f"d{i % 3}", "message": "x" * 200, "at": NOW - 90 * 86400 + i}
                    for i in range(30_000)
                ]
            ).execute()

        store.writer.submit(seed).result(30)
        store.close()
        before = (tmp_path / "stashdesk.db").stat().st_size
        store = Store(tmp_path)
        removed = store.writer.submit(lambda: prune_history(30, now=NOW)).result(30)
        assert removed["status_history"] == 30_000 - 3 * 100
        with store.db.connection_context():
            kept = list(
                store.db.execute_sql(
                    "SELECT daemon, count(*), min(at) FROM daemon_status GROUP BY daemon"
                )
            )
        assert [(d, n) for d, n, _ in kept] == [("d0", 100), ("d1", 100), ("d2", 100)]
        assert {d: at for d, _, at in kept} == {
            f"d{k}": NOW - 90 * 86400 + 30_000 - 300 + k for k in range(3)
        }
        assert store.writer.submit(reclaim_space).result(10) == 0  # the prune freed it all
        store.close()
        assert (tmp_path / "stashdesk.db").stat().st_size < before / 4
    finally:
        store.close()


def test_an_old_file_is_copied_aside_then_vacuumed_into_incremental_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:  # a file as version 2 left it
        patch.setattr(store_db, "MIGRATIONS", store_db.MIGRATIONS[:2])
        patch.setattr(store_db, "SCHEMA_VERSION", 2)
        old = store_db.open_database(tmp_path)
        old.execute_sql("INSERT INTO setting VALUES ('stash.url', '\"http://kept\"')")
        old.close()
    path = tmp_path / store_db.DB_FILENAME
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()
    store_db.open_database(tmp_path).close()
    assert len(list(tmp_path.glob("stashdesk.db.v2-*.bak"))) == 1
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store_db.SCHEMA_VERSION
    assert conn.execute("SELECT value FROM setting").fetchone()[0] == '"http://kept"'
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    conn.close()
    assert {"daemon_log_problem_at", "job_created_at_id"} <= indexes
    assert "scene_tag_scene_id" not in indexes


def test_pragma_optimize_runs_when_the_store_closes(tmp_path: Path) -> None:
    store = Store(tmp_path)
    statements: list[str] = []
    store.writer.submit(lambda: store.db.connection().set_trace_callback(statements.append)).result(
        10
    )
    store.writer.submit(
        lambda: DaemonStatus.select().where(DaemonStatus.at > time.time()).count()
    ).result(10)
    store.close()
    assert any(s.strip().upper() == "PRAGMA OPTIMIZE" for s in statements)

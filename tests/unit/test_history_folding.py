"""History's idle rows folded: a run of "sleeping" statuses of one daemon is one event, on
a real SQLite file, whatever the page size; the store and the history operation agree."""

from __future__ import annotations

from pathlib import Path

import pytest

from stashdesk.store import Store
from stashdesk.store import db as store_db
from stashdesk.store.history import KINDS, folded_timeline_page, timeline_page
from stashdesk.store.models import DaemonLog, DaemonStatus

NOW = 1_780_000_000.0


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path)
    yield s
    s.close()


def _status(
    daemon: str,
    message: str,
    at: float,
    phase: str | None = "working",
    wake_at: float | None = None,
) -> dict:
    return {"daemon": daemon, "message": message, "at": at, "phase": phase, "wake_at": wake_at}


def seed_idle_runs(store: Store) -> None:
    """d0: checks, sleeps 12 times, runs a job, sleeps 3 times (newest). d1 sleeps 20
    times all along, between d0's rows; d0 logs an error inside its long run."""

    def seed() -> None:
        rows = [_status("d0", "Checking", NOW)]
        rows += [
            _status(
                "d0",
                "No work, sleeping for 30 seconds",
                NOW + i * 10,
                "sleeping",
                NOW + i * 10 + 30,
            )
            for i in range(1, 13)
        ]
        rows += [_status("d0", "Running a job", NOW + 130, "waiting")]
        rows += [
            _status(
                "d0", "No work, sleeping for 30 seconds", NOW + 130 + i, "sleeping", NOW + 160 + i
            )
            for i in range(1, 4)
        ]
        rows += [
            _status(
                "d1",
                "Nothing, sleeping for 7 seconds",
                NOW + 0.5 + i * 7,
                "sleeping",
                NOW + 7.5 + i * 7,
            )
            for i in range(20)
        ]
        DaemonStatus.insert_many(rows).execute()
        DaemonLog.create(daemon="d0", level="ERROR", message="Stash slow", at=NOW + 55)

    store.writer.submit(seed).result(10)


def walk(daemon: str | None, kinds: tuple[str, ...], limit: int) -> list:
    events, after = [], None
    for _ in range(1000):  # bounded: a stalled cursor fails instead of hanging
        page = folded_timeline_page(daemon, kinds, after, limit)
        events.extend(page.events)
        if page.after is None:
            return events
        after = page.after
    raise AssertionError("folded paging did not end")


def test_runs_of_idle_rows_fold_into_their_newest_row(store: Store) -> None:
    seed_idle_runs(store)
    with store.db.connection_context():
        events = folded_timeline_page(None, KINDS, None, 100).events
    d0 = [
        (e.text, e.repeated, e.first_at, e.at)
        for e in events
        if e.daemon == "d0" and e.kind == "status"
    ]
    assert d0 == [
        ("No work, sleeping for 30 seconds", 3, NOW + 131, NOW + 133),
        ("Running a job", 1, None, NOW + 130),
        ("No work, sleeping for 30 seconds", 12, NOW + 10, NOW + 120),
        ("Checking", 1, None, NOW),
    ]
    d1 = [e for e in events if e.daemon == "d1"]
    assert [(e.repeated, e.first_at, e.at, e.wake_at) for e in d1] == [
        (20, NOW + 0.5, NOW + 0.5 + 19 * 7, NOW + 7.5 + 19 * 7)
    ]
    assert [e.text for e in events if e.kind == "error"] == ["Stash slow"]  # not folded
    assert len(events) == 6
    assert [e.at for e in events] == sorted((e.at for e in events), reverse=True)


@pytest.mark.parametrize("limit", [1, 2, 3, 5, 100])
@pytest.mark.parametrize("daemon", [None, "d0", "d1"])
def test_folded_pages_walk_each_run_once_whatever_the_page_size(
    store: Store, daemon: str | None, limit: int
) -> None:
    seed_idle_runs(store)
    with store.db.connection_context():
        whole = folded_timeline_page(daemon, KINDS, None, 1000).events
        walked = walk(daemon, KINDS, limit)
        every = timeline_page(daemon, KINDS, None, 1000)
    assert walked == whole  # a run cut by a page boundary is not shown twice
    assert sum(e.repeated for e in walked) == len(every)  # every row accounted for
    assert len({e.key for e in walked}) == len(walked)


def test_a_folded_page_reads_on_past_a_long_run_and_says_where_it_stopped(store: Store) -> None:
    def seed() -> None:
        DaemonStatus.insert_many(
            [_status("d0", "Checking", NOW)]
            + [
                _status("d0", "Idle, sleeping for 1 seconds", NOW + i, "sleeping")
                for i in range(1, 500)
            ]
        ).execute()

    store.writer.submit(seed).result(10)
    with store.db.connection_context():
        first = folded_timeline_page("d0", ("status",), None, 2, scan_pages=10)
        assert [e.repeated for e in first.events] == [499]  # 20 rows read, run counted whole
        assert first.after is not None
        rest = walk("d0", ("status",), 2)
    assert [(e.text, e.repeated) for e in rest] == [
        ("Idle, sleeping for 1 seconds", 499),
        ("Checking", 1),
    ]


def test_the_run_boundary_is_found_through_the_partial_index(store: Store) -> None:
    with store.db.connection_context():
        plan = " ".join(
            str(row)
            for row in store.db.execute_sql(
                "EXPLAIN QUERY PLAN SELECT at, id FROM daemon_status WHERE daemon = ? AND "
                f"{store_db.STATUS_NOT_IDLE} AND (at, id) < (?, ?) ORDER BY at DESC, id DESC "
                "LIMIT 1",
                ["d0", NOW, 1],
            )
        )
    assert "daemon_status_daemon_busy_at" in plan, plan
    assert "TEMP B-TREE" not in plan, plan


def test_a_file_from_before_the_columns_is_migrated(tmp_path: Path) -> None:
    import sqlite3

    Store(tmp_path).close()
    path = tmp_path / store_db.DB_FILENAME
    with sqlite3.connect(path) as conn:  # the schema one step back, with a row of then
        conn.execute('DROP INDEX "daemon_status_daemon_busy_at"')
        conn.execute("ALTER TABLE daemon_status DROP COLUMN phase")
        conn.execute("ALTER TABLE daemon_status DROP COLUMN wake_at")
        conn.execute(
            "INSERT INTO daemon_status (daemon, message, at) VALUES "
            "('d0', 'Nothing, sleeping for 5 seconds', 1.0)"
        )
        conn.execute(f"PRAGMA user_version = {store_db.SCHEMA_VERSION - 1}")
    store = Store(tmp_path)
    try:
        with store.db.connection_context():
            row = DaemonStatus.get()
            assert (row.phase, row.wake_at) == ("sleeping", None)
            assert store_db.read_schema_version(path) == store_db.SCHEMA_VERSION
    finally:
        store.close()
    assert list(tmp_path.glob(f"{store_db.DB_FILENAME}.v{store_db.SCHEMA_VERSION - 1}-*.bak"))


def test_the_migration_marks_older_sleeping_rows(store: Store) -> None:
    def seed() -> None:
        DaemonStatus.insert_many(
            [
                _status("d0", "No work, sleeping for 30 seconds", NOW, None),
                _status("d0", "Error: boom - retrying in 5 seconds", NOW + 1, None),
                _status("d0", "Checking", NOW + 2, None),
            ]
        ).execute()

    store.writer.submit(seed).result(10)
    store.writer.submit(lambda: store_db._migration_status_phase(store.db)).result(10)
    with store.db.connection_context():
        phases = [r.phase for r in DaemonStatus.select().order_by(DaemonStatus.at)]
    assert phases == ["sleeping", None, None]


@pytest.mark.parametrize("daemon", [None, "d0"])
def test_the_folding_and_a_daemons_pages_walk_indexes_in_order(
    store: Store, daemon: str | None
) -> None:
    from stashdesk.store.history import daemon_job_action_page, daemon_status_page
    from tests.unit.test_store_history import captured_sql, plan

    seed_idle_runs(store)
    calls = [
        lambda: folded_timeline_page(daemon, KINDS, None, 3),
        lambda: folded_timeline_page(daemon, ("status",), (NOW + 100, 9, "status"), 3),
        lambda: daemon_status_page("d0", None, 5),
        lambda: daemon_status_page("d0", (NOW + 100, 9), 5),
        lambda: daemon_job_action_page("d0", (NOW + 100, 9), 5),
    ]
    statements = [s for call in calls for s, _params in captured_sql(store, call)]
    assert any("COUNT(*)" in s for s in statements)  # a run was folded
    for sql in statements:
        if " FROM job WHERE id IN" in sql:
            continue
        text = plan(store, sql, [])
        assert "USING" in text and "INDEX" in text, (sql, text)
        if "ORDER BY" in sql:
            assert "TEMP B-TREE" not in text, (sql, text)
        if "phase IS NOT 'sleeping'" in sql:
            assert "daemon_status_daemon_busy_at" in text, (sql, text)

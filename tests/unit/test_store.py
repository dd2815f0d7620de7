"""The database file: pragmas, versions, migrations, retention and the writer thread."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import stat
import threading
import time
from pathlib import Path

import peewee as pw
import pytest

from stashdesk.store import Store, prune_history
from stashdesk.store import db as store_db
from stashdesk.store.models import DaemonLog, DaemonStatus, Job, Setting
from stashdesk.store.writer import LogRecord, StatusRecord


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def store(tmp_path: Path):
    s = Store(tmp_path)
    yield s
    s.close()


def test_new_database_has_pragmas_version_and_owner_only_mode(store: Store) -> None:
    assert store.db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute_sql("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute_sql("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert store_db.read_schema_version(store.path) == store_db.SCHEMA_VERSION
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600


def test_newer_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "stashdesk.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {store_db.SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    before = sha256(path)
    with pytest.raises(store_db.DatabaseTooNewError, match="newer StashDesk"):
        store_db.open_database(tmp_path)
    assert sha256(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stashdesk.db"]  # no WAL, no backup


def test_migration_copies_file_aside_and_runs_in_a_transaction(tmp_path: Path, monkeypatch) -> None:
    s = Store(tmp_path)
    s.writer.call  # noqa: B018 - the store is usable
    s.writer.submit(lambda: Setting.create(key="stash.url", value="http://old:9999")).result()
    s.close()

    current = store_db.SCHEMA_VERSION
    calls = []

    def migration_2(db: pw.Database) -> None:
        calls.append("2")
        db.execute_sql("CREATE TABLE extra (id INTEGER PRIMARY KEY)")

    def failing_migration_3(db: pw.Database) -> None:
        db.execute_sql("CREATE TABLE half_done (id INTEGER PRIMARY KEY)")
        raise RuntimeError("migration 3 broke")

    monkeypatch.setattr(
        store_db, "MIGRATIONS", [*store_db.MIGRATIONS, migration_2, failing_migration_3]
    )
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", current + 2)
    with pytest.raises(RuntimeError, match="migration 3 broke"):
        store_db.open_database(tmp_path)
    store_db.database.obj.close()
    backups = list(tmp_path.glob(f"stashdesk.db.v{current}-*.bak"))
    assert len(backups) == 1
    # The backup holds the data as it was; the failed step left no trace.
    conn = sqlite3.connect(backups[0])
    assert conn.execute("SELECT value FROM setting").fetchone()[0] == '"http://old:9999"'
    conn.close()
    conn = sqlite3.connect(tmp_path / "stashdesk.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == current + 1
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "extra" in tables and "half_done" not in tables
    assert calls == ["2"]


def test_writer_batches_records_and_keeps_order_with_operations(store: Store) -> None:
    now = time.time()
    for i in range(1000):
        store.writer.put(StatusRecord("d1", f"status {i}", None, None, "working", None, now + i))
    result = store.writer.submit(lambda: DaemonStatus.select().count())
    # Records queued before an operation are written before it runs.
    assert result.result(10) == 1000
    store.writer.put(LogRecord("d1", "INFO", "hello", now))
    store.writer.flush()
    assert DaemonLog.select().count() == 1
    assert store.writer.batches_written < 1000  # batched, not one commit per record


def test_failing_operation_does_not_undo_its_neighbours(store: Store) -> None:
    ok1 = store.writer.submit(lambda: Setting.create(key="a", value=1))
    bad = store.writer.submit(lambda: Setting.create(key="a", value=2))  # duplicate key
    ok2 = store.writer.submit(lambda: Setting.create(key="b", value=3))
    ok1.result(5)
    ok2.result(5)
    with pytest.raises(pw.IntegrityError):
        bad.result(5)
    assert {s.key: s.value for s in Setting.select()} == {"a": 1, "b": 3}


def test_writer_waits_out_another_process_holding_the_lock(store: Store) -> None:
    other = sqlite3.connect(store.path, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    done = store.writer.submit(lambda: Setting.create(key="k", value="v"))
    time.sleep(0.2)  # the other connection holds the lock for a while on purpose
    assert not done.done()
    other.rollback()
    other.close()
    done.result(15)
    assert Setting.get(Setting.key == "k").value == "v"


def test_writer_thread_is_the_only_one_writing(store: Store) -> None:
    seen = store.writer.submit(lambda: threading.current_thread().name).result(5)
    assert seen == "stashdesk-db-writer"


def test_retention_prunes_old_rows_but_keeps_each_daemons_newest_100(store: Store) -> None:
    now = time.time()
    old = now - 40 * 86400

    def seed() -> None:
        DaemonStatus.insert_many(
            [{"daemon": "quiet", "message": f"old {i}", "at": old + i} for i in range(150)]
            + [{"daemon": "busy", "message": f"old {i}", "at": old + i} for i in range(50)]
            + [{"daemon": "busy", "message": f"new {i}", "at": now - i} for i in range(120)]
        ).execute()
        DaemonLog.insert_many(
            [
                {"daemon": "busy", "level": "INFO", "message": "x", "at": old},
                {"daemon": "busy", "level": "INFO", "message": "y", "at": now},
            ]
        ).execute()
        for i, (status, finished) in enumerate(
            [("completed", old), ("failed", old), ("completed", now), ("running", None)]
        ):
            Job.create(
                id=f"job-{i}", type="SYNC", status=status, created_at=old, finished_at=finished
            )

    store.writer.submit(seed).result(10)
    removed = store.writer.submit(lambda: prune_history(30, now=now)).result(10)
    assert removed["status_history"] == 50 + 50  # quiet keeps 100 of 150; busy loses its 50 old
    assert DaemonStatus.select().where(DaemonStatus.daemon == "quiet").count() == 100
    newest_quiet = (
        DaemonStatus.select()
        .where(DaemonStatus.daemon == "quiet")
        .order_by(DaemonStatus.at.desc())
        .first()
    )
    assert newest_quiet.message == "old 149"
    assert DaemonStatus.select().where(DaemonStatus.daemon == "busy").count() == 120
    assert [r.message for r in DaemonLog.select()] == ["y"]
    assert sorted(j.id for j in Job.select()) == ["job-2", "job-3"]


async def test_the_engine_prunes_old_history_soon_after_it_starts(engines) -> None:
    services = await engines.start(settings={"history.retention_days": 7})
    old = time.time() - 8 * 86400

    def seed() -> None:
        DaemonLog.create(daemon="x", level="INFO", message="old", at=old)
        DaemonLog.create(daemon="x", level="INFO", message="new", at=time.time())
        Job.create(id="old-job", type="SYNC", status="completed", created_at=old, finished_at=old)

    await services.store.write(seed)
    await engines.engine.stop()
    services = await engines.start()  # returns at once; the prune runs behind it

    async def old_rows_left() -> bool:
        logs = await services.store.read(lambda: [r.message for r in DaemonLog.select()])
        return (
            logs != ["new"]
            or await services.store.read(lambda: Job.get_or_none(Job.id == "old-job")) is not None
        )

    deadline = time.monotonic() + 10
    while await old_rows_left():
        assert time.monotonic() < deadline, "the retention never ran"
        await asyncio.sleep(0.02)


def test_the_writer_keeps_each_daemons_history_and_log_under_the_cap(store: Store) -> None:
    store.writer.max_rows_per_daemon = 200
    now = time.time()
    for i in range(1500):
        store.writer.put(StatusRecord("busy", f"status {i}", None, None, "working", None, now + i))
        store.writer.put(LogRecord("busy", "INFO", f"line {i}", now + i))
        if i % 500 == 0:
            store.writer.put(
                StatusRecord("quiet", f"quiet {i}", None, None, "working", None, now + i)
            )
        if i % 100 == 0:
            store.writer.flush()  # several batches, as in a real run
    store.writer.flush()

    def counts() -> tuple[int, int, int, str]:
        busy = DaemonStatus.select().where(DaemonStatus.daemon == "busy")
        newest = busy.order_by(DaemonStatus.id.desc()).first().message
        return (
            busy.count(),
            DaemonLog.select().where(DaemonLog.daemon == "busy").count(),
            DaemonStatus.select().where(DaemonStatus.daemon == "quiet").count(),
            newest,
        )

    history, logs, quiet, newest = store.writer.submit(counts).result(10)
    assert 200 <= history <= 200 + 50 and 200 <= logs <= 200 + 50
    assert newest == "status 1499"  # the newest rows are the ones kept
    assert quiet == 3  # another daemon's rows are not touched
    assert store.writer.rows_trimmed >= 2 * (1500 - 250)


def test_without_a_cap_nothing_is_trimmed(store: Store) -> None:
    now = time.time()
    for i in range(300):
        store.writer.put(LogRecord("d", "INFO", f"line {i}", now + i))
    store.writer.flush()
    assert store.writer.submit(lambda: DaemonLog.select().count()).result(10) == 300
    assert store.writer.rows_trimmed == 0


async def test_the_engine_caps_history_by_the_setting(engines) -> None:
    services = await engines.start(settings={"history.max_rows_per_daemon": 100})
    await engines.engine.stop()
    services = await engines.start()
    assert services.store.writer.max_rows_per_daemon == 100


def test_a_write_whose_caller_gave_up_still_lets_the_rest_of_its_batch_succeed(
    store: Store,
) -> None:
    """A caller cancelled while its write ran (an engine stopping, say) must not make the
    writes committed in the same batch look failed."""
    import threading

    started, release = threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(10)
        DaemonLog.create(daemon="x", level="INFO", message="abandoned", at=1.0)

    hold = threading.Event()
    store.writer.submit(lambda: hold.wait(10))  # the next two then share one batch
    abandoned = store.writer.submit(slow)
    kept = store.writer.submit(
        lambda: DaemonLog.create(daemon="x", level="INFO", message="kept", at=2.0)
    )
    hold.set()
    assert started.wait(10)
    abandoned.cancel()  # its caller gives up while it runs
    release.set()
    assert kept.result(10).message == "kept"
    messages = store.writer.submit(lambda: sorted(r.message for r in DaemonLog.select())).result(10)
    assert messages == ["abandoned", "kept"]  # both committed

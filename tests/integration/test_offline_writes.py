"""Writes from a process that is not the engine, contending with another real process.

A helper process takes SQLite's write lock (``BEGIN IMMEDIATE``) on the same file
and holds it; this test process writes through ``write_transaction``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from stashdesk.store import Store
from stashdesk.store.db import open_database
from stashdesk.store.models import Setting
from stashdesk.store.offline import DatabaseBusyError, write_transaction
from tests.cli_helpers import REPO

HOLDER = """
import sqlite3, sys, time
from pathlib import Path
path, mode, seconds, ready = sys.argv[1], sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])
conn = sqlite3.connect(path, isolation_level=None, timeout=30)
if mode == "write":
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT OR REPLACE INTO setting (key, value) VALUES ('holder', '1')")
else:
    conn.execute("BEGIN")
    conn.execute("SELECT COUNT(*) FROM setting").fetchone()  # a read snapshot, held open
ready.write_text("held")
time.sleep(seconds)
conn.execute("COMMIT")
conn.close()
"""


@pytest.fixture
def database(tmp_path: Path):
    Store(tmp_path).close()  # a real StashDesk file, in WAL mode
    db = open_database(tmp_path)
    yield tmp_path / "stashdesk.db", db
    db.close()


def hold(path: Path, mode: str, seconds: float, tmp_path: Path) -> subprocess.Popen:
    ready = tmp_path / f"ready-{mode}-{time.monotonic_ns()}"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), mode, str(seconds), str(ready)], cwd=REPO
    )
    deadline = time.monotonic() + 30
    while not ready.exists():
        assert proc.poll() is None, "the holder process died"
        assert time.monotonic() < deadline, "the holder never took its lock"
        time.sleep(0.01)
    return proc


def set_value(key: str, value: str):
    return lambda: Setting.insert(key=key, value=value).on_conflict_replace().execute()


def stored(db, key: str):
    row = Setting.get_or_none(Setting.key == key)
    return None if row is None else row.value


def test_a_write_waits_for_another_process_lock_and_then_lands(database, tmp_path) -> None:
    path, db = database
    holder = hold(path, "write", 2.5, tmp_path)
    waits: list[float] = []
    started = time.monotonic()
    write_transaction(
        db, set_value("stash.url", "http://after:9999"), deadline=30, on_busy=waits.append
    )
    took = time.monotonic() - started
    assert holder.wait(30) == 0
    assert 1.5 < took < 20, took  # it really waited for the other process
    assert waits, "the lock was never busy: the holder did not contend"
    assert stored(db, "stash.url") == "http://after:9999"
    assert stored(db, "holder") == 1  # the other process's write is kept too


def test_a_lock_held_past_the_deadline_is_one_clear_error_and_changes_nothing(
    database, tmp_path
) -> None:
    path, db = database
    holder = hold(path, "write", 6, tmp_path)
    started = time.monotonic()
    with pytest.raises(DatabaseBusyError) as caught:
        write_transaction(db, set_value("stash.url", "http://never:9999"), deadline=1.5)
    took = time.monotonic() - started
    assert 1.4 < took < 5, took
    message = str(caught.value)
    assert "\n" not in message
    assert (
        f"the database {path} stayed locked by another process for 2 s" in message
        or f"the database {path} stayed locked by another process for 1 s" in message
    )
    assert "nothing was changed - try again in a moment" in message
    assert caught.value.attempts >= 1
    holder.wait(30)
    assert stored(db, "stash.url") is None
    # the connection is usable afterwards, with the usual busy timeout back
    assert db.execute_sql("PRAGMA busy_timeout").fetchone()[0] == 10_000
    write_transaction(db, set_value("stash.url", "http://later:9999"))
    assert stored(db, "stash.url") == "http://later:9999"


def test_a_reader_in_another_process_never_blocks_a_write(database, tmp_path) -> None:
    path, db = database
    reader = hold(path, "read", 4, tmp_path)
    started = time.monotonic()
    write_transaction(db, set_value("k", "v"), deadline=30)
    assert time.monotonic() - started < 1.0
    assert reader.poll() is None  # the reader still holds its snapshot
    reader.wait(30)


def test_reading_while_another_process_holds_the_write_lock(database, tmp_path) -> None:
    path, db = database
    write_transaction(db, set_value("before", "1"))
    holder = hold(path, "write", 4, tmp_path)
    started = time.monotonic()
    assert stored(db, "before") == "1"
    assert time.monotonic() - started < 0.5
    holder.wait(30)


def test_an_error_in_the_writes_rolls_them_back_and_is_not_retried(database) -> None:
    _path, db = database
    calls = []

    def writes() -> None:
        calls.append(1)
        Setting.create(key="half", value="done")
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        write_transaction(db, writes)
    assert calls == [1]
    assert stored(db, "half") is None


def test_nesting_inside_a_transaction_is_refused(database) -> None:
    _path, db = database
    with db.atomic(), pytest.raises(RuntimeError, match="must not be nested"):
        write_transaction(db, set_value("k", "v"))

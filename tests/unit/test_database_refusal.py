"""Database files StashDesk must refuse, leaving them exactly as they were.

Each case: the exception and its one-line message (with the remedy), the file's
bytes and mtime unchanged, and nothing new beside it (no -wal, -shm or backup).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from stashdesk.store import (
    DatabaseCorruptError,
    DatabaseRefused,
    DatabaseTooNewError,
    ForeignDatabaseError,
    Store,
)
from stashdesk.store import db as store_db


def fingerprint(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file of the folder: content hash and mtime (ns)."""
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(folder.iterdir())
    }


def stashdesk_database(folder: Path, rows: int = 2000) -> Path:
    """A real, closed StashDesk database with some pages of history."""
    store = Store(folder)
    from stashdesk.store.models import DaemonStatus

    store.writer.submit(
        lambda: DaemonStatus.insert_many(
            [
                {"daemon": "d", "message": f"status number {i} " + "x" * 80, "at": i}
                for i in range(rows)
            ]
        ).execute()
    ).result()
    store.close()
    path = folder / store_db.DB_FILENAME
    assert sorted(p.name for p in folder.iterdir()) == [
        store_db.DB_FILENAME,
        store_db.CLEAN_CLOSE_MARKER,
    ]
    return path


def refuse(folder: Path, kind: type[DatabaseRefused]) -> str:
    before = fingerprint(folder)
    with pytest.raises(kind) as caught:
        store_db.open_database(folder)
    assert fingerprint(folder) == before, "the refused file (or its folder) was changed"
    message = str(caught.value)
    assert "\n" not in message
    assert str(folder / store_db.DB_FILENAME) in message
    assert message.endswith("The file was left untouched.")
    return message


def test_random_bytes_are_not_a_database(tmp_path: Path) -> None:
    (tmp_path / store_db.DB_FILENAME).write_bytes(os.urandom(8192))
    message = refuse(tmp_path, DatabaseCorruptError)
    assert "is not an SQLite database" in message
    assert "move stashdesk.db aside" in message.lower()


def test_a_text_file_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / store_db.DB_FILENAME).write_text("hello\n")
    assert "is not an SQLite database" in refuse(tmp_path, DatabaseCorruptError)


def test_a_file_cut_inside_a_page_is_truncated(tmp_path: Path) -> None:
    path = stashdesk_database(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 100])
    assert "is truncated or damaged" in refuse(tmp_path, DatabaseCorruptError)


def test_a_file_cut_at_a_page_boundary_fails_the_check(tmp_path: Path) -> None:
    path = stashdesk_database(tmp_path)
    data = path.read_bytes()
    page = int.from_bytes(data[16:18], "big")
    path.write_bytes(data[: page * 3])
    assert "is damaged (SQLite" in refuse(tmp_path, DatabaseCorruptError)


def test_a_damaged_page_fails_quick_check(tmp_path: Path) -> None:
    path = stashdesk_database(tmp_path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    pages = len(data) // page
    # garbage over the middle of the history table's pages, header page intact
    middle = pages // 2
    data[middle * page : (middle + 2) * page] = os.urandom(2 * page)
    path.write_bytes(bytes(data))
    assert "is damaged (SQLite" in refuse(tmp_path, DatabaseCorruptError)


def test_a_bad_page_header_is_reported_by_quick_check(tmp_path: Path) -> None:
    path = stashdesk_database(tmp_path)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    pages = len(data) // page
    # a table leaf page (0x0D) around the middle: the history table's
    leaf = next(n for n in range(pages // 2, pages) if data[n * page] == 0x0D)
    # its "start of cell content" now points into the page header
    data[leaf * page + 5 : leaf * page + 7] = (10).to_bytes(2, "big")
    path.write_bytes(bytes(data))
    message = refuse(tmp_path, DatabaseCorruptError)
    assert "is damaged (SQLite's check found: " in message
    assert f"Page {leaf + 1}: free space corruption" in message


def test_the_remedy_names_the_copy_made_before_the_last_migration(tmp_path: Path) -> None:
    path = stashdesk_database(tmp_path, rows=10)
    older = tmp_path / f"{store_db.DB_FILENAME}.v1-20250101-000000.bak"
    newest = tmp_path / f"{store_db.DB_FILENAME}.v1-20260101-000000.bak"
    for backup, mtime in ((older, 1_700_000_000), (newest, 1_760_000_000)):
        backup.write_bytes(path.read_bytes())
        os.utime(backup, (mtime, mtime))
    path.write_bytes(os.urandom(4096))
    message = refuse(tmp_path, DatabaseCorruptError)
    assert f"restore the copy made before the last migration ({newest})" in message
    assert str(older) not in message


def another_programs_file(path: Path, *statements: str) -> Path:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()
    return path


def test_another_programs_database_is_not_switched_to_wal(tmp_path: Path) -> None:
    path = another_programs_file(
        tmp_path / store_db.DB_FILENAME,
        "CREATE TABLE moz_places (id INTEGER PRIMARY KEY, url TEXT)",
        "INSERT INTO moz_places (url) VALUES ('https://example.org')",
    )
    message = refuse(tmp_path, ForeignDatabaseError)
    assert "another program's SQLite database (tables moz_places)" in message
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    conn.close()


def test_another_program_using_user_version_too(tmp_path: Path) -> None:
    another_programs_file(
        tmp_path / store_db.DB_FILENAME,
        "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)",
        "PRAGMA user_version = 1",
    )
    message = refuse(tmp_path, ForeignDatabaseError)
    assert "schema version 1, tables notes" in message


def test_stashdesk_tables_missing_is_damage(tmp_path: Path) -> None:
    path = stashdesk_database(tmp_path, rows=10)
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE job")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.commit()
    conn.close()
    assert "StashDesk's tables job are missing" in refuse(tmp_path, DatabaseCorruptError)


def test_a_newer_database_keeps_its_bytes_mtime_and_journal_mode(tmp_path: Path) -> None:
    path = stashdesk_database(tmp_path, rows=10)
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {store_db.SCHEMA_VERSION + 1}")
    conn.execute("PRAGMA journal_mode = DELETE")
    conn.commit()
    conn.close()
    message = refuse(tmp_path, DatabaseTooNewError)
    assert "newer StashDesk" in message and "Upgrade StashDesk" in message


def test_a_folder_in_place_of_the_file(tmp_path: Path) -> None:
    (tmp_path / store_db.DB_FILENAME).mkdir()
    with pytest.raises(DatabaseCorruptError, match="is not a file"):
        store_db.open_database(tmp_path)


def test_a_database_left_by_a_killed_engine_still_opens(tmp_path: Path) -> None:
    """-wal and -shm beside the file (a crash) are read, not mistaken for damage."""
    import subprocess
    import sys

    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from stashdesk.store import Store\n"
        "from stashdesk.store.models import Setting\n"
        "s = Store(Path(sys.argv[1]))\n"
        "s.writer.submit(lambda: Setting.create(key='k', value='survives')).result()\n"
        "os._exit(0)\n"  # no close, no checkpoint: the row lives in the -wal only
    )
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        check=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert (tmp_path / "stashdesk.db-wal").exists()
    store = Store(tmp_path)
    try:
        from stashdesk.store.models import Setting

        assert (
            store.writer.submit(lambda: Setting.get(Setting.key == "k").value).result()
            == "survives"
        )
    finally:
        store.close()


def test_an_empty_file_becomes_a_new_database(tmp_path: Path) -> None:
    (tmp_path / store_db.DB_FILENAME).touch()
    store = Store(tmp_path)
    store.close()
    assert store_db.read_schema_version(tmp_path / store_db.DB_FILENAME) == store_db.SCHEMA_VERSION


def test_an_existing_readable_database_is_tightened_to_owner_only(tmp_path: Path) -> None:
    path = stashdesk_database(tmp_path, rows=10)
    os.chmod(path, 0o644)
    store = Store(tmp_path)
    store.close()
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_large_file_is_checked_page_by_page_only_after_an_unclean_close(
    tmp_path: Path, monkeypatch
) -> None:
    """The whole-file check costs seconds on a large library: it runs when StashDesk did
    not close the file cleanly (a crash), always on small files."""
    monkeypatch.setattr(store_db, "QUICK_CHECK_ALWAYS_BELOW", 0)  # every file is "large"
    path = stashdesk_database(tmp_path)
    marker = tmp_path / store_db.CLEAN_CLOSE_MARKER
    assert marker.exists()  # closed cleanly
    store = Store(tmp_path)
    assert not marker.exists()  # open: a crash now would leave no marker
    store.close()
    assert marker.exists()
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    middle = len(data) // page // 2
    data[middle * page : (middle + 2) * page] = os.urandom(2 * page)
    path.write_bytes(bytes(data))
    marker.unlink()  # as after a crash
    assert "is damaged (SQLite" in refuse(tmp_path, DatabaseCorruptError)

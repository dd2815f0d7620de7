"""Opening the database file: pragmas, schema version and migrations.

The schema version lives in ``PRAGMA user_version``. A file written by a newer
StashDesk is refused before anything touches it (not even the journal mode,
which would rewrite the header). An older file is copied aside with SQLite's
backup API and then migrated, each step in one transaction together with the
new ``user_version``, so a failed migration leaves the old schema intact.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path

import peewee as pw

from stashdesk.store.models import ALL_MODELS, database

DB_FILENAME = "stashdesk.db"
BUSY_TIMEOUT_MS = 10_000


class DatabaseTooNewError(RuntimeError):
    """The file was written by a newer StashDesk; we must not touch it."""

    def __init__(self, path: Path, found: int, supported: int) -> None:
        super().__init__(
            f"{path} was written by a newer StashDesk (schema version {found}; this version "
            f"understands up to {supported}). Upgrade StashDesk, or start with another "
            f"--data-dir. The file was left untouched."
        )
        self.found = found
        self.supported = supported


def _migration_1(db: pw.Database) -> None:
    db.create_tables(ALL_MODELS)


def _migration_2(db: pw.Database) -> None:
    from stashdesk.store.models import DownloadJournal

    db.create_tables([DownloadJournal])  # safe: a new database got it from step 1


# Each entry migrates from version i to i + 1. Append; never edit a released step.
MIGRATIONS: list[Callable[[pw.Database], None]] = [_migration_1, _migration_2]
SCHEMA_VERSION = len(MIGRATIONS)


def read_schema_version(path: Path) -> int:
    """Read ``user_version`` without writing to the file (read-only URI)."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def _create_private_file(path: Path) -> None:
    """Create the database file readable by its owner only: it may hold secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, stat.S_IRUSR | stat.S_IWUSR)
    os.close(fd)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def _backup_before_migration(path: Path, from_version: int) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.v{from_version}-{stamp}.bak")
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    os.chmod(target, stat.S_IRUSR | stat.S_IWUSR)
    return target


def make_database(path: Path) -> pw.SqliteDatabase:
    return pw.SqliteDatabase(
        str(path),
        pragmas={
            "journal_mode": "wal",
            "busy_timeout": BUSY_TIMEOUT_MS,
            "foreign_keys": 1,
            "synchronous": "normal",
        },
        timeout=BUSY_TIMEOUT_MS / 1000,
        check_same_thread=False,
    )


def open_database(data_dir: Path) -> pw.SqliteDatabase:
    """Open (creating or migrating) ``stashdesk.db`` and bind the models to it.

    Raises DatabaseTooNewError, leaving the file untouched, for a newer schema.
    """
    path = Path(data_dir) / DB_FILENAME
    found = read_schema_version(path)
    if found > SCHEMA_VERSION:
        raise DatabaseTooNewError(path, found, SCHEMA_VERSION)
    if not path.exists():
        _create_private_file(path)
    elif found > 0 and found < SCHEMA_VERSION:
        _backup_before_migration(path, found)

    db = make_database(path)
    database.initialize(db)
    db.connect(reuse_if_open=True)
    for version in range(found, SCHEMA_VERSION):
        with db.atomic():
            MIGRATIONS[version](db)
            db.execute_sql(f"PRAGMA user_version = {version + 1}")
    return db

"""Opening the database file: checks, pragmas, schema version and migrations.

Before anything writes to the file it is inspected read-only
(:func:`inspect_database`; opened ``immutable`` when no ``-wal`` file exists, so
not even a ``-shm`` file appears): a file that is not SQLite, is truncated, fails
``PRAGMA quick_check``, belongs to another program, or was written by a newer
StashDesk raises a :class:`DatabaseRefused` and is left byte for byte as it was
(the journal mode too: switching to WAL rewrites the header). Its message is one
line with the remedy, naming the copy made before the last migration when one
exists.

An older StashDesk file is copied aside with SQLite's backup API and then
migrated, each step in one transaction together with the new ``user_version``,
so a failed migration leaves the old schema intact.
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import peewee as pw

from stashdesk.store.models import ALL_MODELS, ENGINE_MODELS, database
from stashdesk.store.typed import execute_sql

DB_FILENAME = "stashdesk.db"
# a status row that is not a daemon sleeping between passes; written literally, as in
# store/history.py, so SQLite uses the partial index built on it
STATUS_NOT_IDLE = "phase IS NOT 'sleeping'"
BUSY_TIMEOUT_MS = 10_000
SQLITE_MAGIC = b"SQLite format 3\x00"
SQLITE_HEADER_SIZE = 100


class DatabaseRefused(RuntimeError):
    """StashDesk will not use this database file; it was left untouched.

    ``str(error)`` is one line: what is wrong with the file and what to do. The
    command line and ``--headless`` exit with 2 on it, the window shows it.

    Attributes:
        path: the database file.
        remedy: the "what to do" part of the message.
    """

    def __init__(self, path: Path, problem: str, remedy: str) -> None:
        super().__init__(f"{path} {problem}. {remedy} The file was left untouched.")
        self.path = path
        self.remedy = remedy


class DatabaseTooNewError(DatabaseRefused):
    """The file was written by a newer StashDesk; we must not touch it."""

    def __init__(self, path: Path, found: int, supported: int) -> None:
        super().__init__(
            path,
            f"was written by a newer StashDesk (schema version {found}; this version "
            f"understands up to {supported})",
            "Upgrade StashDesk, or start with another --data-dir.",
        )
        self.found = found
        self.supported = supported


class DatabaseCorruptError(DatabaseRefused):
    """The file is not a readable SQLite database, or SQLite finds it damaged."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(path, problem, repair_advice(path))


class ForeignDatabaseError(DatabaseRefused):
    """A healthy SQLite file, but another program's (not StashDesk's tables)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            path,
            problem,
            "Start with another --data-dir, or move that file out of the data "
            "folder; StashDesk then starts with an empty database.",
        )


def migration_backups(path: Path) -> list[Path]:
    """The copies made before migrations (``stashdesk.db.v1-20260101-120000.bak``), newest
    first."""
    found = [p for p in path.parent.glob(f"{path.name}.v*-*.bak") if p.is_file()]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name), reverse=True)


def repair_advice(path: Path) -> str:
    """What to do with a damaged database file, naming the newest migration copy."""
    aside = (
        f"move {path.name} aside (e.g. rename it to {path.name}.broken) and StashDesk "
        f"starts with an empty database"
    )
    backups = migration_backups(path) if path.parent.is_dir() else []
    if backups:
        return (
            f"While StashDesk is stopped, restore the copy made before the last "
            f"migration ({backups[0]}) in its place, or {aside}."
        )
    return f"While StashDesk is stopped, {aside}."


def _migration_1(db: pw.Database) -> None:
    db.create_tables(ALL_MODELS)


def _migration_2(db: pw.Database) -> None:
    from stashdesk.store.models import DownloadJournal

    db.create_tables([DownloadJournal])  # safe: a new database got it from step 1


def _migration_notification_targets(db: pw.Database) -> None:
    from stashdesk.store.models import NOTIFICATION_MODELS

    db.create_tables(NOTIFICATION_MODELS)


def _migration_history_indexes(db: pw.Database) -> None:
    """Indexes the history timeline, a daemon's panels and the jobs table page through
    (see stashdesk/store/history.py and jobs.py), and drops the indexes another one
    now covers (each costs every insert: the sync writes three tag rows a scene)."""
    problem = "WHERE level IN ('WARNING', 'ERROR')"  # as written in store/history.py
    for sql in (
        'CREATE INDEX IF NOT EXISTS "daemon_job_action_daemon_at" '
        'ON "daemon_job_action" ("daemon", "at")',
        'CREATE INDEX IF NOT EXISTS "daemon_log_daemon_at" ON "daemon_log" ("daemon", "at")',
        f'CREATE INDEX IF NOT EXISTS "daemon_log_problem_at" ON "daemon_log" ("at") {problem}',
        'CREATE INDEX IF NOT EXISTS "daemon_log_daemon_problem_at" '
        f'ON "daemon_log" ("daemon", "at") {problem}',
        'CREATE INDEX IF NOT EXISTS "job_created_at_id" ON "job" ("created_at", "id")',
        'CREATE INDEX IF NOT EXISTS "job_type_created_at_id" ON "job" ("type", "created_at", "id")',
        # covered by the primary key (scene_id, ...) or by an index starting the same way
        'DROP INDEX IF EXISTS "scene_tag_scene_id"',
        'DROP INDEX IF EXISTS "scene_performer_scene_id"',
        'DROP INDEX IF EXISTS "daemon_status_daemon"',
        'DROP INDEX IF EXISTS "daemon_job_action_daemon"',
        'DROP INDEX IF EXISTS "daemon_log_daemon"',
        'DROP INDEX IF EXISTS "job_created_at"',
    ):
        execute_sql(db, sql)


def _migration_auto_vacuum(db: pw.Database) -> None:
    """``auto_vacuum = INCREMENTAL``, so retention can hand freed pages back to the
    file system (``Store.reclaim_space``). On an existing file the mode only takes
    effect through a VACUUM, which rewrites the file and cannot run in a transaction:
    the file was copied aside before any migration ran."""
    execute_sql(db, "PRAGMA auto_vacuum = INCREMENTAL")
    execute_sql(db, "VACUUM")


_migration_auto_vacuum.outside_transaction = True  # type: ignore[attr-defined]


def _add_missing_columns(db: pw.Database, table: str, columns: dict[str, str]) -> None:
    present = {c.name for c in db.get_columns(table)}
    for name, sql_type in columns.items():
        if name not in present:
            execute_sql(db, f'ALTER TABLE "{table}" ADD COLUMN "{name}" {sql_type}')


def _migration_analysis_rules(db: pw.Database) -> None:
    """Tag mapping and rules, plan notes, re-analysis requests, what produced each video
    analysis, and each scene's cover URL. Safe on a new database (step 1 created all)."""
    from stashdesk.store.models import ANALYSIS_MODELS

    db.create_tables(ANALYSIS_MODELS)
    _add_missing_columns(db, "scene", {"screenshot": "TEXT"})
    _add_missing_columns(
        db,
        "scene_analysis",
        {
            "server_url": "TEXT",
            "model_key": "TEXT",
            "models": "TEXT",
            "frame_interval": "REAL",
            "threshold": "REAL",
            "vr_video": "INTEGER",
        },
    )


def _migration_status_phase(db: pw.Database) -> None:
    """Each status row keeps its phase and wake-up time, so History can fold a night of
    "sleeping" rows into one; a partial index on the other rows finds where such a run
    began in one step. Rows from before say it only in their text: those of ``sleep``
    are marked sleeping (their wake-up time is not known)."""
    _add_missing_columns(db, "daemon_status", {"phase": "VARCHAR(255)", "wake_at": "REAL"})
    execute_sql(
        db,
        "UPDATE daemon_status SET phase = 'sleeping' WHERE phase IS NULL "
        "AND message LIKE '%, sleeping for % seconds'",
    )
    execute_sql(
        db,
        'CREATE INDEX IF NOT EXISTS "daemon_status_daemon_busy_at" ON '
        f'"daemon_status" ("daemon", "at") WHERE {STATUS_NOT_IDLE}',
    )


# Each entry migrates from version i to i + 1. Append; never edit a released step. A step
# marked ``outside_transaction`` runs on its own (VACUUM), then the version is written.
MIGRATIONS: list[Callable[[pw.Database], None]] = [
    _migration_1,
    _migration_2,
    _migration_notification_targets,
    _migration_history_indexes,
    _migration_analysis_rules,
    _migration_auto_vacuum,
    _migration_status_phase,
]
SCHEMA_VERSION = len(MIGRATIONS)


def read_schema_version(path: Path) -> int:
    """Read ``user_version`` without writing to the file (0 for a missing or empty file)."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    conn = _connect_read_only(path)
    try:
        version: int = conn.execute("PRAGMA user_version").fetchone()[0]
        return version
    finally:
        conn.close()


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot change the file. When no companion file says another
    connection may be using it (``-wal``, ``-shm``, ``-journal``) the file is opened
    ``immutable``: no locking, so not even a ``-shm`` file is created. Otherwise (a
    running engine, or one killed mid-write) the WAL must be read and locks honoured:
    plain read-only."""
    companions = ("-wal", "-shm", "-journal")
    in_use = any(path.with_name(path.name + suffix).exists() for suffix in companions)
    mode = "ro" if in_use else "ro&immutable=1"
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    return sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000)


def _table_names(models: Sequence[type[pw.Model]]) -> set[str]:
    return {model._meta.table_name for model in models}


# SQLite's page-by-page check reads the whole file (seconds for a large library): it
# runs when the file is small, or when StashDesk did not close it cleanly last time
# (the marker beside it is missing) - a crash, a full disk, a copy taken mid-write.
# Files damaged from outside are caught by the cheap checks (header, pages, schema).
QUICK_CHECK_ALWAYS_BELOW = 64 * 2**20
CLEAN_CLOSE_MARKER = "stashdesk.db.closed-cleanly"


def closed_cleanly(path: Path) -> bool:
    return (path.parent / CLEAN_CLOSE_MARKER).exists()


def mark_closed_cleanly(path: Path, clean: bool) -> None:
    marker = path.parent / CLEAN_CLOSE_MARKER
    if clean:
        marker.touch(mode=0o600)
    else:
        marker.unlink(missing_ok=True)


def inspect_database(path: Path, thorough: bool = True) -> int:
    """Check the file read-only before it is opened for writing; return its schema version.
    ``thorough``: also run SQLite's page-by-page ``quick_check``.

    0 means a new database (no file, an empty file, or an SQLite file without tables).
    Raises DatabaseCorruptError, ForeignDatabaseError or DatabaseTooNewError, each
    leaving the file (and its folder) exactly as it was.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return 0
    if not stat.S_ISREG(st.st_mode):
        raise DatabaseCorruptError(path, "is not a file")
    if st.st_size == 0:
        return 0
    with open(path, "rb") as handle:
        header = handle.read(SQLITE_HEADER_SIZE)
    if not header.startswith(SQLITE_MAGIC):
        raise DatabaseCorruptError(
            path, "is not an SQLite database (it was overwritten, or is another kind of file)"
        )
    if len(header) < SQLITE_HEADER_SIZE:
        raise DatabaseCorruptError(path, f"is truncated ({st.st_size} bytes)")
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1) or st.st_size % page_size:
        raise DatabaseCorruptError(
            path,
            f"is truncated or damaged ({st.st_size} bytes is not "
            f"a whole number of {page_size}-byte pages)",
        )
    try:
        conn = _connect_read_only(path)
        try:
            version: int = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise DatabaseTooNewError(path, version, SCHEMA_VERSION)
            problems = (
                [row[0] for row in conn.execute("PRAGMA quick_check(5)")] if thorough else ["ok"]
            )
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite!_%' ESCAPE '!'"
                )
            }
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseCorruptError(path, f"is damaged (SQLite says: {exc})") from None
    if problems != ["ok"]:
        raise DatabaseCorruptError(
            path,
            f"is damaged (SQLite's check found: "
            f"{'; '.join(' '.join(p.split()) for p in problems)})",
        )
    ours = _table_names(ALL_MODELS)
    if version == 0:
        if tables:
            raise ForeignDatabaseError(
                path,
                f"is another program's SQLite database (tables "
                f"{_listing(tables)}), not StashDesk's",
            )
        return 0
    if not tables & ours:
        raise ForeignDatabaseError(
            path,
            f"is another program's SQLite database (schema "
            f"version {version}, tables {_listing(tables)}), "
            f"not StashDesk's",
        )
    missing = _table_names(ENGINE_MODELS) - tables
    if missing:
        raise DatabaseCorruptError(
            path, f"is damaged: StashDesk's tables {_listing(missing)} are missing"
        )
    return version


def _listing(names: set[str], limit: int = 5) -> str:
    ordered = sorted(names) or ["none"]
    more = f" and {len(ordered) - limit} more" if len(ordered) > limit else ""
    return ", ".join(ordered[:limit]) + more


def _create_private_file(path: Path) -> None:
    """Create the database file readable by its owner only: it may hold secrets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, stat.S_IRUSR | stat.S_IWUSR)
    os.close(fd)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def _make_private(path: Path) -> None:
    """Tighten an existing file (and its WAL companions) to owner-only: it may hold
    secrets, and an older StashDesk or a copy may have left it readable."""
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        try:
            if stat.S_IMODE(candidate.stat().st_mode) & 0o077:
                os.chmod(candidate, stat.S_IRUSR | stat.S_IWUSR)
        except FileNotFoundError:
            continue
        except PermissionError:
            pass  # not ours to change (another owner); it still opens


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

    Raises a DatabaseRefused (too new, corrupt, another program's), leaving the file
    untouched; see :func:`inspect_database`.
    """
    path = Path(data_dir) / DB_FILENAME
    thorough = (
        not path.exists()
        or path.stat().st_size < QUICK_CHECK_ALWAYS_BELOW
        or not closed_cleanly(path)
    )
    found = inspect_database(path, thorough)
    mark_closed_cleanly(path, False)  # until this process closes it
    if not path.exists():
        _create_private_file(path)
    else:
        _make_private(path)
        if 0 < found < SCHEMA_VERSION:
            _backup_before_migration(path, found)

    db = make_database(path)
    database.initialize(db)
    db.connect(reuse_if_open=True)
    for version in range(found, SCHEMA_VERSION):
        step = MIGRATIONS[version]
        if getattr(step, "outside_transaction", False):
            step(db)  # idempotent: run again if the process dies before the version is
            execute_sql(db, f"PRAGMA user_version = {version + 1}")
            continue
        with db.atomic():
            step(db)
            execute_sql(db, f"PRAGMA user_version = {version + 1}")
    return db

"""Storage: the database file, its models, the one write path and retention.

Named queries live beside it: ``store.scenes`` (the sync), ``store.history`` (the
History page, a daemon's panels, the CLI's ``history``), ``store.jobs`` (the
Jobs page, the runner), ``store.plans`` (plans, their review and applying),
``store.analysis`` (scenes and names for the analysis, what it has seen, tag
mappings and rules), ``store.daemons``, ``store.downloads``, ``store.notifications``
and ``store.settings``. Nothing outside ``store`` imports Peewee or the models.

``Store`` bundles what the rest of the engine needs: ``write``/``read`` to run
blocking Peewee code off the event loop, and the batched ``writer`` the status
path appends to.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import peewee as pw

from stashdesk.store.db import (
    DB_FILENAME,
    SCHEMA_VERSION,
    DatabaseCorruptError,
    DatabaseRefused,
    DatabaseTooNewError,
    ForeignDatabaseError,
    mark_closed_cleanly,
    open_database,
)
from stashdesk.store.history import prune_status_history
from stashdesk.store.models import DaemonJobAction, DaemonLog, Job, database
from stashdesk.store.typed import execute_sql
from stashdesk.store.writer import StoreWriter

__all__ = [
    "DB_FILENAME",
    "SCHEMA_VERSION",
    "DatabaseCorruptError",
    "DatabaseRefused",
    "DatabaseTooNewError",
    "ForeignDatabaseError",
    "Store",
    "database",
    "prune_history",
    "reclaim_space",
]

T = TypeVar("T")

FINISHED_JOB_STATUSES = ("completed", "failed", "cancelled", "interrupted")
STATUS_ROWS_KEPT_PER_DAEMON = 100
LARGE_PRUNE_ROWS = 10_000


class Store:
    """The open database plus its writer thread and a small reader pool.

    Attributes:
        path: the database file.
        db: the Peewee database (models are bound to it).
        writer: the single writer thread (see stashdesk.store.writer).
        direct_writes: write from the calling process's own transactions instead (a CLI
            command on a data folder no engine runs on).
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DB_FILENAME
        self.db: pw.SqliteDatabase = open_database(Path(data_dir))
        self.writer = StoreWriter(self.db)
        self.direct_writes = False
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stashdesk-db-read")

    async def write(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (Peewee writes) on the writer thread, in one savepoint; with
        ``direct_writes`` (a process that is not the engine), in a transaction of its
        own that takes the write lock up front and gives up, clearly, when another
        process holds it too long (``DatabaseBusyError``)."""
        if self.direct_writes:
            return await asyncio.to_thread(self._write_directly, fn)
        return await self.writer.call(fn)

    def _write_directly(self, fn: Callable[[], T]) -> T:
        from stashdesk.store.offline import write_transaction

        with self.db.connection_context():
            return write_transaction(self.db, fn)

    async def read(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (Peewee reads) on a reader thread, never on the loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_with_connection, fn)

    def _read_with_connection(self, fn: Callable[[], T]) -> T:
        with self.db.connection_context():
            return fn()

    def close(self) -> None:
        self.writer.close()
        self._readers.shutdown(wait=True)
        if not self.db.is_closed():
            self.db.close()
        mark_closed_cleanly(self.path, True)


def reclaim_space(max_pages: int | None = None) -> int:
    """Hand free pages back to the file system (``auto_vacuum = INCREMENTAL``, set by
    a migration); returns how many were free. Cheap when there are none."""
    db = database.obj
    free: int = execute_sql(db, "PRAGMA freelist_count").fetchone()[0]
    # Python's sqlite3 steps a statement without result columns once, and each step of
    # incremental_vacuum frees one page: so one execution per page (microseconds each).
    for _ in range(free if max_pages is None else min(free, max_pages)):
        execute_sql(db, "PRAGMA incremental_vacuum(1)")
    return free


def prune_history(
    retention_days: float, now: float | None = None, batch: int | None = None
) -> dict[str, int]:
    """Delete status history, logs, job actions and finished jobs older than the limit.

    Each daemon keeps its newest ``STATUS_ROWS_KEPT_PER_DAEMON`` status rows however
    old they are, so a daemon that has been stopped for months still shows what it
    last did. Runs inside the caller's transaction (the writer thread). With ``batch``
    at most that many rows go from each table, so a large prune can be done in short
    writes that let other writes through (call again until nothing is removed).
    """
    cutoff = (now or time.time()) - retention_days * 86400

    def limited(model: Any, condition: Any) -> int:
        if batch is None:
            return int(model.delete().where(condition).execute())
        chosen = model.select(model._meta.primary_key).where(condition).limit(batch)
        return int(model.delete().where(model._meta.primary_key.in_(chosen)).execute())

    removed = {
        "status_history": prune_status_history(cutoff, STATUS_ROWS_KEPT_PER_DAEMON, batch),
        "logs": limited(DaemonLog, DaemonLog.at < cutoff),
        "job_actions": limited(DaemonJobAction, DaemonJobAction.at < cutoff),
        "jobs": limited(Job, Job.status.in_(FINISHED_JOB_STATUSES) & (Job.finished_at < cutoff)),
    }
    if batch is None and sum(removed.values()) >= LARGE_PRUNE_ROWS:
        reclaim_space()  # a large prune frees many pages: the file shrinks too
    return removed

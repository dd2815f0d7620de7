"""Storage: the database file, its models, the one write path and retention.

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
from typing import TypeVar

import peewee as pw

from stashdesk.store.db import (
    DB_FILENAME,
    SCHEMA_VERSION,
    DatabaseTooNewError,
    open_database,
)
from stashdesk.store.models import DaemonJobAction, DaemonLog, DaemonStatus, Job, database
from stashdesk.store.writer import StoreWriter

__all__ = [
    "DB_FILENAME",
    "SCHEMA_VERSION",
    "DatabaseTooNewError",
    "Store",
    "database",
    "prune_history",
]

T = TypeVar("T")

FINISHED_JOB_STATUSES = ("completed", "failed", "cancelled", "interrupted")
STATUS_ROWS_KEPT_PER_DAEMON = 100


class Store:
    """The open database plus its writer thread and a small reader pool.

    Attributes:
        path: the database file.
        db: the Peewee database (models are bound to it).
        writer: the single writer thread (see stashdesk.store.writer).
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / DB_FILENAME
        self.db: pw.SqliteDatabase = open_database(Path(data_dir))
        self.writer = StoreWriter(self.db)
        self._readers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="stashdesk-db-read")

    async def write(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` (Peewee writes) on the writer thread, in one savepoint."""
        return await self.writer.call(fn)

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


def prune_history(retention_days: float, now: float | None = None) -> dict[str, int]:
    """Delete status history, logs, job actions and finished jobs older than the limit.

    Each daemon keeps its newest ``STATUS_ROWS_KEPT_PER_DAEMON`` status rows however
    old they are, so a daemon that has been stopped for months still shows what it
    last did. Runs inside the caller's transaction (the writer thread).
    """
    cutoff = (now or time.time()) - retention_days * 86400
    removed = {
        "status_history": DaemonStatus._meta.database.execute_sql(
            "DELETE FROM daemon_status WHERE at < ? AND id NOT IN ("
            " SELECT id FROM (SELECT id, ROW_NUMBER() OVER ("
            "  PARTITION BY daemon ORDER BY at DESC, id DESC) AS newest FROM daemon_status)"
            " WHERE newest <= ?)",
            (cutoff, STATUS_ROWS_KEPT_PER_DAEMON),
        ).rowcount,
        "logs": DaemonLog.delete().where(DaemonLog.at < cutoff).execute(),
        "job_actions": DaemonJobAction.delete().where(DaemonJobAction.at < cutoff).execute(),
        "jobs": Job.delete()
        .where(Job.status.in_(FINISHED_JOB_STATUSES) & (Job.finished_at < cutoff))
        .execute(),
    }
    return removed

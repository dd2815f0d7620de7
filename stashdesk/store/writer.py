"""The one write path: a single thread that owns every write to the database.

Callers on the event loop never wait on the disk. Status updates and log lines
are *records*: appended to a queue in O(1) and written later in batches, one
transaction per batch, so a flood of updates costs one commit per batch rather
than one per call. Other writes are *operations* (callables) whose result the
caller can await; they run on the same thread, in order, each in a savepoint so
one failing operation does not undo its neighbours.

Because everything goes through one thread, writes never fight each other for
SQLite's lock inside this process, and "flush" has a simple meaning: everything
queued before the call is on disk when it returns.

With ``max_rows_per_daemon`` set, the writer also keeps each daemon's status
history and log bounded however fast it reports: every tenth of that many new
rows of a daemon, its rows beyond the newest ``max_rows_per_daemon`` are deleted
in the same transaction (retention by age, ``prune_history``, runs daily; this
is what bounds the database between two of its runs).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar

import peewee as pw

from stashdesk.store.models import Daemon, DaemonLog, DaemonStatus
from stashdesk.store.typed import cursor as db_cursor
from stashdesk.store.typed import execute_sql

_INSERT_STATUS = (
    f"INSERT INTO {DaemonStatus._meta.table_name} "
    "(daemon, message, job_id, job_type, at, phase, wake_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_LOG = (
    f"INSERT INTO {DaemonLog._meta.table_name} (daemon, level, message, at) VALUES (?, ?, ?, ?)"
)

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Stop:
    """The type of ``_STOP``, which tells the writer thread to finish."""


_STOP = _Stop()


def _is_transient(exc: Exception) -> bool:
    """Lock contention and I/O trouble pass; a bad statement does not."""
    text = str(exc).lower()
    return any(word in text for word in ("locked", "busy", "i/o", "disk"))


@dataclass(slots=True)
class StatusRecord:
    daemon: str
    message: str | None  # None clears the status (daemon stopped)
    job_id: str | None
    job_type: str | None
    phase: str | None
    wake_at: float | None
    at: float


@dataclass(slots=True)
class HeartbeatRecord:
    daemon: str
    at: float


@dataclass(slots=True)
class LogRecord:
    daemon: str
    level: str
    message: str
    at: float


@dataclass(slots=True)
class _Operation:
    fn: Callable[[], Any]
    future: Future[Any]


# what the queue carries besides _STOP, and what an operation's caller is told
_Item: TypeAlias = StatusRecord | HeartbeatRecord | LogRecord | _Operation
_Outcome: TypeAlias = tuple[Future[Any], bool, Any]  # (future, succeeded, result or error)


def trim_daemon_history(daemon: str, keep: int) -> int:
    """Delete ``daemon``'s status history and log rows beyond its newest ``keep`` of each;
    returns how many went. Runs inside the caller's transaction."""
    removed = 0
    for table in (DaemonStatus._meta.table_name, DaemonLog._meta.table_name):
        removed += DaemonStatus._meta.database.execute_sql(
            f"DELETE FROM {table} WHERE daemon = ? AND id <= ("
            f" SELECT id FROM {table} WHERE daemon = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (daemon, daemon, keep),
        ).rowcount
    return removed


class StoreWriter:
    """Owns the writer thread; see the module docstring.

    Attributes:
        batches_written: number of transactions committed (for benchmarks/tests).
        rows_written: number of status/log records written.
        max_rows_per_daemon: cap on each daemon's status history and log rows (None:
            no cap); set it before the first records arrive.
        rows_trimmed: rows deleted by that cap.
    """

    def __init__(self, db: pw.SqliteDatabase, name: str = "stashdesk-db-writer") -> None:
        self._db = db
        self._queue: queue.SimpleQueue[_Item | _Stop] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._closed = False
        self.batches_written = 0
        self.rows_written = 0
        self.max_rows_per_daemon: int | None = None
        self.rows_trimmed = 0
        self._new_rows: dict[str, int] = {}  # per daemon, since its last trim
        self._thread.start()

    # --- producers (any thread, never block) -----------------------------------

    def put(self, record: StatusRecord | HeartbeatRecord | LogRecord) -> None:
        self._queue.put(record)

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue ``fn`` to run on the writer thread; returns a concurrent Future."""
        future: Future[T] = Future()
        if self._closed:
            future.set_exception(RuntimeError("the database writer is closed"))
            return future
        self._queue.put(_Operation(fn, future))
        return future

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the writer thread and await its result from the loop."""
        return await asyncio.wrap_future(self.submit(fn))

    def flush(self, timeout: float | None = 30.0) -> None:
        """Block until everything queued before this call is committed."""
        self.submit(lambda: None).result(timeout)

    async def flush_async(self) -> None:
        await self.call(lambda: None)

    def close(self, timeout: float = 30.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # --- the writer thread ----------------------------------------------------------

    def _run(self) -> None:
        self._db.connect(reuse_if_open=True)
        try:
            while True:
                batch = [self._queue.get()]
                while True:  # drain whatever else is already waiting: one commit for all
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                stop = any(item is _STOP for item in batch)
                work = [item for item in batch if not isinstance(item, _Stop)]
                try:
                    self._write_batch(work)
                except Exception as exc:  # a bug must not kill the only writer
                    log.exception("database write batch failed")
                    for item in work:
                        if isinstance(item, _Operation) and not item.future.done():
                            item.future.set_exception(exc)
                if stop:
                    return
        finally:
            try:
                # fresh statistics for the planner where this connection's queries
                # would have used them (cheap: it analyses only what needs it)
                execute_sql(self._db, "PRAGMA optimize")
            except (pw.OperationalError, sqlite3.OperationalError):
                log.warning("PRAGMA optimize failed on close", exc_info=True)
            self._db.close()

    def _write_batch(self, batch: list[_Item]) -> None:
        if not batch:
            return
        delay = 0.05
        while True:
            outcomes: list[_Outcome] = []
            try:
                # IMMEDIATE takes the write lock up front, so waiting on another
                # process happens here (busy timeout), not half-way through the batch.
                with self._db.atomic("IMMEDIATE"):
                    self._write_records_and_operations(batch, outcomes)
                break
            except (pw.OperationalError, sqlite3.OperationalError) as exc:
                if not _is_transient(exc):
                    raise
                # Locked longer than the busy timeout, or the disk hiccupped: nothing
                # may be lost, so the whole batch is retried (it was rolled back).
                log.warning("database write failed (%s); retrying in %.1f s", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        self.batches_written += 1
        # Only now is everything durable: tell the callers.
        for future, ok, value in outcomes:
            if future.done():  # its caller gave up waiting (cancelled): the write stands
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _write_records_and_operations(self, batch: list[_Item], outcomes: list[_Outcome]) -> None:
        statuses: list[StatusRecord] = []
        logs: list[LogRecord] = []
        heartbeats: dict[str, float] = {}
        for item in batch:
            if isinstance(item, _Operation):
                # Keep order: records queued before an operation are written before it.
                self._write_records(statuses, logs, heartbeats)
                statuses, logs, heartbeats = [], [], {}
                self._run_operation(item, outcomes)
            elif isinstance(item, StatusRecord):
                statuses.append(item)
            elif isinstance(item, LogRecord):
                logs.append(item)
            else:
                heartbeats[item.daemon] = item.at
        self._write_records(statuses, logs, heartbeats)

    def _run_operation(self, op: _Operation, outcomes: list[_Outcome]) -> None:
        if op.future.done():
            return
        try:
            with self._db.atomic():  # a savepoint inside the batch transaction
                result = op.fn()
        except (pw.OperationalError, sqlite3.OperationalError) as exc:
            if _is_transient(exc):
                raise  # the batch is retried as a whole
            outcomes.append((op.future, False, exc))
        except Exception as exc:
            outcomes.append((op.future, False, exc))
        else:
            outcomes.append((op.future, True, result))

    def _write_records(
        self, statuses: list[StatusRecord], logs: list[LogRecord], heartbeats: dict[str, float]
    ) -> None:
        # Plain executemany, not Peewee's insert_many: thousands of statuses a second
        # arrive while a daemon is busy, and building Peewee queries for them held the
        # GIL long enough to slow the event loop down.
        history = [
            (s.daemon, s.message, s.job_id, s.job_type, s.at, s.phase, s.wake_at)
            for s in statuses
            if s.message is not None
        ]
        if history:
            db_cursor(self._db).executemany(_INSERT_STATUS, history)
        latest: dict[str, StatusRecord] = {}
        for s in statuses:
            latest[s.daemon] = s
        for s in latest.values():
            Daemon.update(
                current_status=s.message,
                current_job_id=s.job_id,
                current_job_type=s.job_type,
                current_phase=s.phase,
                wake_at=s.wake_at,
                status_updated_at=s.at if s.message is not None else None,
                last_heartbeat=s.at,
            ).where(Daemon.name == s.daemon).execute()
        for daemon, at in heartbeats.items():
            if daemon not in latest or latest[daemon].at < at:
                Daemon.update(last_heartbeat=at).where(Daemon.name == daemon).execute()
        if logs:
            db_cursor(self._db).executemany(
                _INSERT_LOG, [(r.daemon, r.level, r.message, r.at) for r in logs]
            )
        self.rows_written += len(history) + len(logs)
        if self.max_rows_per_daemon is not None and (history or logs):
            self._trim_if_due([row[0] for row in history] + [r.daemon for r in logs])

    def _trim_if_due(self, daemons: list[str]) -> None:
        keep = int(self.max_rows_per_daemon or 0)
        every = max(50, keep // 10)
        for daemon in daemons:
            self._new_rows[daemon] = self._new_rows.get(daemon, 0) + 1
        for daemon, count in list(self._new_rows.items()):
            if count >= every:
                self._new_rows[daemon] = 0
                self.rows_trimmed += trim_daemon_history(daemon, keep)

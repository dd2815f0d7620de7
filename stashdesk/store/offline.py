"""Writes from a process that is not the engine (the CLI with no engine running, tools).

Inside the engine every write goes through the single writer thread
(:mod:`stashdesk.store.writer`). Another process that must write the same file
uses :func:`write_transaction`: it takes SQLite's write lock *up front*
(``BEGIN IMMEDIATE``), so it either gets the lock before it has done anything
or waits for it inside SQLite's busy handler; it never fails half-way through
with "database is locked" the way a deferred transaction upgrading its lock
does. A lock held longer than one busy wait is retried with back-off until a
total deadline, then reported as :class:`DatabaseBusyError`, whose message is
one line saying what to do.

Reads need nothing of this: the file is in WAL mode, so a reader never blocks
the engine's writer and the writer never blocks a reader.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

import peewee as pw

from stashdesk.store.db import BUSY_TIMEOUT_MS
from stashdesk.store.typed import execute_sql

T = TypeVar("T")

DEFAULT_DEADLINE_SECONDS = 30.0
BUSY_WAIT_SECONDS = 2.0  # one wait inside SQLite's busy handler, between our retries
BACKOFF_INITIAL = 0.05
BACKOFF_MAX = 1.0

_BUSY_CODES = frozenset(
    {
        "SQLITE_BUSY",
        "SQLITE_BUSY_SNAPSHOT",
        "SQLITE_BUSY_RECOVERY",
        "SQLITE_BUSY_TIMEOUT",
        "SQLITE_LOCKED",
        "SQLITE_LOCKED_SHAREDCACHE",
    }
)


class DatabaseBusyError(RuntimeError):
    """Another process held the database's write lock for longer than the deadline.

    Nothing was written. ``str(error)`` is one line for the user.

    Attributes:
        path: the database file.
        waited: seconds spent waiting for the lock.
        attempts: how many times the transaction was tried.
    """

    def __init__(self, path: str, waited: float, attempts: int) -> None:
        super().__init__(
            f"the database {path} stayed locked by another process for {waited:.0f} s, so "
            f"nothing was changed - try again in a moment; if it keeps happening, make the "
            f"change through the running StashDesk or stop the program holding the file"
        )
        self.path = path
        self.waited = waited
        self.attempts = attempts


def is_lock_contention(exc: BaseException) -> bool:
    """True for SQLite's "database is locked/busy" (worth waiting for), False otherwise."""
    for candidate in (exc, exc.__cause__, exc.__context__):
        name = getattr(candidate, "sqlite_errorname", None)
        if name is not None:
            return name in _BUSY_CODES
    text = str(exc).lower()
    return "database is locked" in text or "database is busy" in text or "locked" in text


def write_transaction(
    db: pw.SqliteDatabase,
    fn: Callable[[], T],
    *,
    deadline: float = DEFAULT_DEADLINE_SECONDS,
    on_busy: Callable[[float], None] | None = None,
) -> T:
    """Run ``fn`` (Peewee writes) in one ``BEGIN IMMEDIATE`` transaction on ``db``.

    For a process that is not the engine. ``fn`` may run more than once: a try that
    met a lock is rolled back entirely before the next, so ``fn`` must only touch
    the database (no output, no other side effects). Returns what ``fn`` returns.

    Args:
        db: an open database (``stashdesk.store.db.open_database``), used from this
            thread only and not inside another transaction.
        fn: the writes.
        deadline: total seconds to wait for the write lock.
        on_busy: called with the seconds waited so far each time the lock was busy
            (a command line can say "waiting for the database...").

    Raises:
        DatabaseBusyError: the lock stayed taken for ``deadline`` seconds.
        Any exception ``fn`` raises (after a rollback).
    """
    if db.in_transaction():
        raise RuntimeError("write_transaction must not be nested in another transaction")
    started = time.monotonic()
    delay = BACKOFF_INITIAL
    attempts = 0
    try:
        while True:
            attempts += 1
            remaining = deadline - (time.monotonic() - started)
            wait_ms = max(1, int(min(max(remaining, 0.0), BUSY_WAIT_SECONDS) * 1000))
            execute_sql(db, f"PRAGMA busy_timeout = {wait_ms}")
            try:
                with db.atomic("IMMEDIATE"):
                    return fn()
            except (pw.OperationalError, sqlite3.OperationalError) as exc:
                if not is_lock_contention(exc):
                    raise
            waited = time.monotonic() - started
            if waited >= deadline:
                raise DatabaseBusyError(db.database, waited, attempts)
            if on_busy is not None:
                on_busy(waited)
            # jitter: two waiting processes do not retry in lockstep
            time.sleep(min(delay * random.uniform(0.5, 1.5), max(0.0, deadline - waited)))
            delay = min(delay * 2, BACKOFF_MAX)
    finally:
        if not db.is_closed():
            execute_sql(db, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

"""The history the window and the CLI show: timeline pages, a daemon's recent rows, retention.

Every listing is keyset-paged: a page asks for the rows *after the last one
shown* in a total order, so page 5,000 costs what page 1 costs and rows sharing
one instant are neither repeated nor skipped (an ``at <= last`` filter stalls
once more than a page of rows share a time). Each query walks an index in the
order it returns rows (``EXPLAIN QUERY PLAN`` shows no sort step; see
tests/unit/test_store_history.py):

* ``daemon_status``: ``(at)`` and ``(daemon, at)``; SQLite keeps the rowid (``id``)
  at the end of every index entry, so ``ORDER BY at DESC, id DESC`` is the
  index's own order;
* ``daemon_job_action``: ``(at)`` and ``(daemon, at)``;
* ``daemon_log``: ``(daemon, at)``, and partial indexes on ``(at)`` and
  ``(daemon, at)`` holding only WARNING and ERROR lines, so the error listing
  never walks past a flood of INFO lines. Their condition is written into the
  queries literally (a bound parameter would not let SQLite use them).

All functions are blocking: run them through ``Store.read`` (listings) or
``Store.write`` (retention). Results are plain data, JSON-able via
``dataclasses.asdict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stashdesk.store.models import database

KINDS = ("status", "job", "error")
# breaks (at, id) ties between tables: status first, as the History page always listed them
_KIND_RANK = {kind: len(KINDS) - i for i, kind in enumerate(KINDS)}
_PROBLEM = "level IN ('WARNING', 'ERROR')"  # literally as in the partial indexes


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One row of the History page.

    Attributes:
        kind: status | job | error.
        row_id: the row's id in its table.
        at: POSIX seconds.
        text: the status message, "Launched job: reason", or the log line.
        detail: the job action (LAUNCHED...) or the log level; None for a status.
        job_type: the job's type where the row names a job that still exists.
    """

    kind: str
    row_id: int
    at: float
    daemon: str
    text: str
    detail: str | None
    job_id: str | None
    job_type: str | None

    @property
    def key(self) -> tuple[str, int]:
        return self.kind, self.row_id

    @property
    def cursor(self) -> tuple[float, int, str]:
        """Where the next page starts: pass it as ``after``."""
        return self.at, self.row_id, self.kind


def _rows(sql: str, params: list[Any]) -> list[tuple]:
    return list(database.obj.execute_sql(sql, params))


def _after_clause(table_kind: str, after: tuple[float, int, str] | None,
                  params: list[Any]) -> str:
    """Rows after ``after`` in the timeline order (at, id, kind rank), newest first."""
    if after is None:
        return ""
    at, row_id, kind = after
    params.extend((at, row_id))
    # a row of a lower-ranked kind with the same (at, id) still follows the cursor
    strict = _KIND_RANK[table_kind] >= _KIND_RANK[kind]
    return f" AND (at, id) {'<' if strict else '<='} (?, ?)"


def _job_types(job_ids: set[str]) -> dict[str, str]:
    if not job_ids:
        return {}
    ids = sorted(job_ids)
    return dict(_rows(f"SELECT id, type FROM job WHERE id IN ({', '.join('?' * len(ids))})",
                      ids))


def timeline_page(daemon: str | None = None, kinds: tuple[str, ...] = KINDS,
                  after: tuple[float, int, str] | None = None,
                  limit: int = 200) -> list[TimelineEvent]:
    """The newest ``limit`` events of ``kinds`` (of one daemon, or all), newest first,
    after the event whose ``cursor`` is ``after`` (None: from the newest)."""
    events: list[TimelineEvent] = []
    where_daemon = " AND daemon = ?" if daemon else ""
    if "status" in kinds:
        params: list[Any] = [daemon] if daemon else []
        sql = ("SELECT id, at, daemon, message, job_id, job_type FROM daemon_status "
               f"WHERE 1{where_daemon}{_after_clause('status', after, params)} "
               "ORDER BY at DESC, id DESC LIMIT ?")
        events += [TimelineEvent("status", i, at, name, message, None, job_id, job_type)
                   for i, at, name, message, job_id, job_type in _rows(sql, [*params, limit])]
    if "job" in kinds:
        params = [daemon] if daemon else []
        sql = ("SELECT id, at, daemon, action, job_id, reason FROM daemon_job_action "
               f"WHERE 1{where_daemon}{_after_clause('job', after, params)} "
               "ORDER BY at DESC, id DESC LIMIT ?")
        rows = _rows(sql, [*params, limit])
        types = _job_types({row[4] for row in rows})
        events += [TimelineEvent("job", i, at, name,
                                 f"{action.capitalize()} job" + (f": {reason}" if reason else ""),
                                 action, job_id, types.get(job_id))
                   for i, at, name, action, job_id, reason in rows]
    if "error" in kinds:
        params = [daemon] if daemon else []
        sql = ("SELECT id, at, daemon, level, message FROM daemon_log "
               f"WHERE {_PROBLEM}{where_daemon}{_after_clause('error', after, params)} "
               "ORDER BY at DESC, id DESC LIMIT ?")
        events += [TimelineEvent("error", i, at, name, message, level, None, None)
                   for i, at, name, level, message in _rows(sql, [*params, limit])]
    events.sort(key=lambda e: (e.at, e.row_id, _KIND_RANK[e.kind]), reverse=True)
    return events[:limit]


# --- one daemon (its details panel) and the CLI -------------------------------------


def log_page(daemon: str | None, levels: tuple[str, ...] | None,
             after: tuple[float, int] | None, limit: int
             ) -> list[tuple[int, float, str, str, str]]:
    """Log lines (of one daemon, or all; of some levels, or all), newest first, after the
    line ``(at, id)`` of the previous page: (id, at, daemon, level, message)."""
    terms, params = ["1"], []
    if daemon:
        terms.append("daemon = ?")
        params.append(daemon)
    if levels is not None:
        if set(levels) == {"WARNING", "ERROR"}:
            terms.append(_PROBLEM)  # literally, so the partial indexes serve it
        else:
            terms.append(f"level IN ({', '.join('?' * len(levels))})")
            params.extend(levels)
    if after is not None:
        terms.append("(at, id) < (?, ?)")
        params.extend(after)
    return _rows(f"SELECT id, at, daemon, level, message FROM daemon_log "
                 f"WHERE {' AND '.join(terms)} ORDER BY at DESC, id DESC LIMIT ?",
                 [*params, limit])


def daemon_log_lines(daemon: str, limit: int) -> list[tuple[float, str, str]]:
    """A daemon's newest ``limit`` log lines, newest first: (at, level, message)."""
    return _rows("SELECT at, level, message FROM daemon_log WHERE daemon = ? "
                 "ORDER BY at DESC, id DESC LIMIT ?", [daemon, limit])


def daemon_status_rows(daemon: str, limit: int,
                       ) -> list[tuple[float, str, str | None, str | None]]:
    """A daemon's newest ``limit`` status rows, newest first:
    (at, message, job_id, job_type)."""
    return _rows("SELECT at, message, job_id, job_type FROM daemon_status WHERE daemon = ? "
                 "ORDER BY at DESC, id DESC LIMIT ?", [daemon, limit])


def daemon_job_actions(daemon: str, limit: int,
                       ) -> list[tuple[float, str, str, str | None, str | None]]:
    """A daemon's newest ``limit`` job actions, newest first:
    (at, action, job_id, job type or None, reason)."""
    rows = _rows("SELECT at, action, job_id, reason FROM daemon_job_action WHERE daemon = ? "
                 "ORDER BY at DESC, id DESC LIMIT ?", [daemon, limit])
    types = _job_types({row[2] for row in rows})
    return [(at, action, job_id, types.get(job_id), reason)
            for at, action, job_id, reason in rows]


def status_history(daemon: str | None, limit: int) -> list[dict[str, Any]]:
    """The CLI's ``history``: the newest ``limit`` status rows, *newest last*, as the
    JSON items it prints (``at`` in POSIX seconds; the CLI writes it as ISO text)."""
    where = "WHERE daemon = ? " if daemon else ""
    rows = _rows(f"SELECT at, daemon, message, job_id, job_type FROM daemon_status {where}"
                 "ORDER BY at DESC, id DESC LIMIT ?", [*([daemon] if daemon else []), limit])
    return [{"daemon": name, "message": message, "job_id": job_id, "job_type": job_type,
             "at": at} for at, name, message, job_id, job_type in reversed(rows)]


# --- retention -------------------------------------------------------------------------


def prune_status_history(cutoff: float, keep_per_daemon: int, batch: int | None = None
                         ) -> int:
    """Delete status rows older than ``cutoff``, keeping each daemon's newest
    ``keep_per_daemon`` however old. One short index walk per daemon finds where its
    kept rows end, instead of ranking every row of the table (writer thread)."""
    removed = 0
    daemons = [row[0] for row in _rows("SELECT DISTINCT daemon FROM daemon_status", [])]
    for daemon in daemons:
        boundary = _rows("SELECT at, id FROM daemon_status WHERE daemon = ? "
                         "ORDER BY at DESC, id DESC LIMIT 1 OFFSET ?",
                         [daemon, keep_per_daemon - 1])
        if not boundary:
            continue  # fewer rows than it keeps
        at, row_id = boundary[0]
        where = "daemon = ? AND at < ? AND (at, id) < (?, ?)"
        params: list[Any] = [daemon, cutoff, at, row_id]
        if batch is None:
            sql = f"DELETE FROM daemon_status WHERE {where}"
        else:  # the oldest first, at most ``batch`` of them
            sql = (f"DELETE FROM daemon_status WHERE id IN (SELECT id FROM daemon_status "
                   f"WHERE {where} ORDER BY at, id LIMIT ?)")
            params.append(batch)
        removed += database.obj.execute_sql(sql, params).rowcount
    return removed

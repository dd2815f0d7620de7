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

from dataclasses import dataclass, replace
from typing import Any

from stashdesk.store.db import STATUS_NOT_IDLE
from stashdesk.store.models import database
from stashdesk.store.typed import execute_sql
from stashdesk.timeline import KINDS, TimelineEvent

# breaks (at, id) ties between tables: status first, as the History page always listed them
_KIND_RANK = {kind: len(KINDS) - i for i, kind in enumerate(KINDS)}
_PROBLEM = "level IN ('WARNING', 'ERROR')"  # literally as in the partial indexes


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return list(execute_sql(database.obj, sql, params))


def _after_clause(table_kind: str, after: tuple[float, int, str] | None, params: list[Any]) -> str:
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
    return dict(_rows(f"SELECT id, type FROM job WHERE id IN ({', '.join('?' * len(ids))})", ids))


def timeline_page(
    daemon: str | None = None,
    kinds: tuple[str, ...] = KINDS,
    after: tuple[float, int, str] | None = None,
    limit: int = 200,
) -> list[TimelineEvent]:
    """The newest ``limit`` events of ``kinds`` (of one daemon, or all), newest first,
    after the event whose ``cursor`` is ``after`` (None: from the newest)."""
    events: list[TimelineEvent] = []
    where_daemon = " AND daemon = ?" if daemon else ""
    if "status" in kinds:
        params: list[Any] = [daemon] if daemon else []
        sql = (
            "SELECT id, at, daemon, message, job_id, job_type, phase, wake_at "
            f"FROM daemon_status WHERE 1{where_daemon}"
            f"{_after_clause('status', after, params)} ORDER BY at DESC, id DESC LIMIT ?"
        )
        events += [
            TimelineEvent(
                "status", i, at, name, message, None, job_id, job_type, phase == "sleeping", wake_at
            )
            for i, at, name, message, job_id, job_type, phase, wake_at in _rows(
                sql, [*params, limit]
            )
        ]
    if "job" in kinds:
        params = [daemon] if daemon else []
        sql = (
            "SELECT id, at, daemon, action, job_id, reason FROM daemon_job_action "
            f"WHERE 1{where_daemon}{_after_clause('job', after, params)} "
            "ORDER BY at DESC, id DESC LIMIT ?"
        )
        rows = _rows(sql, [*params, limit])
        types = _job_types({row[4] for row in rows})
        events += [
            TimelineEvent(
                "job",
                i,
                at,
                name,
                f"{action.capitalize()} job" + (f": {reason}" if reason else ""),
                action,
                job_id,
                types.get(job_id),
            )
            for i, at, name, action, job_id, reason in rows
        ]
    if "error" in kinds:
        params = [daemon] if daemon else []
        sql = (
            "SELECT id, at, daemon, level, message FROM daemon_log "
            f"WHERE {_PROBLEM}{where_daemon}{_after_clause('error', after, params)} "
            "ORDER BY at DESC, id DESC LIMIT ?"
        )
        events += [
            TimelineEvent("error", i, at, name, message, level, None, None)
            for i, at, name, level, message in _rows(sql, [*params, limit])
        ]
    events.sort(key=lambda e: (e.at, e.row_id, _KIND_RANK[e.kind]), reverse=True)
    return events[:limit]


# --- idle rows folded -------------------------------------------------------------------

FOLD_SCAN_PAGES = 20  # timeline pages one folded page reads at most (a week asleep)


@dataclass(frozen=True, slots=True)
class FoldedPage:
    """A page of the timeline with each run of idle status rows folded into its newest.

    Attributes:
        events: newest first; a folded row has ``repeated`` > 1 and ``first_at``.
        after: the cursor of the last row read, where the next page starts (None: no
            rows are left). Rows of a run already shown are skipped on later pages.
    """

    events: list[TimelineEvent]
    after: tuple[float, int, str] | None


def folded_timeline_page(
    daemon: str | None = None,
    kinds: tuple[str, ...] = KINDS,
    after: tuple[float, int, str] | None = None,
    limit: int = 200,
    scan_pages: int = FOLD_SCAN_PAGES,
) -> FoldedPage:
    """``timeline_page`` where consecutive idle status rows of one daemon (no other
    status of that daemon between them) are one event: the run's newest row, carrying
    how many rows it stands for and when the run began. Interleaved events of other
    daemons, job actions and errors stay where they are."""
    events: list[TimelineEvent] = []
    heads: list[int] = []  # positions in events of the rows that stand for a run
    in_run: dict[str, bool] = {}  # daemon -> inside an idle run already shown
    cursor = after
    size = limit + 1  # one row more than a page: a page ending on the last row says so
    for _ in range(scan_pages):
        rows = timeline_page(daemon, kinds, cursor, size)
        if not rows:
            cursor = None
        for position, row in enumerate(rows, start=1):
            cursor = row.cursor
            if position == len(rows) < size:
                cursor = None  # the last row there is: no page after this one
            if row.kind == "status":
                inside = in_run.get(row.daemon)
                if inside is None and row.idle:  # does the run start on an earlier page?
                    inside = _newer_status_is_idle(row)
                in_run[row.daemon] = row.idle
                if row.idle and inside:
                    continue
                if row.idle:
                    heads.append(len(events))
            events.append(row)
            if len(events) == limit:
                break
        if len(events) == limit or len(rows) < size:
            break
    for index in heads:
        events[index] = _fold_run(events[index])
    return FoldedPage(events, cursor)


def _newer_status_is_idle(row: TimelineEvent) -> bool:
    newer = _rows(
        "SELECT phase FROM daemon_status WHERE daemon = ? AND (at, id) > (?, ?) "
        "ORDER BY at, id LIMIT 1",
        [row.daemon, row.at, row.row_id],
    )
    return bool(newer) and newer[0][0] == "sleeping"


def _fold_run(head: TimelineEvent) -> TimelineEvent:
    """``head`` standing for its whole run: every status row of its daemon after the
    newest one that was not idle (found in one step by the partial index)."""
    boundary = _rows(
        f"SELECT at, id FROM daemon_status WHERE daemon = ? AND {STATUS_NOT_IDLE} "
        "AND (at, id) < (?, ?) ORDER BY at DESC, id DESC LIMIT 1",
        [head.daemon, head.at, head.row_id],
    )
    params: list[Any] = [head.daemon, head.at, head.row_id]
    since = ""
    if boundary:
        since = " AND (at, id) > (?, ?)"
        params.extend(boundary[0])
    count, first = _rows(
        "SELECT COUNT(*), MIN(at) FROM daemon_status WHERE daemon = ? "
        f"AND (at, id) <= (?, ?){since}",
        params,
    )[0]
    if count <= 1:
        return head
    return replace(head, repeated=count, first_at=first)


# --- one daemon (its details panel) and the CLI -------------------------------------


def daemon_status_page(
    daemon: str, after: tuple[float, int] | None, limit: int
) -> list[tuple[int, float, str, str | None, str | None, str | None, float | None]]:
    """A daemon's status rows, newest first, after the row ``(at, id)`` of the previous
    page: (id, at, message, job_id, job_type, phase, wake_at)."""
    params: list[Any] = [daemon]
    where = ""
    if after is not None:
        where = " AND (at, id) < (?, ?)"
        params.extend(after)
    return _rows(
        "SELECT id, at, message, job_id, job_type, phase, wake_at FROM daemon_status "
        f"WHERE daemon = ?{where} ORDER BY at DESC, id DESC LIMIT ?",
        [*params, limit],
    )


def daemon_job_action_page(
    daemon: str, after: tuple[float, int] | None, limit: int
) -> list[tuple[int, float, str, str, str | None, str | None]]:
    """A daemon's job actions, newest first, after the row ``(at, id)`` of the previous
    page: (id, at, action, job_id, job type or None, reason)."""
    params: list[Any] = [daemon]
    where = ""
    if after is not None:
        where = " AND (at, id) < (?, ?)"
        params.extend(after)
    rows = _rows(
        "SELECT id, at, action, job_id, reason FROM daemon_job_action "
        f"WHERE daemon = ?{where} ORDER BY at DESC, id DESC LIMIT ?",
        [*params, limit],
    )
    types = _job_types({row[3] for row in rows})
    return [
        (row_id, at, action, job_id, types.get(job_id), reason)
        for row_id, at, action, job_id, reason in rows
    ]


def log_page(
    daemon: str | None, levels: tuple[str, ...] | None, after: tuple[float, int] | None, limit: int
) -> list[tuple[int, float, str, str, str]]:
    """Log lines (of one daemon, or all; of some levels, or all), newest first, after the
    line ``(at, id)`` of the previous page: (id, at, daemon, level, message)."""
    terms: list[str] = ["1"]
    params: list[Any] = []
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
    return _rows(
        f"SELECT id, at, daemon, level, message FROM daemon_log "
        f"WHERE {' AND '.join(terms)} ORDER BY at DESC, id DESC LIMIT ?",
        [*params, limit],
    )


def daemon_log_lines(daemon: str, limit: int) -> list[tuple[float, str, str]]:
    """A daemon's newest ``limit`` log lines, newest first: (at, level, message)."""
    return _rows(
        "SELECT at, level, message FROM daemon_log WHERE daemon = ? "
        "ORDER BY at DESC, id DESC LIMIT ?",
        [daemon, limit],
    )


def daemon_status_rows(
    daemon: str,
    limit: int,
) -> list[tuple[float, str, str | None, str | None]]:
    """A daemon's newest ``limit`` status rows, newest first:
    (at, message, job_id, job_type)."""
    return _rows(
        "SELECT at, message, job_id, job_type FROM daemon_status WHERE daemon = ? "
        "ORDER BY at DESC, id DESC LIMIT ?",
        [daemon, limit],
    )


def daemon_job_actions(
    daemon: str,
    limit: int,
) -> list[tuple[float, str, str, str | None, str | None]]:
    """A daemon's newest ``limit`` job actions, newest first:
    (at, action, job_id, job type or None, reason)."""
    rows = _rows(
        "SELECT at, action, job_id, reason FROM daemon_job_action WHERE daemon = ? "
        "ORDER BY at DESC, id DESC LIMIT ?",
        [daemon, limit],
    )
    types = _job_types({row[2] for row in rows})
    return [(at, action, job_id, types.get(job_id), reason) for at, action, job_id, reason in rows]


def status_history(daemon: str | None, limit: int) -> list[dict[str, Any]]:
    """The CLI's ``history``: the newest ``limit`` status rows, *newest last*, as the
    JSON items it prints (``at`` in POSIX seconds; the CLI writes it as ISO text)."""
    where = "WHERE daemon = ? " if daemon else ""
    rows = _rows(
        f"SELECT at, daemon, message, job_id, job_type FROM daemon_status {where}"
        "ORDER BY at DESC, id DESC LIMIT ?",
        [*([daemon] if daemon else []), limit],
    )
    return [
        {"daemon": name, "message": message, "job_id": job_id, "job_type": job_type, "at": at}
        for at, name, message, job_id, job_type in reversed(rows)
    ]


# --- retention -------------------------------------------------------------------------


def prune_status_history(cutoff: float, keep_per_daemon: int, batch: int | None = None) -> int:
    """Delete status rows older than ``cutoff``, keeping each daemon's newest
    ``keep_per_daemon`` however old. One short index walk per daemon finds where its
    kept rows end, instead of ranking every row of the table (writer thread)."""
    removed = 0
    daemons = [row[0] for row in _rows("SELECT DISTINCT daemon FROM daemon_status", [])]
    for daemon in daemons:
        boundary = _rows(
            "SELECT at, id FROM daemon_status WHERE daemon = ? "
            "ORDER BY at DESC, id DESC LIMIT 1 OFFSET ?",
            [daemon, keep_per_daemon - 1],
        )
        if not boundary:
            continue  # fewer rows than it keeps
        at, row_id = boundary[0]
        where = "daemon = ? AND at < ? AND (at, id) < (?, ?)"
        params: list[Any] = [daemon, cutoff, at, row_id]
        if batch is None:
            sql = f"DELETE FROM daemon_status WHERE {where}"
        else:  # the oldest first, at most ``batch`` of them
            sql = (
                f"DELETE FROM daemon_status WHERE id IN (SELECT id FROM daemon_status "
                f"WHERE {where} ORDER BY at, id LIMIT ?)"
            )
            params.append(batch)
        removed += database.obj.execute_sql(sql, params).rowcount
    return removed

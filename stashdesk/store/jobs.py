"""Job rows: pages of the jobs table, counts, lookups by id or id prefix.

Synchronous Peewee functions: call them through ``Store.read`` (or a CLI that has
opened the database). Pages use keyset paging on the sort column and the id, so
page 500 costs what page 1 costs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import peewee as pw

from stashdesk.store.models import Job, Plan
from stashdesk.store.typed import rows_changed

# Sort keys a caller may ask for ("-" = newest/largest first), and the column behind each.
JOB_SORTS: dict[str, pw.Field] = {
    "created_at": Job.created_at,
    "started_at": Job.started_at,
    "finished_at": Job.finished_at,
    "type": Job.type,
    "status": Job.status,
    "progress": Job.progress,
}
DEFAULT_JOB_SORT = "-created_at"


@dataclass(frozen=True)
class JobQuery:
    """Which jobs: statuses (None: all), types (None: all), and the order."""

    statuses: tuple[str, ...] | None = None
    types: tuple[str, ...] | None = None
    created_by: str | None = None
    sort: str = DEFAULT_JOB_SORT

    def __post_init__(self) -> None:
        if self.sort.lstrip("-") not in JOB_SORTS:
            known = ", ".join(sorted(JOB_SORTS))
            raise ValueError(
                f"cannot sort jobs by {self.sort!r} (known: {known}; prefix - for descending)"
            )

    @property
    def descending(self) -> bool:
        return self.sort.startswith("-")

    @property
    def column(self) -> pw.Field:
        return JOB_SORTS[self.sort.lstrip("-")]

    def clause(self) -> Any:
        clause: Any = pw.SQL("1")
        if self.statuses is not None:
            clause = clause & Job.status.in_(list(self.statuses))
        if self.types is not None:
            clause = clause & Job.type.in_(list(self.types))
        if self.created_by is not None:
            clause = clause & (Job.created_by == self.created_by)
        return clause

    def matches(self, status: str, job_type: str) -> bool:
        return (self.statuses is None or status in self.statuses) and (
            self.types is None or job_type in self.types
        )


def _sort_value(query: JobQuery) -> Any:
    # NULLs (a job not started or not finished yet) sort as the smallest value, so a
    # keyset cursor can compare them like any other; the columns that cannot be NULL
    # stay bare, so their indexes (job (created_at, id), job (type, created_at, id))
    # serve the order and the cursor.
    column = query.column
    if not column.null:
        return column
    return pw.fn.COALESCE(column, "" if isinstance(column, pw.CharField) else -1.0)


def job_page(query: JobQuery, after: tuple[Any, str] | None, limit: int) -> list[Job]:
    """One page of jobs after the cursor ``(sort value, id)`` of the previous page's last
    (keyset: page 500 costs what page 1 costs)."""
    value = _sort_value(query)
    select = Job.select().where(query.clause())
    if after is not None:
        last = pw.Tuple(*after)
        select = select.where(
            pw.Tuple(value, Job.id) < last if query.descending else pw.Tuple(value, Job.id) > last
        )
    order = (value.desc(), Job.id.desc()) if query.descending else (value.asc(), Job.id.asc())
    return list(select.order_by(*order).limit(limit))


def job_cursor(query: JobQuery, job: Any) -> tuple[Any, str]:
    """The cursor that continues after ``job`` (a Job row or anything with its fields)."""
    value = getattr(job, query.column.name)
    if value is None:
        value = "" if isinstance(query.column, pw.CharField) else -1.0
    return value, job.id


def count_jobs(query: JobQuery) -> int:
    return Job.select().where(query.clause()).count()


def get_job(job_id: str) -> Job | None:
    return Job.get_or_none(Job.id == job_id)


def plan_of_job(job_id: str) -> int | None:
    """The id of the plan an ANALYSIS job built, if any."""
    row = Plan.select(Plan.id).where(Plan.job_id == job_id).first()
    return row.id if row is not None else None


def jobs_with_metadata(
    job_type: str, key: str, value: Any, limit: int = 200
) -> list[tuple[str, str]]:
    """(id, status) of the newest jobs of ``job_type`` whose metadata[key] == value."""
    rows = (
        Job.select(Job.id, Job.status, Job.metadata)
        .where(Job.type == job_type)
        .order_by(Job.created_at.desc())
        .limit(limit)
    )
    return [
        (row.id, row.status) for row in rows if str((row.metadata or {}).get(key)) == str(value)
    ]


def counts_by_status(model: Any) -> dict[str, int]:
    query = model.select(model.status, pw.fn.COUNT(model.id).alias("n")).group_by(model.status)
    return {row.status: row.n for row in query}


def active_jobs(statuses: Sequence[str]) -> list[Job]:
    return list(Job.select().where(Job.status.in_(list(statuses))).order_by(Job.created_at))


def cancel_pending(job_id: str, reason: str) -> int:
    """Mark a job nobody runs yet cancelled (a CLI when no engine runs); returns rows."""
    return rows_changed(
        Job.update(status="cancelled", error=reason, finished_at=time.time()).where(
            (Job.id == job_id) & (Job.status == "pending")
        )
    )


def jobs_created_by_since(created_by: str, since: float, types: Sequence[str]) -> list[Job]:
    """Jobs of ``types`` that ``created_by`` created since ``since``, oldest first."""
    return list(
        Job.select()
        .where(
            Job.created_by == created_by,
            Job.created_at >= since,
            Job.type.in_(list(types)),
        )
        .order_by(Job.created_at)
    )


def job_metadata(job_id: str) -> dict[str, Any]:
    """A copy of the job's metadata ({} when there is no such job)."""
    row = Job.get_or_none(Job.id == job_id)
    return dict(row.metadata or {}) if row is not None else {}


def reconcile_active_jobs(
    active_statuses: Sequence[str], known_types: set[str], resumable_types: set[str], now: float
) -> dict[str, list[str]]:
    """Jobs a previous process left active: pending ones are requeued, running ones of
    a resumable type resume, the rest become interrupted; returns the ids of each
    (writer thread)."""
    outcome: dict[str, list[str]] = {"requeued": [], "resumed": [], "interrupted": []}
    rows = Job.select().where(Job.status.in_(list(active_statuses))).order_by(Job.created_at)
    for row in rows:
        if row.status == "pending":
            outcome["requeued"].append(row.id)
        elif row.type in resumable_types and row.status == "running":
            row.status = "pending"
            row.message = "Resuming after StashDesk restarted"
            row.metadata = {**(row.metadata or {}), "resume": True}
            row.save()
            outcome["resumed"].append(row.id)
        else:
            reason = (
                "StashDesk stopped while this job was running"
                if row.type in known_types
                else f"unknown job type {row.type}"
            )
            row.status = "interrupted"
            row.error = f"Interrupted: {reason}"
            row.finished_at = now
            row.save()
            outcome["interrupted"].append(row.id)
    return outcome


def jobs_by_ids(job_ids: Sequence[str]) -> list[Job]:
    """The jobs with these ids, oldest first."""
    return list(Job.select().where(Job.id.in_(list(job_ids))).order_by(Job.created_at))


def insert_job(row: dict[str, Any]) -> None:
    """Insert a new job row (the fields of ``JobInfo.as_row``)."""
    Job.insert(**row).execute()


def update_job(job_id: str, **fields: Any) -> int:
    """Set ``fields`` of the job's row; returns how many rows changed."""
    return rows_changed(Job.update(**fields).where(Job.id == job_id))

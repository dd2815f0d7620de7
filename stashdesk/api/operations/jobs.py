"""Jobs: pages of the jobs table, one job, cancel, submit, the active ones."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from stashdesk.api.operations.common import (
    OperationsBase,
    check_limit,
    job_as_json,
)
from stashdesk.engine_client.errors import (
    BadRequest,
    Conflict,
    EngineNotRunning,
    NotFound,
)
from stashdesk.jobs.base import ACTIVE_STATUSES, FINAL_STATUSES, JOB_TYPES, JobStatus
from stashdesk.store import jobs as job_store
from stashdesk.store.lookups import JobIdError, find_job


class JobOperations(OperationsBase):
    """Operations on job (see the module docstring)."""

    @staticmethod
    def _job_query(
        status: Iterable[str] | str | None,
        job_type: Iterable[str] | str | None,
        sort: str | None,
        created_by: str | None = None,
    ) -> job_store.JobQuery:
        def as_tuple(value: Iterable[str] | str | None) -> tuple[str, ...] | None:
            if value is None or value == "":
                return None
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(item).strip() for item in items if str(item).strip()) or None

        statuses = as_tuple(status)
        unknown = sorted(set(statuses or ()) - {str(s) for s in JobStatus})
        if unknown:
            raise BadRequest(
                f"unknown job status {unknown[0]!r} (known: "
                f"{', '.join(s.value for s in JobStatus)})"
            )
        types = as_tuple(job_type)
        types = tuple(t.upper() for t in types) if types else None
        try:
            return job_store.JobQuery(
                statuses, types, created_by, sort or job_store.DEFAULT_JOB_SORT
            )
        except ValueError as exc:
            raise BadRequest(str(exc)) from None

    def _job_json(self, row: Any) -> dict[str, Any]:
        """A job as shown now. Live: an active job's in-memory state is fresher than its
        row (progress is written once a second). With no engine running, a job left
        running is shown as the next start will record it, never as running."""
        if self.live:
            snapshot = self.services.runner.snapshot(row.id)
            return job_as_json(snapshot if snapshot is not None else row)
        item = job_as_json(row)
        if row.status in (JobStatus.RUNNING, JobStatus.CANCELLING):
            spec = JOB_TYPES.get(row.type)
            if spec is not None and spec.resumable and row.status == JobStatus.RUNNING:
                item.update(
                    status=str(JobStatus.PENDING), message="Will resume when StashDesk starts again"
                )
            else:
                item.update(
                    status=str(JobStatus.INTERRUPTED),
                    error="Interrupted: StashDesk stopped while this job was running",
                )
            item["left_over"] = True
        return item

    async def list_jobs(
        self,
        *,
        status: Any = None,
        job_type: Any = None,
        limit: int = 100,
        cursor: str | None = None,
        sort: str | None = None,
        created_by: str | None = None,
        count: bool = True,
    ) -> dict[str, Any]:
        """A page of jobs: ``{"items": [...], "total": N, "next": cursor or None}``."""
        query = self._job_query(status, job_type, sort, created_by)
        limit = check_limit(limit)
        after = self._decode_job_cursor(query, cursor)

        def read() -> tuple[list[Any], int | None]:
            rows = job_store.job_page(query, after, limit)
            return rows, job_store.count_jobs(query) if count else None

        rows, total = await self.store.read(read)
        items = [self._job_json(row) for row in rows]
        next_cursor = None
        if len(rows) == limit:
            value, job_id = job_store.job_cursor(query, rows[-1])
            next_cursor = (
                f"{value!r}|{job_id}" if not isinstance(value, str) else f"s:{value}|{job_id}"
            )
        return {"items": items, "total": total, "next": next_cursor}

    @staticmethod
    def _decode_job_cursor(query: job_store.JobQuery, cursor: str | None) -> tuple[Any, str] | None:
        if not cursor:
            return None
        value, sep, job_id = str(cursor).rpartition("|")
        try:
            if not sep:
                raise ValueError
            decoded: Any = value[2:] if value.startswith("s:") else float(value)
        except ValueError:
            raise BadRequest(f"not a cursor from a previous page: {cursor!r}") from None
        return decoded, job_id

    async def get_job(self, job_id: str) -> dict[str, Any]:
        """One job by its id or a unique prefix of it, with ``plan_id`` when it built one."""
        if not isinstance(job_id, str):
            raise BadRequest("a job id is text")

        def read() -> tuple[Any, int | None]:
            row = find_job(job_id)
            return row, job_store.plan_of_job(row.id)

        try:
            row, plan_id = await self.store.read(read)
        except JobIdError as exc:
            raise (BadRequest if exc.candidates or not job_id.strip() else NotFound)(
                str(exc)
            ) from None
        return {**self._job_json(row), "plan_id": plan_id}

    async def cancel_job(self, job_id: str) -> dict[str, Any]:
        job = await self.get_job(job_id)
        if job["status"] in FINAL_STATUSES:
            return {"id": job["id"], "status": job["status"], "already_ended": True}
        if self.live:
            try:
                info = await self.services.runner.cancel(job["id"])
            except LookupError as exc:
                raise Conflict(str(exc).strip("'\"")) from None
            return {"id": info.id, "status": info.status, "already_ended": False}
        if job["status"] != JobStatus.PENDING:
            raise EngineNotRunning(
                f"job {job['id']} is {job['status']} but no engine is "
                f"running; it will be reconciled at the next start"
            )
        job_id = job["id"]
        await self.store.write(
            lambda: job_store.cancel_pending(job_id, "Cancelled by user before it started")
        )
        return {"id": job_id, "status": JobStatus.CANCELLED, "already_ended": False}

    async def submit_job(
        self, job_type: str, metadata: dict[str, Any] | None = None, created_by: str | None = None
    ) -> dict[str, Any]:
        if not isinstance(job_type, str) or job_type.upper() not in JOB_TYPES:
            known = ", ".join(sorted(JOB_TYPES))
            raise BadRequest(f"unknown job type {job_type!r} (known: {known})")
        if metadata is not None and not isinstance(metadata, dict):
            raise BadRequest("metadata must be an object")
        if created_by is not None and not isinstance(created_by, str):
            raise BadRequest("created_by must be text")
        self._need_engine(f"Starting a {job_type.upper()} job")
        try:
            info = await self.services.runner.submit(
                job_type.upper(), metadata or {}, created_by=created_by or "api"
            )
        except RuntimeError as exc:  # shutting down
            raise Conflict(str(exc)) from None
        return {**job_as_json(info), "job_id": info.id}

    async def active_jobs(self) -> list[dict[str, Any]]:
        """Jobs pending or running (in this engine when live)."""
        if self.live:
            return [job_as_json(info) for info in self.services.runner.active_jobs()]
        rows = await self.store.read(
            lambda: job_store.active_jobs([str(s) for s in ACTIVE_STATUSES])
        )
        return [item for item in map(self._job_json, rows) if item["status"] in ACTIVE_STATUSES]

"""History and logs, newest first, on keyset cursors."""

from __future__ import annotations

from typing import Any

from stashdesk.api.operations.common import (
    LOG_LEVELS,
    OperationsBase,
    check_limit,
    decode_cursor,
    encode_cursor,
    float_cursor,
)
from stashdesk.engine_client.errors import (
    BadRequest,
)
from stashdesk.store import history as history_store
from stashdesk.timeline import KINDS as TIMELINE_KINDS
from stashdesk.timestamps import iso

IDLE_MODES = ("fold", "show")


class HistoryOperations(OperationsBase):
    """Operations on history (see the module docstring)."""

    async def history(
        self,
        *,
        daemon: str | None = None,
        kinds: Any = None,
        before: Any = None,
        after: Any = None,
        limit: int = 50,
        idle: str = "fold",
    ) -> dict[str, Any]:
        """The timeline, newest first: ``{"items": [...], "next": cursor or None}``.

        ``kinds``: status, job, error (default: all). ``before``: the ``next`` of the
        previous page. ``after``: only events at or after this time (POSIX seconds).
        ``idle``: ``fold`` (consecutive idle status rows of a daemon are one item, its
        newest, with ``repeated`` and ``first_at``) or ``show`` (every row).
        """
        if daemon is not None:
            self._handle(daemon)
        if idle not in IDLE_MODES:
            raise BadRequest(f"idle must be one of {', '.join(IDLE_MODES)}, not {idle!r}")
        wanted = self._kinds(kinds, TIMELINE_KINDS)
        limit = check_limit(limit)
        cursor = decode_cursor(before, 3)
        since = float_cursor(after, "after")
        if idle == "fold":
            page = await self.store.read(
                lambda: history_store.folded_timeline_page(daemon, wanted, cursor, limit)
            )
            rows, last = page.events, page.after
        else:
            # one row more than shown says whether a next page has anything on it
            rows = await self.store.read(
                lambda: history_store.timeline_page(daemon, wanted, cursor, limit + 1)
            )
            last = rows[limit - 1].cursor if len(rows) > limit else None
            rows = rows[:limit]
        items = [r.as_json() for r in rows if since is None or r.at >= since]
        more = last is not None and len(items) == len(rows)
        return {"items": items, "next": encode_cursor(last) if more and last else None}

    async def logs(
        self,
        *,
        daemon: str | None = None,
        levels: Any = None,
        before: Any = None,
        after: Any = None,
        limit: int = 200,
    ) -> dict[str, Any]:
        """Log lines, newest first (paged and bounded in time as ``history``)."""
        if daemon is not None:
            self._handle(daemon)
        wanted = self._kinds(levels, LOG_LEVELS, upper=True) if levels else None
        limit = check_limit(limit)
        cursor = decode_cursor(before, 2)
        since = float_cursor(after, "after")
        rows = await self.store.read(lambda: history_store.log_page(daemon, wanted, cursor, limit))
        items = [
            {"id": row_id, "daemon": name, "level": level, "message": message, "at": iso(at)}
            for row_id, at, name, level, message in rows
            if since is None or at >= since
        ]
        more = len(rows) == limit and len(items) == len(rows)
        return {"items": items, "next": encode_cursor((rows[-1][1], rows[-1][0])) if more else None}

    async def daemon_statuses(
        self, name: str, before: Any = None, limit: int = 200
    ) -> dict[str, Any]:
        """Every status a daemon reported, newest first, paged as ``logs``."""
        self._handle(name)
        limit = check_limit(limit)
        cursor = decode_cursor(before, 2)
        rows = await self.store.read(lambda: history_store.daemon_status_page(name, cursor, limit))
        items = [
            {
                "id": row_id,
                "daemon": name,
                "message": message,
                "job_id": job_id,
                "job_type": job_type,
                "phase": phase,
                "wake_at": iso(wake_at),
                "at": iso(at),
            }
            for row_id, at, message, job_id, job_type, phase, wake_at in rows
        ]
        return {
            "items": items,
            "next": encode_cursor((rows[-1][1], rows[-1][0])) if len(rows) == limit else None,
        }

    async def daemon_job_actions(
        self, name: str, before: Any = None, limit: int = 200
    ) -> dict[str, Any]:
        """The jobs a daemon launched and how they ended, newest first, paged as ``logs``
        (``job_type`` None: the job is gone)."""
        self._handle(name)
        limit = check_limit(limit)
        cursor = decode_cursor(before, 2)
        rows = await self.store.read(
            lambda: history_store.daemon_job_action_page(name, cursor, limit)
        )
        items = [
            {
                "id": row_id,
                "daemon": name,
                "action": action,
                "job_id": job_id,
                "job_type": job_type,
                "reason": reason,
                "at": iso(at),
            }
            for row_id, at, action, job_id, job_type, reason in rows
        ]
        return {
            "items": items,
            "next": encode_cursor((rows[-1][1], rows[-1][0])) if len(rows) == limit else None,
        }

    @staticmethod
    def _kinds(value: Any, known: tuple[str, ...], upper: bool = False) -> tuple[str, ...]:
        if value is None or value == "":
            return known
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise BadRequest(f"expected a list of {', '.join(known)}")
        wanted = tuple(str(i).strip().upper() if upper else str(i).strip() for i in items)
        unknown = [w for w in wanted if w not in known]
        if unknown:
            raise BadRequest(f"unknown kind {unknown[0]!r} (known: {', '.join(known)})")
        return wanted

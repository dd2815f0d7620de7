"""How a job reads to people: its name ("Stash scan"), a one-line summary of its
result, the items that failed with their reasons, and the message it ends on.

A job that finishes with failed items is still ``completed`` (the rest of its work
stands), but it carries ``failures`` and ``failure_summary`` ("1 of 6 failed") so
the Jobs table, the card, the CLI and notifications can show it amber instead of
green. Each job type's result has its own shape; the readers below turn each one
into the same few fields (``describe``), in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stashdesk.jobs.base import JobStatus, JobType
from stashdesk.wording import plural

JOB_TITLES: dict[str, str] = {
    JobType.SYNC: "Stash sync",
    JobType.ANALYSIS: "Video analysis",
    JobType.APPLY_PLAN: "Plan apply",
    JobType.STASH_SCAN: "Stash scan",
    JobType.STASH_GENERATE: "Stash generate",
    JobType.STASH_IDENTIFY: "Stash identify",
    JobType.STASH_AUTO_TAG: "Stash auto tag",
    JobType.PROCESS_DOWNLOADS: "Download processing",
}
FAILED_ITEMS_KEPT = 50  # a job's details list at most this many failed items


@dataclass(frozen=True)
class ResultReading:
    """What one job type's result says: a summary, how many items it had, which failed."""

    summary: str | None = None
    total: int | None = None
    failed_items: list[dict[str, str]] = field(default_factory=list)
    failures: int | None = None  # when more failed than are listed


def job_title(job_type: str) -> str:
    """ "Stash scan" for STASH_SCAN; a readable form of any other type."""
    if job_type in JOB_TITLES:
        return JOB_TITLES[job_type]
    return job_type.replace("_", " ").capitalize()


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _sync(result: dict[str, Any]) -> ResultReading:
    created, updated = _int(result.get("created")), _int(result.get("updated"))
    total = _int(result.get("synced")) + _int(result.get("unchanged")) + _int(result.get("failed"))
    parts = [f"Checked {plural(total, 'scene')}: {created} new, {updated} changed"]
    if _int(result.get("removed")):
        parts.append(f"{plural(_int(result['removed']), 'scene')} gone from Stash")
    failed = result.get("failed_scenes") or {}
    items = [
        {"item": f"scene {scene}", "reason": str(reason)}
        for scene, reason in (failed.items() if isinstance(failed, dict) else [])
    ]
    return ResultReading("; ".join(parts), total, items, _int(result.get("failed")))


def _analysis(result: dict[str, Any]) -> ResultReading:
    analysed, changes = _int(result.get("analysed")), _int(result.get("changes"))
    summary = f"Analysed {plural(analysed, 'scene')}; {plural(changes, 'change')} proposed"
    if _int(result.get("already_done")):
        summary += f"; {_int(result['already_done'])} already done"
    failed = result.get("failed_scenes") or []
    items = [
        {"item": str(f.get("scene")), "reason": str(f.get("reason"))}
        for f in failed
        if isinstance(f, dict)
    ]
    return ResultReading(
        summary, _int(result.get("scenes")) or None, items, _int(result.get("errored"))
    )


def _apply(result: dict[str, Any]) -> ResultReading:
    applied, skipped = _int(result.get("applied")), _int(result.get("skipped"))
    summary = f"Applied {plural(applied, 'change')}"
    if skipped:
        summary += f", {skipped} skipped"
    items = [
        {"item": f"scene {e.get('scene_id')}: {e.get('field')}", "reason": str(e.get("error"))}
        for e in result.get("errors") or []
        if isinstance(e, dict)
    ]
    return ResultReading(
        summary, _int(result.get("selected")) or None, items, _int(result.get("failed"))
    )


def _downloads(result: dict[str, Any]) -> ResultReading:
    linked, copied = _int(result.get("files_linked")), _int(result.get("files_copied"))
    torrents = [t for t in result.get("torrents") or [] if isinstance(t, dict)]
    why_copied = sorted(
        {str(t["why_copied"]).split(":")[0] for t in torrents if t.get("why_copied")}
    )
    summary = (
        f"Placed {plural(linked + copied, 'file')} from "
        f"{plural(_int(result.get('torrents_processed')), 'torrent')} "
        f"({linked} hard-linked, {copied} copied"
        + (f": {', '.join(why_copied)})" if copied and why_copied else ")")
    )
    items = [
        {"item": str(f.get("name")), "reason": str(f.get("reason"))}
        for f in result.get("failures") or []
        if isinstance(f, dict)
    ]
    if len(items) == 1:
        summary += f"; 1 torrent refused: {items[0]['reason']}"
    elif items:
        summary += f"; {len(items)} torrents refused"
    return ResultReading(summary, len(torrents) or None, items, _int(result.get("failed")))


def _stash_task(verb: str) -> Callable[[dict[str, Any]], ResultReading]:
    def read(result: dict[str, Any]) -> ResultReading:
        return ResultReading(f"{verb} finished")

    return read


READERS: dict[str, Callable[[dict[str, Any]], ResultReading]] = {
    JobType.SYNC: _sync,
    JobType.ANALYSIS: _analysis,
    JobType.APPLY_PLAN: _apply,
    JobType.PROCESS_DOWNLOADS: _downloads,
    JobType.STASH_SCAN: _stash_task("Scan"),
    JobType.STASH_GENERATE: _stash_task("Generation"),
    JobType.STASH_IDENTIFY: _stash_task("Identify"),
    JobType.STASH_AUTO_TAG: _stash_task("Auto tag"),
}


def read_result(job_type: str, result: Any) -> ResultReading:
    if not isinstance(result, dict):
        return ResultReading()
    reader = READERS.get(job_type)
    if reader is None:
        summary = result.get("summary")
        return ResultReading(summary if isinstance(summary, str) else None)
    return reader(result)


def _generic_failures(result: Any) -> int:
    """A result's own ``failures``: a count, or the list of failures itself."""
    failures = result.get("failures") if isinstance(result, dict) else None
    if isinstance(failures, list):
        return len(failures)
    return _int(failures)


def describe(job_type: str, status: str, result: Any, error: str | None = None) -> dict[str, Any]:
    """The readable fields of a job row: ``title``, ``summary``, ``failures``,
    ``failure_summary`` (None without failures), ``failed_items``."""
    reading = read_result(job_type, result)
    failures = max(reading.failures or 0, len(reading.failed_items), _generic_failures(result))
    failure_summary = result.get("failure_summary") if isinstance(result, dict) else None
    if not isinstance(failure_summary, str) or not failure_summary.strip():
        failure_summary = None
    if failures and failure_summary is None:
        failure_summary = (
            f"{failures:,} of {reading.total:,} failed"
            if reading.total and reading.total >= failures
            else f"{plural(failures, 'item')} failed"
        )
    return {
        "title": job_title(job_type),
        "summary": reading.summary,
        "failures": failures,
        "failure_summary": failure_summary,
        "failed_items": reading.failed_items[:FAILED_ITEMS_KEPT],
    }


def final_message(job_type: str, status: str, result: Any, error: str | None) -> str:
    """How a job ended, never its last in-progress text: "Scan finished",
    "Stash generate cancelled: a scan started"."""
    title = job_title(job_type)
    if status == JobStatus.COMPLETED:
        described = describe(job_type, status, result, error)
        text = described["summary"] or f"{title} finished"
        if described["failure_summary"]:
            text += f" - {described['failure_summary']}"
        return text
    if status == JobStatus.CANCELLED:
        return (
            f"{title} cancelled: {error}"
            if error and error != "Cancelled"
            else f"{title} cancelled"
        )
    if status == JobStatus.FAILED:
        return f"{title} failed: {error}" if error else f"{title} failed"
    return error or f"{title} {status}"

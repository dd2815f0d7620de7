"""``stashdesk jobs list|show|cancel``, ``stashdesk history`` and ``stashdesk stats``."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any

from stashdesk.api.limits import MAX_PAGE, SQLITE_MAX_INT
from stashdesk.cli.connect import CommandContext
from stashdesk.cli.output import (
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    note,
    print_json,
    print_listing,
)

HISTORY_FIELDS = ("daemon", "message", "job_id", "job_type", "at")


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    history = sub.add_parser("history", parents=[common], help="status history, newest last")
    history.add_argument("--daemon", metavar="NAME")
    history.add_argument("--limit", type=int, default=50)
    history.add_argument("--json", action="store_true")

    jobs = sub.add_parser("jobs", parents=[common], help="list, show and cancel jobs")
    jsub = jobs.add_subparsers(dest="jobs_command", required=True)
    jlist = jsub.add_parser("list", parents=[common])
    jlist.add_argument("--json", action="store_true")
    jlist.add_argument("--status", help="only jobs in this status (several: comma-separated)")
    jlist.add_argument("--type", help="only jobs of this type (several: comma-separated)")
    jlist.add_argument(
        "--sort",
        default="-created_at",
        help="created_at, started_at, finished_at, type, status or progress; "
        "a leading - for descending (default: -created_at)",
    )
    jlist.add_argument("--limit", type=int, default=100)
    jsub.add_parser("show", parents=[common]).add_argument("id")
    jsub.add_parser("cancel", parents=[common]).add_argument("id")

    stats = sub.add_parser("stats", parents=[common], help="counts of what StashDesk holds")
    stats.add_argument("--json", action="store_true")


def check_count(limit: int) -> int:
    if not 1 <= limit <= SQLITE_MAX_INT:
        raise CommandError(
            f"--limit must be a whole number from 1 to {SQLITE_MAX_INT:,}, not {limit:,}",
            EXIT_USAGE,
        )
    return limit


async def collect(
    fetch: Callable[[int, str | None], Awaitable[dict[str, Any]]], limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` items, fetched a page at a time (the API caps a page)."""
    items: list[dict[str, Any]] = []
    seen: set[tuple[Any, Any]] = set()  # pages that continue "at or before" repeat a row
    cursor: str | None = None
    while len(items) < limit:
        page = await fetch(min(MAX_PAGE, limit - len(items) + 1), cursor)
        fresh = [i for i in page["items"] if (i.get("kind"), i["id"]) not in seen]
        seen.update((i.get("kind"), i["id"]) for i in fresh)
        items += fresh
        cursor = page.get("next")
        if not cursor or not fresh:
            break
    return items[:limit]


def _status_text(row: dict[str, Any]) -> str:
    """ "completed - 1 of 6 failed" for a job that finished with failed items."""
    summary = row.get("failure_summary")
    return f"{row['status']} - {summary}" if summary else row["status"]


async def run_jobs(ctx: CommandContext, args: argparse.Namespace) -> int:
    await ctx.open()
    sub = args.jobs_command
    if sub == "list":
        limit = check_count(args.limit)
        for option in ("status", "type"):
            if getattr(args, option) is not None and not getattr(args, option).strip():
                raise CommandError(
                    f"--{option} needs a value (leave it out for every {option})", EXIT_USAGE
                )
        rows = await collect(
            lambda size, cursor: ctx.ops.list_jobs(
                status=args.status,
                job_type=args.type,
                sort=args.sort,
                limit=size,
                cursor=cursor,
                count=False,
            ),
            limit,
        )
        print_listing(
            args.json,
            rows,
            ["ID", "TYPE", "STATUS", "PROGRESS", "CREATED", "BY", "MESSAGE"],
            (
                [
                    r["id"],
                    r["type"],
                    _status_text(r),
                    f"{r['progress']:.0f}%",
                    r["created_at"],
                    r["created_by"],
                    r["error"] or r["message"],
                ]
                for r in rows
            ),
        )
        if not ctx.engine_running and any(r.get("left_over") for r in rows):
            note(
                "StashDesk is not running: jobs it left running are shown as they will be "
                "recorded at its next start"
            )
    elif sub == "show":
        print_json(await ctx.ops.get_job(args.id))
    else:
        answer = await ctx.ops.cancel_job(args.id)
        if answer.get("already_ended"):
            print(f"job {answer['id']} has already ended ({answer['status']})")
        else:
            print(f"job {answer['id']}: {answer['status']}")
    return EXIT_OK


async def run_history(ctx: CommandContext, args: argparse.Namespace) -> int:
    await ctx.open()
    limit = check_count(args.limit)
    rows = await collect(
        lambda size, cursor: ctx.ops.history(
            daemon=args.daemon, kinds="status", idle="show", before=cursor, limit=size
        ),
        limit,
    )
    rows.reverse()  # newest last
    items = [{f: r[f] for f in HISTORY_FIELDS} for r in rows]
    print_listing(
        args.json,
        items,
        ["AT", "DAEMON", "MESSAGE", "JOB"],
        (
            [
                i["at"],
                i["daemon"],
                i["message"],
                f"{i['job_type']} {i['job_id']}" if i["job_id"] else "",
            ]
            for i in items
        ),
    )
    return EXIT_OK


async def run_stats(ctx: CommandContext, args: argparse.Namespace) -> int:
    await ctx.open()
    stats = await ctx.ops.stats()
    if args.json:
        print_json(stats)
    else:
        for key, value in stats.items():
            print(f"{key}: {json.dumps(value)}")
    return EXIT_OK

"""``stashdesk plans list|show|approve|reject|apply|cancel``: review and apply analysis plans.

With an engine running every command goes through it (its writer orders them with
the Auto Plan Applier's work). With none, reviewing works on the database, and
``apply`` runs the APPLY_PLAN job in this process, to completion, with a
short-lived engine that leaves other people's jobs alone, and reports the outcome.

JSON field names are a stable contract. Exit codes: 0 done, 1 could not be done
(e.g. the plan is already applied), 2 bad input (no such plan or change, a bad
value); nothing is changed when the exit code is not 0.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stashdesk.cli.connect import CommandContext
from stashdesk.cli.output import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_scene_option,
    print_json,
    print_listing,
    print_table,
)
from stashdesk.engine_client.errors import EngineNotRunning

# (A constant, not an import of the analysis package: the CLI is a client.)
FIELDS = ("tags", "performers", "studio", "title", "details", "markers")
PLAN_STATUSES = ("pending", "draft", "reviewing", "applied", "cancelled")


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    plans = sub.add_parser("plans", parents=[common], help="review and apply analysis plans")
    psub = plans.add_subparsers(dest="plans_command", required=True)

    plist = psub.add_parser("list", parents=[common], help="plans, newest first")
    plist.add_argument("--status", choices=PLAN_STATUSES)
    plist.add_argument("--json", action="store_true")

    show = psub.add_parser("show", parents=[common], help="a plan and its changes")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")

    for action in ("approve", "reject"):
        review = psub.add_parser(
            action,
            parents=[common],
            help=f"{action} changes: all of them, or those the options select (combined with AND)",
        )
        review.add_argument("id", type=int)
        review.add_argument("--field", choices=FIELDS, help="only changes of this field")
        review.add_argument(
            "--min-confidence",
            type=float,
            metavar="X",
            help="only changes with at least this confidence (0..1)",
        )
        review.add_argument(
            "--change",
            type=int,
            action="append",
            metavar="C",
            default=[],
            help="only this change (repeatable)",
        )
        add_scene_option(review, "only the changes of this scene (repeatable)")
        review.add_argument(
            "--tag", metavar="NAME", help="only this tag's changes (its tag and its markers)"
        )

    apply = psub.add_parser(
        "apply", parents=[common], help="apply the approved changes (launches an APPLY_PLAN job)"
    )
    apply.add_argument("id", type=int)
    apply.add_argument(
        "--auto-approve",
        action="store_true",
        help="apply pending changes too, not only approved ones",
    )
    apply.add_argument(
        "--change",
        type=int,
        action="append",
        metavar="C",
        default=[],
        help="apply exactly this change (repeatable)",
    )
    apply.add_argument("--json", action="store_true")

    psub.add_parser(
        "cancel", parents=[common], help="cancel a plan (nothing is applied)"
    ).add_argument("id", type=int)


async def run(ctx: CommandContext, args: argparse.Namespace) -> int:
    await ctx.open()
    return await _COMMANDS[args.plans_command](ctx, args)


async def cmd_list(ctx: CommandContext, args: argparse.Namespace) -> int:
    items = await ctx.ops.list_plans(args.status)
    print_listing(
        args.json,
        items,
        ["ID", "STATUS", "CHANGES", "PENDING", "APPROVED", "APPLIED", "NAME"],
        (
            [
                i["id"],
                i["status"],
                i["changes"],
                i["change_counts"]["pending"],
                i["change_counts"]["approved"],
                i["change_counts"]["applied"],
                i["name"],
            ]
            for i in items
        ),
    )
    return EXIT_OK


async def cmd_show(ctx: CommandContext, args: argparse.Namespace) -> int:
    item = await ctx.ops.get_plan(args.id)
    for key in ("offset", "apply_jobs"):
        item.pop(key, None)  # the API's paging and links; not part of this listing
    if args.json:
        print_json(item)
        return EXIT_OK
    print(f"Plan {item['id']}: {item['name']}")
    print(
        f"Status: {item['status']}    created {item['created_at']}"
        + (f"    applied {item['applied_at']}" if item["applied_at"] else "")
    )
    print("Changes: " + ", ".join(f"{n} {s}" for s, n in item["change_counts"].items() if n))
    print()
    print_table(
        ["ID", "SCENE", "FIELD", "ACTION", "VALUE", "CONF", "STATUS", "REASON"],
        [
            [
                c["id"],
                c["scene_id"],
                c["field"],
                c["action"],
                _short(c["proposed_value"]),
                f"{c['confidence']:.2f}",
                c["status"],
                c["reason"] or "",
            ]
            for c in item["change_list"]
        ],
    )
    return EXIT_OK


def _short(value: Any) -> str:
    if isinstance(value, dict) and "title" in value:
        end = value.get("end_seconds")
        span = f"{value.get('seconds', 0):g}s" + (f"-{end:g}s" if end is not None else "")
        return f"{value['title']} @ {span}"
    return "" if value is None else str(value)


async def cmd_review(ctx: CommandContext, args: argparse.Namespace) -> int:
    if args.min_confidence is not None and not 0.0 <= args.min_confidence <= 1.0:
        raise CommandError(
            f"--min-confidence must be between 0 and 1, not {args.min_confidence:g}", EXIT_USAGE
        )
    answer = await ctx.ops.review_plan(
        args.id,
        args.plans_command,
        change_ids=args.change,
        field=args.field,
        min_confidence=args.min_confidence,
        scene_ids=args.scene_ids,
        tag=args.tag,
    )
    verb = "approved" if args.plans_command == "approve" else "rejected"
    print(f"{answer['count']} change(s) {verb} in plan {args.id}")
    return EXIT_OK


async def cmd_cancel(ctx: CommandContext, args: argparse.Namespace) -> int:
    answer = await ctx.ops.cancel_plan(args.id)
    print(f"plan {answer['plan_id']} is cancelled")
    return EXIT_OK


async def cmd_apply(ctx: CommandContext, args: argparse.Namespace) -> int:
    try:
        answer = await ctx.ops.apply_plan(
            args.id, change_ids=args.change, auto_approve=args.auto_approve, created_by="cli"
        )
    except EngineNotRunning:
        # The plan passed every check (they run before the engine is needed).
        metadata: dict[str, Any] = {"plan_id": args.id, "auto_approve": args.auto_approve}
        if args.change:
            metadata["change_ids"] = list(args.change)
        await ctx.close()  # the short-lived engine opens the folder itself
        return await _apply_in_process(ctx, metadata, args.json)
    if args.json:
        print_json({"job_id": answer["job_id"], "status": "pending", "engine": "running"})
    else:
        print(answer["job_id"])
    return EXIT_OK


async def _apply_in_process(ctx: CommandContext, metadata: dict[str, Any], as_json: bool) -> int:
    """No engine runs: run the job here, to completion, with a short-lived engine."""
    from stashdesk.app import Engine, EngineAlreadyRunning
    from stashdesk.jobs.base import JobType

    engine = Engine(ctx.data_dir, mode="cli")
    try:
        services = await engine.start(auto_start=False, control=False, run_leftover_jobs=False)
    except EngineAlreadyRunning as exc:
        raise CommandError(f"{exc}; run `stashdesk plans apply` again to hand it the job") from None
    try:
        info = await services.runner.submit(JobType.APPLY_PLAN, metadata, created_by="cli")
        if not as_json:
            print(info.id, flush=True)
        final = await services.runner.wait(info.id)
    finally:
        await engine.stop()
    result = final.result if isinstance(final.result, dict) else {}
    if as_json:
        print_json(
            {
                "job_id": final.id,
                "status": final.status,
                "engine": "in-process",
                "error": final.error,
                "result": result,
            }
        )
    else:
        print(
            f"{final.status}: {result.get('applied', 0)} applied, "
            f"{result.get('skipped', 0)} skipped, {result.get('failed', 0)} failed"
            + (f" - {final.error}" if final.error else "")
            + (
                f" (plan {metadata['plan_id']} is {result['plan_status']})"
                if result.get("plan_status")
                else ""
            )
        )
        for error in result.get("errors") or []:
            print(
                f"  change {error['change_id']} (scene {error['scene_id']}, "
                f"{error['field']}): {error['error']}",
                file=sys.stderr,
            )
    return EXIT_OK if final.status == "completed" and not result.get("failed") else EXIT_FAILED


_COMMANDS = {
    "list": cmd_list,
    "show": cmd_show,
    "approve": cmd_review,
    "reject": cmd_review,
    "apply": cmd_apply,
    "cancel": cmd_cancel,
}

"""``stashdesk plans ...``: list, show, review and apply analysis plans from the shell.

Reading and reviewing work on the database directly, with or without a running
engine (the Auto Plan Applier reads approvals afresh on every pass). ``apply``
hands an APPLY_PLAN job to the running engine through its control socket; when
no engine runs, it runs the job in this process to completion (a short-lived
engine that leaves other people's jobs alone) and reports the outcome.

JSON field names are a stable contract. Exit codes: 0 done, 1 could not be done
(e.g. the plan is already applied), 2 bad input (no such plan or change, a bad
value); nothing is changed when the exit code is not 0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from stashdesk.analysis.detectors import FIELDS
from stashdesk.analysis.plans import (
    OPEN_PLAN_STATUSES,
    PLAN_STATUSES,
    ChangeSelector,
    PlanError,
    PlanStateError,
    approve_changes,
    cancel_plan,
    change_as_json,
    change_counts,
    changes_to_apply,
    finalise_orphaned_plans,
    get_plan,
    plan_as_json,
    reject_changes,
)
from stashdesk.cli import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    EXTRA_COMMANDS,
    CliContext,
    CommandError,
    iso,
    print_json,
    print_table,
)
from stashdesk.store.models import Plan, PlanChange

APPLY_JOB = "APPLY_PLAN"


def _with_iso_times(item: dict[str, Any]) -> dict[str, Any]:
    return {k: iso(v) if k.endswith("_at") else v for k, v in item.items()}


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    plans = sub.add_parser("plans", parents=[common], help="review and apply analysis plans")
    psub = plans.add_subparsers(dest="plans_command", required=True)

    plist = psub.add_parser("list", parents=[common], help="plans, newest first")
    plist.add_argument("--status", choices=PLAN_STATUSES)
    plist.add_argument("--json", action="store_true")

    show = psub.add_parser("show", parents=[common], help="a plan and its changes")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true")

    for action, verb in (("approve", "approve"), ("reject", "reject")):
        review = psub.add_parser(
            action, parents=[common],
            help=f"{verb} changes: all of them, or those the options select (combined with AND)")
        review.add_argument("id", type=int)
        review.add_argument("--field", choices=FIELDS, help="only changes of this field")
        review.add_argument("--min-confidence", type=float, metavar="X",
                            help="only changes with at least this confidence (0..1)")
        review.add_argument("--change", type=int, action="append", metavar="C", default=[],
                            help="only this change (repeatable)")

    apply = psub.add_parser("apply", parents=[common],
                            help="apply the approved changes (launches an APPLY_PLAN job)")
    apply.add_argument("id", type=int)
    apply.add_argument("--auto-approve", action="store_true",
                       help="apply pending changes too, not only approved ones")
    apply.add_argument("--change", type=int, action="append", metavar="C", default=[],
                       help="apply exactly this change (repeatable)")
    apply.add_argument("--json", action="store_true")

    psub.add_parser("cancel", parents=[common], help="cancel a plan (nothing is applied)"
                    ).add_argument("id", type=int)


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        return _COMMANDS[args.plans_command](ctx, args)
    except PlanStateError as exc:
        raise CommandError(str(exc), EXIT_FAILED) from None
    except PlanError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None


# --- reading ------------------------------------------------------------------------------


def cmd_list(ctx: CliContext, args: argparse.Namespace) -> int:
    query = Plan.select()
    if args.status:
        query = query.where(Plan.status == args.status)
    plans = list(query.order_by(Plan.id.desc()))
    counts = change_counts([p.id for p in plans])
    items = [_with_iso_times(plan_as_json(p, counts.get(p.id))) for p in plans]
    if args.json:
        print_json(items)
        return EXIT_OK
    print_table(["ID", "STATUS", "CHANGES", "PENDING", "APPROVED", "APPLIED", "NAME"], [
        [i["id"], i["status"], i["changes"], i["change_counts"]["pending"],
         i["change_counts"]["approved"], i["change_counts"]["applied"], i["name"]]
        for i in items])
    return EXIT_OK


def cmd_show(ctx: CliContext, args: argparse.Namespace) -> int:
    plan = get_plan(args.id)
    counts = change_counts([plan.id]).get(plan.id)
    changes = list(PlanChange.select().where(PlanChange.plan == plan.id).order_by(
        PlanChange.scene_id, PlanChange.id))
    item = _with_iso_times(plan_as_json(plan, counts))
    item["change_list"] = [_with_iso_times(change_as_json(c)) for c in changes]
    if args.json:
        print_json(item)
        return EXIT_OK
    print(f"Plan {plan.id}: {plan.name}")
    print(f"Status: {plan.status}    created {item['created_at']}"
          + (f"    applied {item['applied_at']}" if plan.applied_at else ""))
    print("Changes: " + ", ".join(f"{n} {s}" for s, n in item["change_counts"].items() if n))
    print()
    print_table(["ID", "SCENE", "FIELD", "ACTION", "VALUE", "CONF", "STATUS", "REASON"], [
        [c.id, c.scene_id, c.field, c.action, _short(c.proposed_value), f"{c.confidence:.2f}",
         c.status, c.reason or ""] for c in changes])
    return EXIT_OK


def _short(value: Any) -> str:
    if isinstance(value, dict) and "title" in value:
        end = value.get("end_seconds")
        span = f"{value.get('seconds', 0):g}s" + (f"-{end:g}s" if end is not None else "")
        return f"{value['title']} @ {span}"
    return "" if value is None else str(value)


# --- reviewing ------------------------------------------------------------------------------


def _selector(args: argparse.Namespace) -> ChangeSelector:
    if args.min_confidence is not None and not 0.0 <= args.min_confidence <= 1.0:
        raise CommandError(f"--min-confidence must be between 0 and 1, not "
                           f"{args.min_confidence:g}", EXIT_USAGE)
    return ChangeSelector(tuple(args.change), args.field, args.min_confidence)


def cmd_review(ctx: CliContext, args: argparse.Namespace) -> int:
    selector = _selector(args)
    operation = approve_changes if args.plans_command == "approve" else reject_changes
    with ctx.db.atomic():
        count = operation(args.id, selector)
    verb = "approved" if args.plans_command == "approve" else "rejected"
    print(f"{count} change(s) {verb} in plan {args.id}")
    return EXIT_OK


def cmd_cancel(ctx: CliContext, args: argparse.Namespace) -> int:
    plan = cancel_plan(args.id)
    print(f"plan {plan.id} is cancelled")
    return EXIT_OK


# --- applying --------------------------------------------------------------------------------


def cmd_apply(ctx: CliContext, args: argparse.Namespace) -> int:
    with ctx.db.atomic():
        finalise_orphaned_plans()  # a plan whose analysis was killed can be applied
    plan = get_plan(args.id)
    if plan.status not in OPEN_PLAN_STATUSES:
        why = ("it is still being built by its analysis job" if plan.status == "pending"
               else f"it is {plan.status}")
        raise CommandError(f"plan {plan.id} cannot be applied: {why}", EXIT_FAILED)
    if args.change:
        in_plan = {c.id for c in PlanChange.select(PlanChange.id).where(
            (PlanChange.plan == plan.id) & PlanChange.id.in_(args.change))}
        missing = sorted(set(args.change) - in_plan)
        if missing:
            raise CommandError(f"plan {plan.id} has no change with id "
                               f"{', '.join(map(str, missing))}", EXIT_USAGE)
    selected = changes_to_apply(plan.id, args.change, args.auto_approve)
    if not selected:
        hint = "" if args.auto_approve else " (approve some first, or use --auto-approve)"
        raise CommandError(f"plan {plan.id} has no changes to apply{hint}", EXIT_FAILED)
    metadata: dict[str, Any] = {"plan_id": plan.id, "auto_approve": bool(args.auto_approve)}
    if args.change:
        metadata["change_ids"] = list(args.change)

    from stashdesk.control import ControlError, NoEngineRunning, send_command

    try:
        answer = send_command(ctx.data_dir, "job.submit", job_type=APPLY_JOB,
                              metadata=metadata, created_by="cli")
    except ControlError as exc:
        raise CommandError(f"the running engine refused: {exc}") from None
    except NoEngineRunning:
        return _apply_in_process(ctx, metadata, args.json)
    if args.json:
        print_json({"job_id": answer["job_id"], "status": "pending", "engine": "running"})
    else:
        print(answer["job_id"])
    return EXIT_OK


def _apply_in_process(ctx: CliContext, metadata: dict[str, Any], as_json: bool) -> int:
    """No engine runs: run the job here, to completion, with a short-lived engine."""
    from stashdesk.app import Engine, EngineAlreadyRunning

    if not ctx.db.is_closed():
        ctx.db.close()

    async def main() -> Any:
        engine = Engine(ctx.data_dir, mode="cli")
        services = await engine.start(auto_start=False, run_leftover_jobs=False)
        try:
            info = await services.runner.submit(APPLY_JOB, metadata, created_by="cli")
            if not as_json:
                print(info.id, flush=True)
            return await services.runner.wait(info.id)
        finally:
            await engine.stop()

    try:
        final = asyncio.run(main())
    except EngineAlreadyRunning as exc:
        raise CommandError(f"{exc}; run `stashdesk plans apply` again to hand it the job"
                           ) from None
    result = final.result if isinstance(final.result, dict) else {}
    if as_json:
        print_json({"job_id": final.id, "status": final.status, "engine": "in-process",
                    "error": final.error, "result": result})
    else:
        print(f"{final.status}: {result.get('applied', 0)} applied, "
              f"{result.get('skipped', 0)} skipped, {result.get('failed', 0)} failed"
              + (f" - {final.error}" if final.error else "")
              + (f" (plan {metadata['plan_id']} is {result['plan_status']})"
                 if result.get("plan_status") else ""))
        for error in result.get("errors") or []:
            print(f"  change {error['change_id']} (scene {error['scene_id']}, "
                  f"{error['field']}): {error['error']}", file=sys.stderr)
    return EXIT_OK if final.status == "completed" and not result.get("failed") else EXIT_FAILED


_COMMANDS = {
    "list": cmd_list,
    "show": cmd_show,
    "approve": cmd_review,
    "reject": cmd_review,
    "apply": cmd_apply,
    "cancel": cmd_cancel,
}

EXTRA_COMMANDS["plans"] = (add_parser, run)

"""``stashdesk status`` and ``stashdesk daemons list|enable|disable|set|start|stop|restart``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from stashdesk.cli.connect import CommandContext
from stashdesk.cli.output import (
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    note,
    print_json,
    print_listing,
    print_table,
)
from stashdesk.options import Option, OptionError

LIST_FIELDS = ("name", "display_name", "enabled", "auto_start", "state", "config")


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    daemons = sub.add_parser("daemons", parents=[common], help="list and control daemons")
    dsub = daemons.add_subparsers(dest="daemons_command", required=True)
    dsub.add_parser("list", parents=[common]).add_argument("--json", action="store_true")
    enable = dsub.add_parser(
        "enable", parents=[common], help="enabled daemons start with the engine"
    )
    enable.add_argument("name")
    enable.add_argument(
        "--no-auto-start", action="store_true", help="enable, but do not start it with the engine"
    )
    dsub.add_parser("disable", parents=[common]).add_argument("name")
    dset = dsub.add_parser("set", parents=[common], help="change one configuration value")
    dset.add_argument("name")
    dset.add_argument("key")
    dset.add_argument("value")
    for action in ("start", "stop", "restart"):
        dsub.add_parser(
            action, parents=[common], help=f"{action} a daemon in the running engine"
        ).add_argument("name")
    dsub.add_parser(
        "run",
        parents=[common],
        help="Run now: the daemon checks at once, whatever its processing windows",
    ).add_argument("name")

    status = sub.add_parser("status", parents=[common], help="what every daemon is doing")
    status.add_argument("--json", action="store_true")


def starts_with_engine(row: dict[str, Any]) -> bool:
    """The one auto-start notion the window shows: enabled, and starting with the engine."""
    return bool(row.get("enabled") and row.get("auto_start"))


async def run_daemons(ctx: CommandContext, args: argparse.Namespace) -> int:
    await ctx.open()
    sub = args.daemons_command
    if sub == "list":
        rows = await ctx.ops.list_daemons()
        if args.json:
            print_json(
                [
                    {**{f: r[f] for f in LIST_FIELDS}, "starts_with_engine": starts_with_engine(r)}
                    for r in rows
                ]
            )
        else:
            print_table(
                ["NAME", "DISPLAY NAME", "STARTS WITH ENGINE", "STATE", "CONFIG"],
                [
                    [
                        r["name"],
                        r["display_name"],
                        "yes" if starts_with_engine(r) else "no",
                        r["state"],
                        json.dumps(r["config"]),
                    ]
                    for r in rows
                ],
            )
            _note_absence(ctx, rows)
    elif sub == "enable":
        await ctx.ops.set_daemon_enabled(args.name, True, auto_start=not args.no_auto_start)
        start = "" if args.no_auto_start else " and starts with the engine"
        print(f"{args.name} is enabled{start}")
    elif sub == "disable":
        await ctx.ops.set_daemon_enabled(args.name, False)
        print(f"{args.name} is disabled")
    elif sub == "set":
        described = await ctx.ops.daemon_config(args.name)
        options = {spec["key"]: Option.from_spec(spec) for spec in described["options"]}
        if args.key not in options:
            raise CommandError(
                f"{args.name} has no setting {args.key!r} (it has: {', '.join(options)})",
                EXIT_USAGE,
            )
        try:
            value = options[args.key].parse(args.value)
        except OptionError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None
        config = (await ctx.ops.set_daemon_config(args.name, {args.key: value}))["config"]
        print(f"{args.name}: {args.key} = {json.dumps(config[args.key])}")
    elif sub == "run":
        answer = await ctx.ops.run_daemon_now(args.name)
        print(f"{args.name}: {answer.get('message', 'checking now')}")
    else:  # start | stop | restart
        answer = await ctx.ops.daemon_action(args.name, sub)
        print(f"{args.name}: {answer.get('state', 'done')}")
    return EXIT_OK


async def run_status(ctx: CommandContext, args: argparse.Namespace) -> int:
    await ctx.open()
    rows = await ctx.ops.list_daemons()
    print_listing(
        args.json,
        rows,
        ["NAME", "STATE", "HEALTH", "STATUS", "JOB", "NEXT CHECK"],
        (
            [
                r["name"],
                r["state"],
                r.get("health", ""),
                r["current_status"] or "-",
                f"{r['current_job_type']} {r['current_job_id']}" if r["current_job_id"] else "",
                _clock(r.get("next_check_at")),
            ]
            for r in rows
        ),
    )
    if not args.json:
        for r in rows:
            if r.get("health") not in ("ok", "stopped", None) and r.get("health_reason"):
                note(f"{r['name']} is {r['health']}: {r['health_reason']}")
    _note_absence(ctx, rows)
    return EXIT_OK


def _clock(text: str | None) -> str:
    """An ISO time as the time of day (with the date when it is not today)."""
    if not text:
        return ""
    from datetime import datetime

    when = datetime.fromisoformat(text)
    today = datetime.now(when.tzinfo).date()
    return when.strftime("%H:%M:%S" if when.date() == today else "%Y-%m-%d %H:%M")


def _note_absence(ctx: CommandContext, rows: list[dict[str, Any]]) -> None:
    text = ctx.absence_note(rows)
    if text:
        note(text)

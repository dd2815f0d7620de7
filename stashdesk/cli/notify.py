"""``stashdesk notify list | add NAME URL --on EVENT[,EVENT...] | remove NAME | test [NAME]``:
notification targets (Apprise URLs: Discord, ntfy, Gotify, Telegram, e-mail, webhooks...)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stashdesk.cli.connect import CommandContext
from stashdesk.cli.output import EXIT_FAILED, EXIT_OK, print_json, print_listing


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    notify = sub.add_parser(
        "notify", parents=[common], help="where StashDesk sends notifications, and for which events"
    )
    nsub = notify.add_subparsers(dest="notify_command", required=True)
    nlist = nsub.add_parser("list", parents=[common], help="targets (URLs masked)")
    nlist.add_argument("--json", action="store_true")
    nsub.add_parser(
        "events", parents=[common], help="the events a target can ask for"
    ).add_argument("--json", action="store_true")
    add = nsub.add_parser(
        "add",
        parents=[common],
        help="add a target: an Apprise URL such as ntfy://topic or "
        "discord://id/token (- reads it from standard input)",
    )
    add.add_argument("name")
    add.add_argument("url")
    add.add_argument(
        "--on", required=True, metavar="EVENT[,EVENT...]", help="the events it wants (or all)"
    )
    nsub.add_parser("remove", parents=[common]).add_argument("name")
    test = nsub.add_parser("test", parents=[common], help="send a test message")
    test.add_argument("name", nargs="?")
    test.add_argument("--json", action="store_true")


async def run(ctx: CommandContext, args: argparse.Namespace) -> int:
    await ctx.open()
    sub = args.notify_command
    if sub == "list":
        targets = await ctx.ops.list_notification_targets()
        print_listing(
            args.json,
            targets,
            ["NAME", "URL", "EVENTS", "LAST DELIVERY"],
            ([t["name"], t["url"], ",".join(t["events"]), t["last_delivery"]] for t in targets),
        )
    elif sub == "events":
        events = await ctx.ops.notification_events()
        print_listing(
            args.json,
            events,
            ["EVENT", "WHEN"],
            ([e["name"], e.get("description", "")] for e in events),
        )
    elif sub == "add":
        url = sys.stdin.readline().strip() if args.url == "-" else args.url
        target = await ctx.ops.add_notification_target(args.name, url, args.on)
        print(f"{target['name']}: {target['url']} on {','.join(target['events'])}")
    elif sub == "remove":
        await ctx.ops.remove_notification_target(args.name)
        print(f"{args.name} removed")
    else:
        outcomes = await ctx.ops.test_notification_targets(args.name)
        if args.json:
            print_json(outcomes)
        else:
            for outcome in outcomes:
                print(
                    f"{outcome['name']}: "
                    + ("delivered" if outcome["ok"] else f"failed - {outcome['error']}")
                )
        return EXIT_OK if all(o["ok"] for o in outcomes) else EXIT_FAILED
    return EXIT_OK

"""``stashdesk health [--json]``: the health checks, each with its remedy (exit 1 when any
check fails)."""

from __future__ import annotations

import argparse
from typing import Any

from stashdesk.cli.connect import CommandContext
from stashdesk.cli.output import EXIT_FAILED, EXIT_OK, print_listing

MARKS = {True: "ok", False: "FAIL", None: "-"}


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    health = sub.add_parser(
        "health",
        parents=[common],
        help="check Stash, qBittorrent, the folders... and say what to fix",
    )
    health.add_argument("--json", action="store_true")


async def run(ctx: CommandContext, args: argparse.Namespace) -> int:
    await ctx.open()
    rows = (await ctx.ops.health(refresh=True))["checks"]
    print_listing(
        args.json,
        rows,
        ["CHECK", "OK", "MESSAGE", "REMEDY"],
        ([r["check"], MARKS[r["ok"]], r["message"], r["remedy"] or ""] for r in rows),
    )
    return EXIT_FAILED if any(r["ok"] is False for r in rows) else EXIT_OK

"""``stashdesk config list | get KEY | set KEY [VALUE|-] | unset KEY``."""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from stashdesk.cli.connect import CommandContext
from stashdesk.cli.output import (
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    print_listing,
)

LIST_FIELDS = ("key", "value", "default", "type", "secret", "group", "description")


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    config = sub.add_parser("config", parents=[common], help="show or change settings")
    csub = config.add_subparsers(dest="config_command", required=True)
    clist = csub.add_parser("list", parents=[common], help="every setting (secrets masked)")
    clist.add_argument("--json", action="store_true")
    csub.add_parser("get", parents=[common]).add_argument("key")
    cset = csub.add_parser(
        "set",
        parents=[common],
        help="VALUE is parsed by the key's type; for a secret give - to read it from "
        "standard input, or leave it out to be asked for it",
    )
    cset.add_argument("key")
    cset.add_argument("value", nargs="?")
    csub.add_parser("unset", parents=[common]).add_argument("key")


async def run(ctx: CommandContext, args: argparse.Namespace) -> int:
    await ctx.open()
    sub = args.config_command
    if sub == "list":
        items = (await ctx.ops.list_settings())["items"]
        print_listing(
            args.json,
            [{**{f: item[f] for f in LIST_FIELDS}, **item} for item in items],
            ["KEY", "VALUE", "DESCRIPTION"],
            ([i["key"], i["display"], i["description"]] for i in items),
        )
    elif sub == "get":
        print((await ctx.ops.get_setting(args.key))["display"])
    elif sub == "set":
        setting = await ctx.ops.get_setting(args.key)  # unknown keys fail here, exit 2
        value = _value(args.key, args.value, secret=setting["secret"])
        saved = await ctx.ops.set_settings({args.key: value})
        print(f"{args.key} = {saved['saved'][args.key]}")
    else:
        answer = await ctx.ops.unset_setting(args.key)
        print(f"{args.key} reset to its default ({answer['value']})")
    return EXIT_OK


def _value(key: str, given: str | None, *, secret: bool) -> str:
    """The value as typed; ``-`` reads standard input; a secret left out is asked for.

    Secrets on the command line can be read by other local users in the process list
    while the command runs: standard input and the prompt keep them out of it.
    """
    if given == "-":
        text = sys.stdin.read()
        return text[:-1] if text.endswith("\n") else text
    if given is not None:
        return given
    if not secret:
        raise CommandError(f"config set {key} needs a value", EXIT_USAGE)
    if sys.stdin.isatty():
        return getpass.getpass(f"{key}: ")
    return sys.stdin.readline().rstrip("\n")

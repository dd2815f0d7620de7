"""``stashdesk analysis map ... | rules ... | run --scene ID | servers``: AI tagging.

analysis map list [--json]              AI tag -> Stash tag (or ignored)
analysis map set AI_TAG STASH_TAG       propose STASH_TAG for AI_TAG
analysis map ignore AI_TAG              never propose AI_TAG
analysis map remove AI_TAG              forget AI_TAG's mapping
analysis map import FILE.csv [--replace]
analysis map export FILE.csv            (ai_tag,stash_tag,ignore; - for stdout)
analysis rules list [--json]            per-tag rules and the default rule
analysis rules set [AI_TAG] FIELD=VALUE...   (no AI_TAG: the default rule)
analysis rules reset [AI_TAG]
analysis run --scene ID [--scene ID...] analyse scenes again
analysis servers [--json]               the video-tag servers and what they do
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from stashdesk.cli.connect import CommandContext
from stashdesk.cli.output import (
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    add_scene_option,
    print_json,
    print_listing,
    print_table,
)
from stashdesk.options import Option, OptionError


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    analysis = sub.add_parser(
        "analysis", parents=[common], help="AI tagging: tag mapping, per-tag rules, analysing again"
    )
    asub = analysis.add_subparsers(dest="analysis_command", required=True)

    mapping = asub.add_parser("map", parents=[common], help="AI tag -> Stash tag mapping")
    msub = mapping.add_subparsers(dest="map_command", required=True)
    msub.add_parser("list", parents=[common]).add_argument("--json", action="store_true")
    mset = msub.add_parser("set", parents=[common], help="propose STASH_TAG for AI_TAG")
    mset.add_argument("ai_tag")
    mset.add_argument("stash_tag")
    msub.add_parser("ignore", parents=[common], help="never propose AI_TAG").add_argument("ai_tag")
    msub.add_parser("remove", parents=[common], help="forget AI_TAG's mapping").add_argument(
        "ai_tag"
    )
    mimport = msub.add_parser(
        "import",
        parents=[common],
        help="read a CSV (ai_tag,stash_tag,ignore; also the AI "
        "Tagger's and the AI Overhaul's files)",
    )
    mimport.add_argument("file")
    mimport.add_argument(
        "--replace", action="store_true", help="keep only the mappings of the file"
    )
    msub.add_parser(
        "export", parents=[common], help="write the mapping as CSV (- : stdout)"
    ).add_argument("file")

    rules = asub.add_parser("rules", parents=[common], help="per-tag rules")
    rsub = rules.add_subparsers(dest="rules_command", required=True)
    rsub.add_parser("list", parents=[common]).add_argument("--json", action="store_true")
    rset = rsub.add_parser(
        "set", parents=[common], help="change rule fields (FIELD=VALUE; VALUE unset: fall back)"
    )
    rset.add_argument("items", nargs="+", metavar="[AI_TAG] FIELD=VALUE")
    rsub.add_parser(
        "reset", parents=[common], help="forget a tag's rule (none: the default)"
    ).add_argument("ai_tag", nargs="?")

    run_again = asub.add_parser("run", parents=[common], help="analyse scenes again")
    add_scene_option(run_again, "a Stash scene id (repeatable)", required=True)
    run_again.add_argument("--json", action="store_true")
    asub.add_parser("servers", parents=[common], help="the video-tag servers").add_argument(
        "--json", action="store_true"
    )


async def run(ctx: CommandContext, args: argparse.Namespace) -> int:
    await ctx.open()
    command = args.analysis_command
    if command == "map":
        return await _map(ctx, args)
    if command == "rules":
        return await _rules(ctx, args)
    if command == "run":
        answer = await ctx.ops.analyse_again(args.scene_ids, requested_by="cli")
        if args.json:
            print_json(answer)
        else:
            taken = (
                "the Auto Video Analysis takes them"
                if answer["daemon"]
                else f"ANALYSIS job {answer['job_id']}"
                if answer["job_id"]
                else "recorded: the Auto Video Analysis takes them when it runs"
                if answer["requested"]
                else "nothing to do"
            )
            print(f"{len(answer['requested'])} scene(s) to analyse again: {taken}")
            if answer.get("unknown"):
                print(
                    f"not in StashDesk's copy of Stash (sync first): "
                    f"{', '.join(answer['unknown'])}",
                    file=sys.stderr,
                )
        return EXIT_OK
    servers = await ctx.ops.video_servers()
    print_listing(
        args.json,
        servers,
        ["SERVER", "SLOTS", "IN USE", "STATE"],
        (
            [s.get("url"), s.get("concurrency"), s.get("in_use"), s.get("state", "")]
            for s in servers["servers"]
        ),
    )
    return EXIT_OK


async def _map(ctx: CommandContext, args: argparse.Namespace) -> int:
    sub = args.map_command
    if sub == "list":
        rows = await ctx.ops.list_tag_mappings()
        print_listing(
            args.json,
            rows,
            ["AI TAG", "STASH TAG"],
            ([r["ai_tag"], "(ignored)" if r["ignore"] else r["stash_tag"]] for r in rows),
        )
    elif sub == "set":
        row = await ctx.ops.set_tag_mapping(args.ai_tag, args.stash_tag)
        print(f"{row['ai_tag']} -> {row['stash_tag']}")
    elif sub == "ignore":
        row = await ctx.ops.ignore_ai_tag(args.ai_tag)
        print(f"{row['ai_tag']} is ignored")
    elif sub == "remove":
        await ctx.ops.remove_tag_mapping(args.ai_tag)
        print(f"{args.ai_tag}: mapping removed")
    elif sub == "import":
        try:
            text = await asyncio.to_thread(Path(args.file).read_text, encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {args.file}: {exc}", EXIT_USAGE) from None
        counts = await ctx.ops.import_tag_mappings(text, replace=args.replace)
        print(", ".join(f"{n} {what}" for what, n in counts.items()))
    else:
        text = (await ctx.ops.export_tag_mappings())["csv"]
        if args.file == "-":
            sys.stdout.write(text)
        else:
            try:
                await asyncio.to_thread(Path(args.file).write_text, text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"cannot write {args.file}: {exc}", EXIT_USAGE) from None
            print(f"{text.count(chr(10)) - 1} mapping(s) written to {args.file}")
    return EXIT_OK


async def _rules(ctx: CommandContext, args: argparse.Namespace) -> int:
    sub = args.rules_command
    if sub == "list":
        rules = await ctx.ops.list_tag_rules()
        if args.json:
            print_json(rules)
            return EXIT_OK
        names = [f["name"] for f in rules["fields"]]
        print_table(
            ["AI TAG", *[f.upper() for f in names]],
            [
                [
                    r["ai_tag"] or "(default)",
                    *["" if r["rule"].get(f) is None else r["rule"][f] for f in names],
                ]
                for r in [rules["default"], *rules["tags"]]
            ],
        )
        return EXIT_OK
    if sub == "reset":
        answer = await ctx.ops.remove_tag_rule(args.ai_tag)
        print(
            f"{args.ai_tag or 'the default rule'}: "
            + ("reset" if answer["removed"] else "had no rule of its own")
        )
        return EXIT_OK
    items = list(args.items)
    ai_tag = items.pop(0) if "=" not in items[0] else None
    specs = {
        f["name"]: Option.from_spec(
            {
                "key": f["name"],
                "type": f["type"],
                "default": None,
                "description": f.get("description", ""),
            }
        )
        for f in (await ctx.ops.list_tag_rules())["fields"]
    }
    fields: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or name not in specs:
            raise CommandError(
                f"expected FIELD=VALUE with FIELD one of {', '.join(specs)}, not {item!r}",
                EXIT_USAGE,
            )
        try:
            fields[name] = None if text in ("", "unset") else specs[name].parse(text)
        except OptionError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None
    rule = await ctx.ops.set_tag_rule(ai_tag, fields)
    shown = ", ".join(f"{k}={v}" for k, v in rule["rule"].items() if v is not None)
    print(f"{ai_tag or 'the default rule'}: {shown or 'falls back on everything'}")
    return EXIT_OK

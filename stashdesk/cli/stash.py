"""``stashdesk stash sync|scan|generate``: start a Stash job in the running engine.

    stashdesk stash sync [--full]          SYNC (``--full``: full resync, marks removed scenes)
    stashdesk stash scan [PATH ...]        STASH_SCAN (default: downloads.stash_path)
    stashdesk stash generate [--scene ID]  STASH_GENERATE (default: every scene)
    stashdesk stash identify (--scene ID | PATH ...) [--source NAME]
                                           STASH_IDENTIFY (sources: stash-box endpoints by
                                           name or address, or builtin_autotag)
    stashdesk stash auto-tag PATH ...      STASH_AUTO_TAG

Each prints the new job's id (``--json``: ``{"job_id": ..., "job_type": ...}``);
follow it with ``stashdesk jobs show ID``.
"""

from __future__ import annotations

import argparse
from typing import Any

from stashdesk.cli.connect import CommandContext
from stashdesk.cli.output import EXIT_OK, EXIT_USAGE, CommandError, add_scene_option, print_json


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    stash = sub.add_parser(
        "stash", parents=[common], help="start a sync, scan or generation in the running engine"
    )
    ssub = stash.add_subparsers(dest="stash_command", required=True)
    sync = ssub.add_parser("sync", parents=[common], help="sync scenes from Stash")
    sync.add_argument(
        "--full",
        action="store_true",
        help="read every scene and mark the ones Stash no longer has as removed",
    )
    scan = ssub.add_parser("scan", parents=[common], help="run a metadata scan in Stash")
    scan.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="folders as Stash sees them (default: downloads.stash_path)",
    )
    generate = ssub.add_parser(
        "generate", parents=[common], help="generate covers, sprites, previews and phashes in Stash"
    )
    add_scene_option(generate, "only this scene (repeatable; default: every scene)")
    identify = ssub.add_parser(
        "identify", parents=[common], help="run Stash's Identify on some scenes (by id or path)"
    )
    identify.add_argument(
        "paths", nargs="*", metavar="PATH", help="files or folders as Stash sees them"
    )
    add_scene_option(identify, "this scene (repeatable)")
    identify.add_argument(
        "--source",
        action="append",
        dest="sources",
        metavar="NAME",
        help="a stash-box (name or address) or builtin_autotag, in order "
        "(default: the sources saved in Stash's Identify task)",
    )
    auto_tag = ssub.add_parser(
        "auto-tag", parents=[common], help="run Stash's Auto Tag on some folders or files"
    )
    auto_tag.add_argument(
        "paths", nargs="+", metavar="PATH", help="files or folders as Stash sees them"
    )
    for parser in (sync, scan, generate, identify, auto_tag):
        parser.add_argument("--json", action="store_true")


def _checked(values: list[str] | None, what: str) -> list[str] | None:
    for value in values or ():
        if not value.strip() or not value.isprintable():
            raise CommandError(
                f"{what} must be given and without control characters, not {value!r}", EXIT_USAGE
            )
    return values


async def run(ctx: CommandContext, args: argparse.Namespace) -> int:
    metadata: dict[str, Any] = {}
    _checked(getattr(args, "paths", None), "a path")
    _checked(getattr(args, "scene_ids", None), "a scene id")
    if args.stash_command == "sync":
        job_type = "SYNC"
        if args.full:
            metadata["full_resync"] = True
    elif args.stash_command == "scan":
        job_type = "STASH_SCAN"
        if args.paths:
            metadata["paths"] = args.paths
    elif args.stash_command == "generate":
        job_type = "STASH_GENERATE"
        if args.scene_ids:
            metadata["scene_ids"] = args.scene_ids
    elif args.stash_command == "identify":
        job_type = "STASH_IDENTIFY"
        if not (args.paths or args.scene_ids):
            raise CommandError(
                "say which scenes: --scene ID or paths (identifying the whole "
                "library is Stash's own task)",
                EXIT_USAGE,
            )
        metadata.update(
            {
                k: v
                for k, v in (
                    ("paths", args.paths),
                    ("scene_ids", args.scene_ids),
                    ("sources", _checked(args.sources, "a source")),
                )
                if v
            }
        )
    else:
        job_type = "STASH_AUTO_TAG"
        metadata["paths"] = args.paths
    await ctx.open()
    answer = await ctx.ops.submit_job(job_type, metadata, created_by="cli")
    if args.json:
        print_json({"job_id": answer["job_id"], "job_type": job_type})
    else:
        print(f"Started {job_type} job {answer['job_id']}")
    return EXIT_OK

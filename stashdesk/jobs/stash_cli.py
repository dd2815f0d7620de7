"""``stashdesk stash sync|scan|generate``: start a Stash job in the running engine.

    stashdesk stash sync [--full]          SYNC (``--full``: full resync, marks removed scenes)
    stashdesk stash scan [PATH ...]        STASH_SCAN (default: downloads.stash_path)
    stashdesk stash generate [--scene ID]  STASH_GENERATE (default: every scene)

Each prints the new job's id (``--json``: ``{"job_id": ..., "job_type": ...}``);
follow it with ``stashdesk jobs show ID``.
"""

from __future__ import annotations

import argparse
from typing import Any

from stashdesk.cli import EXIT_OK, EXTRA_COMMANDS, CliContext, print_json
from stashdesk.jobs.base import JobType


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    stash = sub.add_parser("stash", parents=[common],
                           help="start a sync, scan or generation in the running engine")
    ssub = stash.add_subparsers(dest="stash_command", required=True)
    sync = ssub.add_parser("sync", parents=[common], help="sync scenes from Stash")
    sync.add_argument("--full", action="store_true",
                      help="read every scene and mark the ones Stash no longer has as removed")
    scan = ssub.add_parser("scan", parents=[common], help="run a metadata scan in Stash")
    scan.add_argument("paths", nargs="*", metavar="PATH",
                      help="folders as Stash sees them (default: downloads.stash_path)")
    generate = ssub.add_parser("generate", parents=[common],
                               help="generate covers, sprites, previews and phashes in Stash")
    generate.add_argument("--scene", action="append", dest="scene_ids", metavar="ID",
                          help="only this scene (repeatable; default: every scene)")
    for parser in (sync, scan, generate):
        parser.add_argument("--json", action="store_true")


def run(ctx: CliContext, args: argparse.Namespace) -> int:
    metadata: dict[str, Any] = {}
    if args.stash_command == "sync":
        job_type = JobType.SYNC
        if args.full:
            metadata["full_resync"] = True
    elif args.stash_command == "scan":
        job_type = JobType.STASH_SCAN
        if args.paths:
            metadata["paths"] = args.paths
    else:
        job_type = JobType.STASH_GENERATE
        if args.scene_ids:
            metadata["scene_ids"] = args.scene_ids
    answer = ctx.engine("job.submit", job_type=str(job_type), metadata=metadata)
    if args.json:
        print_json({"job_id": answer["job_id"], "job_type": str(job_type)})
    else:
        print(f"Started {job_type} job {answer['job_id']}")
    return EXIT_OK


EXTRA_COMMANDS["stash"] = (add_parser, run)

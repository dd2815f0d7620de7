"""The command line: the window by default, ``--headless``, and the commands.

Every command is a client of an engine (see ``stashdesk.cli.connect``): the one
running on this data folder, a remote one (``--engine URL``), or, when none runs,
the data folder itself. Exit codes: 0 success, 1 the action could not be done
(e.g. no engine is running), 2 bad usage or an invalid value (nothing was changed).
No engine package imports this one: the table of commands below is all there is.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from stashdesk import APP_NAME, __version__
from stashdesk.cli import analysis, api, config, daemons, health, jobs, notify, plans, stash
from stashdesk.cli.connect import CommandContext
from stashdesk.cli.output import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandError
from stashdesk.engine_client.errors import ClientError
from stashdesk.paths import resolve_data_dir
from stashdesk.store.offline import DatabaseBusyError

Command = Callable[[CommandContext, argparse.Namespace], Awaitable[int]]

COMMANDS: dict[str, Command] = {
    "config": config.run,
    "daemons": daemons.run_daemons,
    "status": daemons.run_status,
    "history": jobs.run_history,
    "jobs": jobs.run_jobs,
    "stats": jobs.run_stats,
    "plans": plans.run,
    "stash": stash.run,
    "api": api.run,
    "health": health.run,
    "notify": notify.run,
    "analysis": analysis.run,
}


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="where StashDesk keeps its database (default: $STASHDESK_DATA_DIR "
        "or the platform's user data folder)",
    )
    common.add_argument(
        "--engine",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="act on the engine at URL (default: $STASHDESK_ENGINE, else the "
        "one running on the data folder); its key in $STASHDESK_API_KEY",
    )
    common.add_argument(
        "--fingerprint",
        metavar="SHA256",
        default=argparse.SUPPRESS,
        help="the TLS certificate fingerprint to trust for --engine or "
        "--connect (see `stashdesk api info` on the engine's machine)",
    )
    parser = argparse.ArgumentParser(
        prog="stashdesk",
        parents=[common],
        description=f"{APP_NAME}: automation daemons for Stash and qBittorrent. "
        "Without a command, starts the desktop window.",
    )
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    parser.add_argument(
        "--headless",
        action="store_true",
        help="run the engine without a window until SIGINT/SIGTERM",
    )
    parser.add_argument(
        "--listen",
        metavar="HOST:PORT",
        help="where the engine API listens (default: the api.listen setting, "
        "127.0.0.1 on a free port); any address but loopback uses TLS",
    )
    parser.add_argument(
        "--connect",
        metavar="URL",
        help="open the window on the engine at URL instead of starting one",
    )
    parser.add_argument(
        "--api-key",
        metavar="KEY",
        help="the key for --connect (default: $STASHDESK_API_KEY, else asked "
        "for once and kept in the keyring)",
    )
    parser.add_argument("--minimized", action="store_true", help="start in the tray")
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="start the engine and window on a temporary folder, then exit",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    config.add_parser(sub, common)
    daemons.add_parsers(sub, common)
    jobs.add_parsers(sub, common)
    plans.add_parser(sub, common)
    stash.add_parser(sub, common)
    api.add_parser(sub, common)
    health.add_parser(sub, common)
    notify.add_parser(sub, common)
    analysis.add_parser(sub, common)
    return parser


async def run_command(args: argparse.Namespace, data_dir: Path) -> int:
    ctx = CommandContext(
        data_dir, getattr(args, "engine", None), getattr(args, "fingerprint", None)
    )
    try:
        return await COMMANDS[args.command](ctx, args)
    finally:
        await ctx.close()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for option in ("data_dir", "engine", "fingerprint", "connect", "listen"):
        value = getattr(args, option, None)
        if value is not None and (not value.strip() or not value.isprintable()):
            parser.error(
                f"--{option.replace('_', '-')} needs a value without control "
                f"characters, not {value!r}"
            )
    data_dir = resolve_data_dir(getattr(args, "data_dir", None))
    try:
        if args.command is None:
            return _run_program(args, data_dir)
        return asyncio.run(run_command(args, data_dir))
    except (CommandError, ClientError) as exc:
        print(f"stashdesk: {exc}", file=sys.stderr)
        return exc.code
    except DatabaseBusyError as exc:
        print(f"stashdesk: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except _STARTUP_ERRORS as exc:
        print(f"stashdesk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


def _run_program(args: argparse.Namespace, data_dir: Path) -> int:
    if args.headless:
        from stashdesk.headless import run_headless

        return run_headless(data_dir, verbose=args.verbose, listen=args.listen)
    if args.self_check:
        from stashdesk.selfcheck import run_self_check

        return run_self_check()
    from stashdesk.ui.main import run_gui

    if args.connect:
        return run_gui(
            data_dir,
            minimized=args.minimized,
            verbose=args.verbose,
            connect=args.connect,
            api_key=args.api_key,
            fingerprint=getattr(args, "fingerprint", None),
        )
    return run_gui(data_dir, minimized=args.minimized, verbose=args.verbose)


def _startup_errors() -> tuple[type[BaseException], ...]:
    """Errors opening the data folder: a bad folder, a database we must not touch."""
    from stashdesk.paths import DataDirError
    from stashdesk.store import DatabaseRefused

    return (DataDirError, DatabaseRefused)


_STARTUP_ERRORS = _startup_errors()

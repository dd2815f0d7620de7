"""The command line: the GUI by default, ``--headless``, and subcommands.

Commands that read (``status``, ``history``, ``jobs list``...) read the database,
so they work while another process runs the daemons. Commands that act on
running daemons or jobs go through the engine's control socket. Exit codes:
0 success, 1 the action could not be done (e.g. no engine is running), 2 bad
usage or an invalid value (nothing was changed).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from stashdesk import APP_NAME, __version__
from stashdesk.options import OptionError
from stashdesk.paths import ensure_data_dir, resolve_data_dir

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

# Later modules add subcommands here: name -> (add_parser(subparsers, common), run(args)).
EXTRA_COMMANDS: dict[str, tuple[Callable, Callable]] = {}


class CommandError(Exception):
    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def iso(ts: float | None) -> str | None:
    """POSIX seconds as ISO 8601 local time with its UTC offset."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")


def print_table(headers: list[str], rows: Iterable[list[Any]]) -> None:
    rows = [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


# --- database access for commands -------------------------------------------------------


class CliContext:
    """The data directory, opened lazily: the database and settings a command uses."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._settings = None

    def open(self) -> None:
        from stashdesk.app import load_plugins
        from stashdesk.store import DatabaseTooNewError
        from stashdesk.store.db import open_database

        load_plugins()
        ensure_data_dir(self.data_dir)
        try:
            self.db = open_database(self.data_dir)
        except DatabaseTooNewError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None

    @property
    def settings(self):
        if self._settings is None:
            from stashdesk.settings import Settings

            self._settings = Settings(self.data_dir)
            self._settings.reload()
        return self._settings

    def tell_engine(self, command: str, **args: Any) -> bool:
        """Tell a running engine (if any) about a change; False when none runs."""
        from stashdesk.control import ControlError, NoEngineRunning, send_command

        try:
            send_command(self.data_dir, command, **args)
        except NoEngineRunning:
            return False
        except ControlError as exc:
            raise CommandError(f"the running engine refused: {exc}") from None
        return True

    def engine(self, command: str, **args: Any) -> dict[str, Any]:
        """Send a command that needs a running engine."""
        from stashdesk.control import ControlError, NoEngineRunning, send_command

        try:
            return send_command(self.data_dir, command, **args)
        except NoEngineRunning as exc:
            raise CommandError(str(exc)) from None
        except ControlError as exc:
            raise CommandError(str(exc)) from None


# --- config ------------------------------------------------------------------------------


def cmd_config(ctx: CliContext, args: argparse.Namespace) -> int:
    from stashdesk.settings import SETTINGS, group_of, option_for

    settings = ctx.settings
    if args.config_command == "list":
        if args.json:
            print_json([{"key": o.key, "value": settings.display(o.key) if o.secret
                         else settings.get(o.key), "default": None if o.secret else o.default,
                         "type": o.type, "secret": o.secret, "group": group_of(o.key),
                         "description": o.description} for o in SETTINGS])
        else:
            print_table(["KEY", "VALUE", "DESCRIPTION"],
                        [[o.key, settings.display(o.key), o.description] for o in SETTINGS])
        return EXIT_OK
    try:
        option = option_for(args.key)
        if args.config_command == "get":
            print(settings.display(args.key))
            return EXIT_OK
        if args.config_command == "set":
            settings.set(args.key, option.parse(args.value))
            print(f"{args.key} = {settings.display(args.key)}")
        else:
            settings.unset(args.key)
            print(f"{args.key} reset to its default ({settings.display(args.key)})")
    except OptionError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    ctx.tell_engine("settings.reload")
    return EXIT_OK


# --- daemons -----------------------------------------------------------------------------


def _daemon_class(name: str):
    from stashdesk.daemons.manager import DAEMON_TYPES, UnknownDaemonError

    if name not in DAEMON_TYPES:
        raise CommandError(str(UnknownDaemonError(name)).strip("'\""), EXIT_USAGE)
    return DAEMON_TYPES[name]


def _daemon_row(name: str):
    from stashdesk.store.models import Daemon

    cls = _daemon_class(name)
    row, _ = Daemon.get_or_create(name=name, defaults={"config": cls.default_config()})
    return row


def _all_daemon_rows() -> list[Any]:
    from stashdesk.daemons.manager import DAEMON_TYPES

    return [_daemon_row(name) for name in DAEMON_TYPES]


def cmd_daemons(ctx: CliContext, args: argparse.Namespace) -> int:
    from stashdesk.store.models import Daemon

    sub = args.daemons_command
    if sub == "list":
        rows = _all_daemon_rows()
        if args.json:
            print_json([{"name": r.name, "display_name": _daemon_class(r.name).display_name,
                         "enabled": r.enabled, "auto_start": r.auto_start, "state": r.state,
                         "config": _daemon_class(r.name).validate_config(r.config or {})}
                        for r in rows])
        else:
            print_table(["NAME", "DISPLAY NAME", "ENABLED", "AUTO-START", "STATE", "CONFIG"], [
                [r.name, _daemon_class(r.name).display_name, _yes(r.enabled),
                 _yes(r.auto_start), r.state,
                 json.dumps(_daemon_class(r.name).validate_config(r.config or {}))]
                for r in rows])
        return EXIT_OK
    row = _daemon_row(args.name)
    if sub == "enable":
        Daemon.update(enabled=True, auto_start=not args.no_auto_start).where(
            Daemon.name == row.name).execute()
        ctx.tell_engine("daemon.reload", name=row.name)
        start = "" if args.no_auto_start else " and starts with the engine"
        print(f"{row.name} is enabled{start}")
    elif sub == "disable":
        Daemon.update(enabled=False).where(Daemon.name == row.name).execute()
        if ctx.tell_engine("daemon.reload", name=row.name):
            ctx.engine("daemon.stop", name=row.name)
        print(f"{row.name} is disabled")
    elif sub == "set":
        cls = _daemon_class(row.name)
        try:
            option = cls.option(args.key)
            value = option.validate(option.parse(args.value))
            config = cls.validate_config({**(row.config or {}), args.key: value})
        except OptionError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None
        Daemon.update(config=config).where(Daemon.name == row.name).execute()
        ctx.tell_engine("daemon.reload", name=row.name)
        print(f"{row.name}: {args.key} = {json.dumps(config[args.key])}")
    else:  # start | stop | restart
        answer = ctx.engine(f"daemon.{sub}", name=row.name)
        print(f"{row.name}: {answer.get('state', 'done')}")
    return EXIT_OK


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


# --- status, history ---------------------------------------------------------------------


def cmd_status(ctx: CliContext, args: argparse.Namespace) -> int:
    rows = _all_daemon_rows()
    items = [{
        "name": r.name,
        "display_name": _daemon_class(r.name).display_name,
        "state": r.state,
        "enabled": r.enabled,
        "auto_start": r.auto_start,
        "current_status": r.current_status,
        "current_job_id": r.current_job_id,
        "current_job_type": r.current_job_type,
        "status_updated_at": iso(r.status_updated_at),
        "last_heartbeat": iso(r.last_heartbeat),
        "last_error": r.last_error,
    } for r in rows]
    if args.json:
        print_json(items)
        return EXIT_OK
    print_table(["NAME", "STATE", "STATUS", "JOB"], [
        [i["name"], i["state"], i["current_status"] or "-",
         f"{i['current_job_type']} {i['current_job_id']}" if i["current_job_id"] else ""]
        for i in items])
    return EXIT_OK


def cmd_history(ctx: CliContext, args: argparse.Namespace) -> int:
    from stashdesk.store.models import DaemonStatus

    if args.daemon:
        _daemon_class(args.daemon)
    query = DaemonStatus.select()
    if args.daemon:
        query = query.where(DaemonStatus.daemon == args.daemon)
    rows = list(query.order_by(DaemonStatus.at.desc(), DaemonStatus.id.desc()).limit(args.limit))
    rows.reverse()  # newest last
    items = [{"daemon": r.daemon, "message": r.message, "job_id": r.job_id,
              "job_type": r.job_type, "at": iso(r.at)} for r in rows]
    if args.json:
        print_json(items)
    else:
        print_table(["AT", "DAEMON", "MESSAGE", "JOB"], [
            [i["at"], i["daemon"], i["message"],
             f"{i['job_type']} {i['job_id']}" if i["job_id"] else ""] for i in items])
    return EXIT_OK


# --- jobs ------------------------------------------------------------------------------------


def job_as_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "type": row.type, "status": row.status, "progress": row.progress,
        "message": row.message, "created_by": row.created_by, "parent_id": row.parent_id,
        "created_at": iso(row.created_at), "started_at": iso(row.started_at),
        "finished_at": iso(row.finished_at), "metadata": row.metadata, "result": row.result,
        "error": row.error,
    }


def cmd_jobs(ctx: CliContext, args: argparse.Namespace) -> int:
    from stashdesk.store.models import Job

    if args.jobs_command == "list":
        query = Job.select()
        if args.status:
            query = query.where(Job.status == args.status)
        if args.type:
            query = query.where(Job.type == args.type.upper())
        rows = list(query.order_by(Job.created_at.desc()).limit(args.limit))
        if args.json:
            print_json([job_as_json(r) for r in rows])
        else:
            print_table(["ID", "TYPE", "STATUS", "PROGRESS", "CREATED", "BY", "MESSAGE"], [
                [r.id, r.type, r.status, f"{r.progress:.0f}%", iso(r.created_at),
                 r.created_by, r.error or r.message] for r in rows])
        return EXIT_OK
    row = _find_job(args.id)
    if args.jobs_command == "show":
        print_json(job_as_json(row))
        return EXIT_OK
    # cancel
    if row.status in ("completed", "failed", "cancelled", "interrupted"):
        print(f"job {row.id} has already ended ({row.status})")
        return EXIT_OK
    from stashdesk.control import NoEngineRunning, send_command

    try:
        answer = send_command(ctx.data_dir, "job.cancel", job_id=row.id)
        print(f"job {row.id}: {answer.get('status')}")
    except NoEngineRunning:
        if row.status != "pending":
            raise CommandError(f"job {row.id} is {row.status} but no engine is running; "
                               f"it will be reconciled at the next start") from None
        Job.update(status="cancelled", error="Cancelled by user before it started").where(
            Job.id == row.id).execute()
        print(f"job {row.id}: cancelled")
    return EXIT_OK


def _find_job(job_id: str):
    from stashdesk.store.models import Job

    matches = list(Job.select().where(Job.id.startswith(job_id)).limit(2))
    if len(matches) != 1:
        what = "no job" if not matches else "more than one job"
        raise CommandError(f"{what} with id {job_id!r}", EXIT_USAGE)
    return matches[0]


# --- stats -----------------------------------------------------------------------------------


def collect_stats() -> dict[str, Any]:
    import peewee as pw

    from stashdesk.store.models import HandledDownload, Job, Plan, PlanChange, Scene

    def by_status(model: Any) -> dict[str, int]:
        query = model.select(model.status, pw.fn.COUNT(model.id).alias("n")).group_by(
            model.status)
        return {row.status: row.n for row in query}

    return {
        "scenes": Scene.select().where(~Scene.removed).count(),
        "plans": by_status(Plan),
        "changes": by_status(PlanChange),
        "jobs": by_status(Job),
        "handled_downloads": HandledDownload.select().count(),
    }


def cmd_stats(ctx: CliContext, args: argparse.Namespace) -> int:
    stats = collect_stats()
    if args.json:
        print_json(stats)
    else:
        for key, value in stats.items():
            print(f"{key}: {json.dumps(value)}")
    return EXIT_OK


# --- parser ----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", metavar="DIR", default=argparse.SUPPRESS,
                        help="where StashDesk keeps its database (default: $STASHDESK_DATA_DIR "
                             "or the platform's user data folder)")
    parser = argparse.ArgumentParser(
        prog="stashdesk", parents=[common],
        description=f"{APP_NAME}: automation daemons for Stash and qBittorrent. "
                    "Without a command, starts the desktop window.")
    parser.add_argument("--version", action="version", version=f"{APP_NAME} {__version__}")
    parser.add_argument("--headless", action="store_true",
                        help="run the engine without a window until SIGINT/SIGTERM")
    parser.add_argument("--minimized", action="store_true", help="start in the tray")
    parser.add_argument("--self-check", action="store_true",
                        help="start the engine and window on a temporary folder, then exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    config = sub.add_parser("config", parents=[common], help="show or change settings")
    csub = config.add_subparsers(dest="config_command", required=True)
    clist = csub.add_parser("list", parents=[common], help="every setting (secrets masked)")
    clist.add_argument("--json", action="store_true")
    csub.add_parser("get", parents=[common]).add_argument("key")
    cset = csub.add_parser("set", parents=[common], help="VALUE is parsed by the key's type")
    cset.add_argument("key")
    cset.add_argument("value")
    csub.add_parser("unset", parents=[common]).add_argument("key")

    daemons = sub.add_parser("daemons", parents=[common], help="list and control daemons")
    dsub = daemons.add_subparsers(dest="daemons_command", required=True)
    dsub.add_parser("list", parents=[common]).add_argument("--json", action="store_true")
    enable = dsub.add_parser("enable", parents=[common],
                             help="enabled daemons start with the engine")
    enable.add_argument("name")
    enable.add_argument("--no-auto-start", action="store_true",
                        help="enable, but do not start it with the engine")
    dsub.add_parser("disable", parents=[common]).add_argument("name")
    dset = dsub.add_parser("set", parents=[common], help="change one configuration value")
    dset.add_argument("name")
    dset.add_argument("key")
    dset.add_argument("value")
    for action in ("start", "stop", "restart"):
        dsub.add_parser(action, parents=[common],
                        help=f"{action} a daemon in the running engine").add_argument("name")

    status = sub.add_parser("status", parents=[common], help="what every daemon is doing")
    status.add_argument("--json", action="store_true")

    history = sub.add_parser("history", parents=[common], help="status history, newest last")
    history.add_argument("--daemon", metavar="NAME")
    history.add_argument("--limit", type=int, default=50)
    history.add_argument("--json", action="store_true")

    jobs = sub.add_parser("jobs", parents=[common], help="list, show and cancel jobs")
    jsub = jobs.add_subparsers(dest="jobs_command", required=True)
    jlist = jsub.add_parser("list", parents=[common])
    jlist.add_argument("--json", action="store_true")
    jlist.add_argument("--status")
    jlist.add_argument("--type")
    jlist.add_argument("--limit", type=int, default=100)
    jsub.add_parser("show", parents=[common]).add_argument("id")
    jsub.add_parser("cancel", parents=[common]).add_argument("id")

    stats = sub.add_parser("stats", parents=[common], help="counts of what StashDesk holds")
    stats.add_argument("--json", action="store_true")

    for add_parser, _run in EXTRA_COMMANDS.values():
        add_parser(sub, common)
    return parser


COMMANDS: dict[str, Callable[[CliContext, argparse.Namespace], int]] = {
    "config": cmd_config,
    "daemons": cmd_daemons,
    "status": cmd_status,
    "history": cmd_history,
    "jobs": cmd_jobs,
    "stats": cmd_stats,
}


def main(argv: list[str] | None = None) -> int:
    from stashdesk.app import load_plugins

    load_plugins()  # modules may add commands to EXTRA_COMMANDS
    parser = build_parser()
    args = parser.parse_args(argv)
    data_dir = resolve_data_dir(getattr(args, "data_dir", None))
    try:
        if args.command is None:
            if args.headless:
                from stashdesk.headless import run_headless

                return run_headless(data_dir, verbose=args.verbose)
            if args.self_check:
                from stashdesk.selfcheck import run_self_check

                return run_self_check()
            from stashdesk.ui.main import run_gui

            return run_gui(data_dir, minimized=args.minimized, verbose=args.verbose)
        ctx = CliContext(data_dir)
        ctx.open()
        run = COMMANDS.get(args.command) or EXTRA_COMMANDS[args.command][1]
        return run(ctx, args)
    except CommandError as exc:
        print(f"stashdesk: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130

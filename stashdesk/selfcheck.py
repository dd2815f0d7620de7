"""``stashdesk --self-check``: does this installation work? Exit 0 if so, else 1.

On a temporary data folder (the user's own is never touched) it starts the
engine (running every migration on a new database), builds the main window
offscreen, publishes one status and waits for its card to show it, loads the
icons, tray icons and style sheet through Qt, and imports the keyring backends.
One line per check says what worked or what failed; the last line gives the
total time. It runs the same from a source checkout and from the frozen build,
where it is the installer's smoke test (scripts/build_installer.sh).

Without a display, the window goes offscreen: ``QT_QPA_PLATFORM=offscreen`` is
set unless a platform was chosen already.

The checks are plain functions ``(data_dir) -> (ok, detail)``; one that raises
fails with the exception as its reason, and the rest still run.
"""

from __future__ import annotations

import asyncio
import faulthandler
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from stashdesk import APP_NAME, __version__
from stashdesk.resources_path import (
    REQUIRED_RESOURCES,
    is_frozen,
    missing_resources,
    resources_dir,
)

EXIT_OK, EXIT_FAILED = 0, 1
# A hung check (a window that never shows, a loop that never ends) must not hang
# CI: past this, Python prints every thread's stack and exits.
WATCHDOG_SECONDS = 120.0

# Modules the platform's keyring backend needs besides keyring itself (keyring
# imports them inside try/except, so a bundle missing one silently has no keyring).
KEYRING_DEPENDENCIES = {
    "linux": ("secretstorage", "jeepney"),
    "win32": ("win32ctypes.pywin32.win32cred",),
    "darwin": ("keyring.backends.macOS.api",),
}

CheckFunction = Callable[[Path], tuple[bool, str]]


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


# --- the checks ------------------------------------------------------------------------


def check_pyside(_data_dir: Path) -> tuple[bool, str]:
    from stashdesk.ui.pyside_check import PYSIDE_VERSION, check_pyside

    check_pyside()  # RuntimeError naming the remedy on an affected release
    return True, f"PySide6 {PYSIDE_VERSION} keeps its references to None and True"


def check_resources(_data_dir: Path) -> tuple[bool, str]:
    folder = resources_dir()
    if not folder.is_dir():
        return False, f"no resources folder at {folder}"
    missing = missing_resources(folder)
    if missing:
        return False, f"{folder} lacks {len(missing)} file(s): {', '.join(missing)}"
    return True, f"{folder}: all {len(REQUIRED_RESOURCES)} files present"


def check_engine(data_dir: Path) -> tuple[bool, str]:
    """Start and stop the engine on plain asyncio (the headless path) on a new database."""
    from stashdesk.app import Engine
    from stashdesk.jobs.base import JOB_TYPES, JobType
    from stashdesk.store.db import DB_FILENAME, SCHEMA_VERSION, read_schema_version

    async def round_trip() -> list[str]:
        engine = Engine(data_dir, use_keyring=False, mode="self-check")
        services = await engine.start(auto_start=False, control=False)
        try:
            return list(services.manager.handles)
        finally:
            await engine.stop()

    started = time.perf_counter()
    daemons = asyncio.run(round_trip())
    elapsed = time.perf_counter() - started
    problems = []
    version = read_schema_version(data_dir / DB_FILENAME)
    if version != SCHEMA_VERSION:
        problems.append(f"the database is at schema version {version}, expected {SCHEMA_VERSION}")
    if not daemons:
        problems.append("no daemon is registered (stashdesk.daemons.* missing?)")
    unregistered = sorted(set(JobType) - set(JOB_TYPES))
    if unregistered:
        problems.append(f"no job for {', '.join(unregistered)} (stashdesk.jobs.* missing?)")
    if problems:
        return False, "; ".join(problems)
    return True, (
        f"started and stopped in {elapsed * 1000:.0f} ms; migrations ran to schema "
        f"version {version}; {len(daemons)} daemons ({', '.join(daemons)}), "
        f"{len(JOB_TYPES)} job types"
    )


def check_window(data_dir: Path) -> tuple[bool, str]:
    """Main window on a qasync loop with the engine; one status must reach its card."""
    from stashdesk.ui.resource_check import missing_platform_plugin

    missing = missing_platform_plugin()
    if missing:  # Qt would abort the whole process instead of raising
        return False, missing
    from stashdesk.ui.selfcheck_support import check_window as run_window

    result = run_window(data_dir)
    return result.ok, result.detail


def _qt_check(name: str) -> CheckFunction:
    def run(_data_dir: Path) -> tuple[bool, str]:
        from stashdesk.ui.resource_check import CHECKS

        return CHECKS[name]()

    run.__name__ = f"check_{name.replace(' ', '_')}"
    return run


def check_keyring(_data_dir: Path) -> tuple[bool, str]:
    """keyring finds its backends through package metadata and imports them lazily:
    both have to survive freezing."""
    from importlib import metadata

    import keyring

    entry_points = list(metadata.entry_points(group="keyring.backends"))
    if not entry_points:
        return False, (
            "keyring finds no backends (its package metadata, "
            "keyring-*.dist-info/entry_points.txt, is missing)"
        )
    failed = []
    for entry_point in entry_points:
        try:
            entry_point.load()
        except Exception as exc:
            failed.append(f"{entry_point.name} ({type(exc).__name__}: {exc})")
    platform_key = "linux" if sys.platform.startswith("linux") else sys.platform
    for module in KEYRING_DEPENDENCIES.get(platform_key, ()):
        try:
            importlib.import_module(module)
        except Exception as exc:
            failed.append(f"{module} ({type(exc).__name__}: {exc})")
    if failed:
        return False, f"cannot import: {'; '.join(failed)}"
    names = ", ".join(sorted(ep.name for ep in entry_points))
    if os.environ.get("STASHDESK_NO_KEYRING") == "1":
        in_use = "not probed (STASHDESK_NO_KEYRING=1)"
    else:
        backend = keyring.get_keyring()
        in_use = f"{type(backend).__module__}.{type(backend).__name__}"
    return True, f"{len(entry_points)} backends import ({names}); in use here: {in_use}"


def check_libraries(_data_dir: Path) -> tuple[bool, str]:
    """What the engine loads only when it needs it, so a frozen bundle missing one would
    fail only then: Apprise and its plugins, the GraphQL WebSocket client, aiohttp's server."""
    import apprise

    targets = apprise.Apprise()
    if not targets.add("json://127.0.0.1:9/self-check"):
        return False, "Apprise cannot read a json:// URL: its plugins are missing"
    schemas = len(apprise.Apprise().details().get("schemas", []))
    importlib.import_module("gql.transport.aiohttp_websockets")  # what stash_feed uses
    importlib.import_module("aiohttp.web")
    importlib.import_module("cryptography.x509")
    return True, (
        f"Apprise {apprise.__version__} with {schemas} services, gql's WebSocket "
        "transport, aiohttp's server and cryptography import"
    )


CHECKS: list[tuple[str, CheckFunction]] = [
    ("PySide6", check_pyside),
    ("resources", check_resources),
    ("engine", check_engine),
    ("window", check_window),
    *(
        (name, _qt_check(name))
        for name in ("Qt", "image formats", "app icon", "tray icons", "style sheet")
    ),
    ("keyring", check_keyring),
    ("libraries", check_libraries),
]


# --- running them ------------------------------------------------------------------------


def run_checks(
    checks: Sequence[tuple[str, CheckFunction]], data_dir: Path, out: TextIO
) -> list[CheckResult]:
    results = []
    width = max(len(name) for name, _ in checks)
    for name, check in checks:
        started = time.perf_counter()
        try:
            ok, detail = check(data_dir)
        except Exception as exc:
            ok, detail = False, f"{type(exc).__name__}: {exc}"
        result = CheckResult(name, ok, detail, time.perf_counter() - started)
        results.append(result)
        print(
            f"  {'ok  ' if ok else 'FAIL'}  {name:<{width}}  {detail} [{result.seconds:.2f} s]",
            file=out,
            flush=True,
        )
    return results


def _start_watchdog() -> bool:
    try:
        faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True)
    except (AttributeError, ValueError, OSError, RuntimeError):  # no usable stderr
        return False
    return True


def run_self_check(
    checks: Sequence[tuple[str, CheckFunction]] | None = None, out: TextIO | None = None
) -> int:
    """Run the checks on a temporary data folder; print one line each; 0 if all pass."""
    started = time.perf_counter()
    out = out or sys.stdout
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any QApplication
    from stashdesk.app_identity import set_app_user_model_id

    set_app_user_model_id()
    checks = CHECKS if checks is None else checks
    how = "frozen build" if is_frozen() else "from source"
    print(
        f"{APP_NAME} {__version__} self-check ({how}, Python "
        f"{sys.version.split()[0]}, {sys.platform}, Qt platform "
        f"{os.environ['QT_QPA_PLATFORM']})",
        file=out,
        flush=True,
    )
    watchdog = _start_watchdog()
    try:
        with tempfile.TemporaryDirectory(
            prefix="stashdesk-self-check-", ignore_cleanup_errors=True
        ) as temp:
            results = run_checks(checks, Path(temp) / "data", out)
    finally:
        if watchdog:
            faulthandler.cancel_dump_traceback_later()
    total = time.perf_counter() - started
    failed = [r.name for r in results if not r.ok]
    if failed:
        print(
            f"self-check FAILED: {len(failed)} of {len(results)} checks failed "
            f"({', '.join(failed)}) in {total:.2f} s",
            file=out,
            flush=True,
        )
        return EXIT_FAILED
    print(f"self-check passed: {len(results)} checks in {total:.2f} s", file=out, flush=True)
    return EXIT_OK

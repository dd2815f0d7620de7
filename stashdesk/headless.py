"""``stashdesk --headless``: the engine without a window, until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from stashdesk.app import Engine, EngineAlreadyRunning
from stashdesk.events import DaemonStatusChanged
from stashdesk.log_file import configure_logging
from stashdesk.paths import DataDirError, ensure_data_dir
from stashdesk.status_journal import StatusJournal
from stashdesk.store import DatabaseRefused

log = logging.getLogger("stashdesk")


async def serve(data_dir: Path, stop: asyncio.Event, listen: str | None = None) -> None:
    engine = Engine(data_dir, mode="headless", listen=listen)
    services = await engine.start(auto_start=False)
    journal = StatusJournal()
    services.bus.listen(journal, DaemonStatusChanged)
    started = await services.manager.auto_start()
    log.info(
        "StashDesk engine running on %s; daemons started: %s",
        data_dir,
        ", ".join(started) or "none (enable some with `stashdesk daemons enable NAME`)",
    )
    if engine.api is not None:
        fingerprint = engine.describe().get("fingerprint")
        log.info(
            "engine API at %s%s (key: `stashdesk api key`)",
            engine.api.url,
            f", TLS certificate SHA-256 {fingerprint}" if fingerprint else "",
        )
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await engine.stop()
        journal.close()
        log.info("stopped cleanly")


def run_headless(data_dir: Path, verbose: bool = False, listen: str | None = None) -> int:
    try:
        ensure_data_dir(data_dir)
    except DataDirError as exc:
        print(f"stashdesk: {exc}", file=sys.stderr)
        return 2
    configure_logging(data_dir, verbose)  # stderr (the journal, for a service) and the file

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
        await serve(data_dir, stop, listen)

    try:
        asyncio.run(main())
    except (DatabaseRefused, DataDirError, EngineAlreadyRunning) as exc:
        log.error("%s", exc)
        return 2
    except (ValueError, OSError) as exc:  # an address that cannot be listened on
        log.error("the engine API cannot listen: %s", exc)
        return 2
    return 0

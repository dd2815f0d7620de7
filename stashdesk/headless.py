"""``stashdesk --headless``: the engine without a window, until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path

from stashdesk.app import Engine, EngineAlreadyRunning
from stashdesk.events import DaemonStatusChanged
from stashdesk.store import DatabaseTooNewError

log = logging.getLogger("stashdesk")


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "httpcore", "urllib3", "qbittorrentapi"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _log_status(event: DaemonStatusChanged) -> None:
    if event.message is not None:
        job = f" [{event.job_type} {event.job_id}]" if event.job_id else ""
        log.info("[%s] %s%s", event.daemon, event.message, job)


async def serve(data_dir: Path, stop: asyncio.Event) -> None:
    engine = Engine(data_dir, mode="headless")
    services = await engine.start(auto_start=False)
    services.bus.listen(_log_status, DaemonStatusChanged)
    started = await services.manager.auto_start()
    log.info("StashDesk engine running on %s; daemons started: %s", data_dir,
             ", ".join(started) or "none (enable some with `stashdesk daemons enable NAME`)")
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        await engine.stop()
        log.info("stopped cleanly")


def run_headless(data_dir: Path, verbose: bool = False) -> int:
    configure_logging(verbose)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # Windows
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
        await serve(data_dir, stop)

    try:
        asyncio.run(main())
    except (DatabaseTooNewError, EngineAlreadyRunning) as exc:
        log.error("%s", exc)
        return 2
    return 0

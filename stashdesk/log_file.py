"""The log file in the data folder (``stashdesk.log``), owner-only and redacted.

Qt-free, for the window and ``--headless`` alike: :func:`open_log_file` adds a
rotating file handler to the root logger whose file (and every rotated copy) is
readable by its owner only, like the database, and whose records pass through
:class:`stashdesk.redaction.RedactingFilter`. :func:`configure_logging` is the
whole set-up: console (stderr) and, given a data folder, the file, every handler
redacted. The handlers write from a thread of their own (a ``QueueListener``): a
slow disk or a full journal pipe must never hold up the event loop that logs.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import stat
import sys
from logging.handlers import QueueHandler, QueueListener, RotatingFileHandler
from pathlib import Path
from typing import IO, Any

from stashdesk.redaction import RedactingFilter, install_log_redaction

LOG_FILE = "stashdesk.log"
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
MAX_BYTES = 1_000_000
BACKUP_COUNT = 3
OWNER_ONLY = stat.S_IRUSR | stat.S_IWUSR
QUIET_LIBRARIES = ("httpx", "httpcore", "urllib3", "qbittorrentapi")


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files are created, and kept, owner-only (0600)."""

    # typeshed's open() gives IO[Any] for a mode in a variable; it is the base's TextIOWrapper
    def _open(self) -> IO[Any]:  # type: ignore[override]
        path = self.baseFilename
        # created 0600 from the start: never readable by others, not even for a moment
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, OWNER_ONLY)
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            try:
                os.fchmod(fd, OWNER_ONLY)  # an older, readable file
            except (AttributeError, OSError):
                pass
        return open(fd, self.mode, encoding=self.encoding, errors=self.errors)


def open_log_file(data_dir: Path, verbose: bool = False) -> logging.Handler | None:
    """Log to ``data_dir/stashdesk.log`` (rotated at 1 MB, 3 copies, owner-only, redacted).

    Returns the handler (added to the root logger), or None when the file cannot be
    opened: the console still gets everything then.
    """
    try:
        handler = PrivateRotatingFileHandler(
            Path(data_dir) / LOG_FILE,
            maxBytes=MAX_BYTES,
            backupCount=BACKUP_COUNT,
            encoding="utf-8",
        )
    except OSError as exc:
        logging.getLogger(__name__).warning(
            "cannot write the log file in %s: %s", data_dir, exc.strerror or exc
        )
        return None
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.setLevel(logging.DEBUG if verbose else logging.INFO)
    handler.addFilter(RedactingFilter())
    logging.getLogger().addHandler(handler)
    return handler


def configure_logging(data_dir: Path | None = None, verbose: bool = False) -> None:
    """Console logging (stderr) plus, with ``data_dir``, the log file; secrets masked on
    every handler. For ``--headless`` (with or without the file) and the window."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT, stream=sys.stderr
    )
    for noisy in QUIET_LIBRARIES:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    if data_dir is not None:
        open_log_file(data_dir, verbose)
    install_log_redaction()
    _write_from_a_thread(logging.getLogger())


def _write_from_a_thread(logger: logging.Logger) -> None:
    """Put ``logger``'s handlers behind one queue, written by a listener thread (stopped,
    so flushed, at exit). Records are formatted on the caller's side, as they are."""
    handlers = [h for h in logger.handlers if not isinstance(h, QueueHandler)]
    if not handlers:
        return
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = QueueListener(records, *handlers, respect_handler_level=True)
    for handler in handlers:
        logger.removeHandler(handler)
    logger.addHandler(QueueHandler(records))
    listener.start()
    atexit.register(listener.stop)

"""configure_logging: handlers write from a thread, flushed at exit, still redacted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stashdesk.redaction import MASK

SCRIPT = """
import logging, sys
from logging.handlers import QueueHandler
from stashdesk.log_file import configure_logging
from stashdesk.redaction import REDACTOR

class Owner: pass
owner = Owner()
REDACTOR.set_secrets(owner, ["k3y-Abc/123"])
configure_logging(sys.argv[1])
handlers = logging.getLogger().handlers
assert [type(h) for h in handlers] == [QueueHandler], handlers
log = logging.getLogger("stashdesk.test")
for n in range(2000):
    log.info("line %d with key %s", n, "k3y-Abc/123")
try:
    raise ConnectionError("cannot reach http://nas:9999/?apikey=k3y-Abc%2F123")
except ConnectionError:
    log.exception("request failed")
"""


def test_records_are_written_by_the_listener_flushed_at_exit_and_redacted(
    tmp_path: Path,
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "stashdesk.log").read_text()
    for output in (text, result.stderr):  # the file and the console (the journal)
        assert "k3y-Abc" not in output
        assert f"line 1999 with key {MASK}" in output  # the last line too: flushed at exit
        assert "ConnectionError: cannot reach http://nas:9999/?apikey=" in output
    assert text.count(" with key ") == 2000

"""Test-suite wide set-up.

- Qt runs offscreen unless a display is asked for explicitly.
- Under CI=true nothing may be skipped for a missing component: a skipped test
  fails the run (the stand-ins and fixtures also fail loudly there).
"""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ["STASHDESK_NO_KEYRING"] = "1"

pytest_plugins = [
    "tests.engine_fixtures",
    "tests.standins.video_tag_fixtures",
    "tests.standins.qbittorrent_fixtures",
    "tests.standins.stash_fixtures",
    "tests.standins.webhook_fixtures",
    "tests.upstream_schema",
]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI") != "true":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if skipped:
        reporter.write_line(
            f"CI=true: {len(skipped)} test(s) were skipped; under CI every "
            f"component must be present, so this run fails.",
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

"""``stashdesk --self-check`` from source: every check passes, and a failure says why."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from stashdesk import selfcheck
from stashdesk.store.db import DB_FILENAME, SCHEMA_VERSION
from tests.cli_helpers import REPO

CHECK_NAMES = [name for name, _check in selfcheck.CHECKS]


def run_self_check(**env: str) -> subprocess.CompletedProcess:
    environ = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "QT_QPA_PLATFORM",
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "STASHDESK_PLUGINS",
            "STASHDESK_RESOURCES_DIR",
        )
    }
    environ.update({"STASHDESK_NO_KEYRING": "1", "PYTHONPATH": str(REPO), **env})
    return subprocess.run(
        [sys.executable, "-m", "stashdesk", "--self-check"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=environ,
    )


def check_lines(stdout: str) -> dict[str, str]:
    """Check name -> "ok" or "FAIL", in output order."""
    found = {}
    for line in stdout.splitlines():
        state, rest = line[2:6].strip(), line[8:]
        if state in ("ok", "FAIL"):
            found[next(n for n in CHECK_NAMES if rest.startswith(f"{n}  "))] = state
    return found


def test_self_check_from_source_passes_every_check_offscreen():
    done = run_self_check()
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "self-check (from source" in out
    assert "Qt platform offscreen" in out  # chosen by itself: no display here
    assert check_lines(out) == dict.fromkeys(CHECK_NAMES, "ok"), out
    assert f"migrations ran to schema version {SCHEMA_VERSION}" in out
    assert "a status reached the video-analysis card" in out
    assert "style.qss" in out and "ICO with 7 images" in out
    assert "backends import" in out and "SecretService" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"self-check passed: {len(CHECK_NAMES)} checks in ")
    assert last.endswith(" s")


def test_self_check_fails_with_the_reason_when_resources_are_missing(tmp_path):
    empty = tmp_path / "resources"
    empty.mkdir()
    done = run_self_check(STASHDESK_RESOURCES_DIR=str(empty))
    assert done.returncode == 1, done.stdout + done.stderr
    states = check_lines(done.stdout)
    failed = ["resources", "app icon", "tray icons", "style sheet"]
    assert [name for name, state in states.items() if state == "FAIL"] == failed
    assert states["engine"] == states["window"] == states["keyring"] == "ok"
    assert f"{empty} lacks 21 file(s): icons/stashdesk.svg" in done.stdout
    assert "stashdesk.svg is missing" in done.stdout
    assert (
        done.stdout.strip()
        .splitlines()[-1]
        .startswith(
            f"self-check FAILED: 4 of {len(CHECK_NAMES)} checks failed "
            f"(resources, app icon, tray icons, style sheet) in "
        )
    )


def test_a_check_that_raises_fails_with_its_exception_and_the_rest_still_run():
    seen: list[Path] = []

    def fine(data_dir: Path) -> tuple[bool, str]:
        seen.append(data_dir)
        return True, "all good"

    def broken(_data_dir: Path) -> tuple[bool, str]:
        raise RuntimeError("the widget fell over")

    def unhappy(_data_dir: Path) -> tuple[bool, str]:
        return False, "not today"

    out = io.StringIO()
    code = selfcheck.run_self_check(
        [("fine", fine), ("broken", broken), ("unhappy", unhappy), ("after", fine)], out=out
    )
    assert code == 1
    lines = out.getvalue().splitlines()
    assert lines[1].startswith("  ok    fine     all good [")
    assert lines[2].startswith("  FAIL  broken   RuntimeError: the widget fell over [")
    assert lines[3].startswith("  FAIL  unhappy  not today [")
    assert lines[4].startswith("  ok    after    all good [")
    assert lines[5].startswith("self-check FAILED: 2 of 4 checks failed (broken, unhappy) in ")
    assert seen[0] == seen[1] and seen[0].name == "data"
    assert not seen[0].parent.exists()  # the temporary folder is gone


def test_all_checks_passing_exits_zero():
    out = io.StringIO()
    assert selfcheck.run_self_check([("fine", lambda _d: (True, "yes"))], out=out) == 0
    assert out.getvalue().splitlines()[-1].startswith("self-check passed: 1 checks in ")


def test_engine_check_refuses_a_database_from_a_newer_stashdesk(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    with sqlite3.connect(data_dir / DB_FILENAME) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    out = io.StringIO()
    results = selfcheck.run_checks([("engine", selfcheck.check_engine)], data_dir, out)
    assert not results[0].ok
    assert results[0].detail.startswith("DatabaseTooNewError: ")
    assert "written by a newer StashDesk" in results[0].detail


def test_engine_check_runs_the_migrations_on_a_new_folder(tmp_path):
    ok, detail = selfcheck.check_engine(tmp_path / "data")
    assert ok, detail
    assert f"schema version {SCHEMA_VERSION}" in detail
    # Earlier tests in the session may have registered test daemons too (shown after).
    listed = detail.split(" daemons (", 1)[1].split(")", 1)[0].split(", ")
    assert [name for name in listed if not name.startswith("test-")] == [
        "video-analysis",
        "stash-sync",
        "plan-applier",
        "download-processor",
        "stash-generation",
    ]


def test_keyring_check_fails_when_keyring_metadata_is_missing(monkeypatch):
    from importlib import metadata

    monkeypatch.setattr(metadata, "entry_points", lambda **_kw: [])
    ok, detail = selfcheck.check_keyring(Path("."))
    assert not ok
    assert "keyring finds no backends" in detail and "entry_points.txt" in detail


def test_keyring_check_names_a_backend_dependency_that_does_not_import(monkeypatch):
    monkeypatch.setitem(selfcheck.KEYRING_DEPENDENCIES, "linux", ("stashdesk_no_such_module",))
    monkeypatch.setattr(sys, "platform", "linux")
    ok, detail = selfcheck.check_keyring(Path("."))
    assert not ok
    assert "cannot import: stashdesk_no_such_module (ModuleNotFoundError" in detail


def test_libraries_check_fails_when_apprise_has_no_plugins(monkeypatch, tmp_path):
    import apprise

    monkeypatch.setattr(apprise.Apprise, "add", lambda self, url: False)
    ok, detail = selfcheck.check_libraries(tmp_path)
    assert not ok and "plugins are missing" in detail

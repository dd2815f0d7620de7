"""A distinctive password in every URL setting and in every secret; a headless run in
which each service is unreachable at least once; then no log line, no database row
(outside the secret store), no status, history, job error or CLI output holds any of
them, in any form."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path
from urllib.parse import quote

import pytest

from stashdesk.redaction import secret_forms
from tests.cli_helpers import HeadlessProcess, configure_data_dir, query, run_cli

pytestmark = pytest.mark.slow

STASH_PASSWORD = "Zx81-st@sh/pw"  # in the URL: percent-encoded
QBT_PROXY_PASSWORD = "Zx82-proxy:pw"
AI_PASSWORD = "Zx83-ai pw"
API_KEY = "Zx84-stash-api-key"
QBT_PASSWORD = "Zx85-qbt-login"
SECRETS = [STASH_PASSWORD, QBT_PROXY_PASSWORD, AI_PASSWORD, API_KEY, QBT_PASSWORD]
DAEMONS = ("stash-sync", "video-analysis", "plan-applier", "download-processor", "stash-generation")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def leaks(text: str) -> list[str]:
    """The secret forms found in ``text`` (the marker Zx8 catches any partial form)."""
    found = [form for secret in SECRETS for form in secret_forms(secret) if form in text]
    if "Zx8" in text and not found:
        found.append("Zx8...")
    return found


def every_row(data_dir: Path) -> list[tuple[str, str]]:
    """(table, row text) of every row of every table, the secret store left out."""
    conn = sqlite3.connect(f"file:{data_dir / 'stashdesk.db'}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        rows = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                if table == "setting" and str(row[0]).startswith("secret:"):
                    continue
                rows.append((table, repr(row)))
        return rows
    finally:
        conn.close()


def test_no_secret_reaches_any_output(tmp_path: Path, stash_server) -> None:
    data_dir = tmp_path / "data"
    library = tmp_path / "library"
    library.mkdir()
    stash_server.api_key = API_KEY
    stash_server.add_scene("A scene", path="/data/a.mp4")
    stash_host = stash_server.url.removeprefix("http://")
    qbt_port, ai_port = closed_port(), closed_port()
    configure_data_dir(
        data_dir,
        {
            "stash.url": f"http://stashuser:{quote(STASH_PASSWORD, safe='')}@{stash_host}",
            "stash.api_key": API_KEY,
            "stash.timeout": 5,
            "qbittorrent.url": f"http://proxy:{quote(QBT_PROXY_PASSWORD, safe='')}@127.0.0.1:"
            f"{qbt_port}",
            "qbittorrent.password": QBT_PASSWORD,
            "qbittorrent.timeout": 3,
            "analysis.video_server_url": f"http://ai:{quote(AI_PASSWORD, safe='')}@127.0.0.1:"
            f"{ai_port}",
            "downloads.destination": str(library),
        },
        {name: {"job_interval_seconds": 1} for name in DAEMONS},
    )

    engine = HeadlessProcess(data_dir, tmp_path / "headless.log")
    try:

        def statuses() -> list[str]:
            return [m for (m,) in query(data_dir, "SELECT message FROM daemon_status")]

        def logged() -> list[str]:
            return [m for (m,) in query(data_dir, "SELECT message FROM daemon_log")]

        engine.wait_for(
            lambda: any(
                m.startswith(f"qBittorrent unreachable at http://proxy:***@127.0.0.1:{qbt_port}")
                for m in statuses()
            ),
            60,
            "qBittorrent unreachable",
        )
        engine.wait_for(
            lambda: any("Sync completed for 1 scenes" in m for m in statuses()),
            60,
            "a sync through the URL's credentials",
        )
        engine.wait_for(
            lambda: any(f"http://ai:***@127.0.0.1:{ai_port}" in m for m in logged() + statuses()),
            60,
            "the video-tag server unreachable",
        )
        stash_server.stop()
        engine.wait_for(
            lambda: any(
                m.startswith(f"Stash unreachable at http://stashuser:***@{stash_host}")
                for m in statuses()
            ),
            60,
            "Stash unreachable",
        )
        cli_outputs = [
            run_cli(data_dir, *args)
            for args in (
                ("status", "--json"),
                ("history", "--limit", "500"),
                ("jobs", "list", "--json"),
                ("config", "list"),
                ("config", "list", "--json"),
                ("daemons", "list", "--json"),
                ("config", "get", "stash.url"),
            )
        ]
    finally:
        assert engine.terminate(60) == 0
    stash_server.start()  # the fixture stops it again

    log_text = engine.log()
    assert not leaks(log_text), leaks(log_text)
    for done in cli_outputs:
        assert done.returncode == 0, done.stderr
        assert not leaks(done.stdout + done.stderr), (done.args, leaks(done.stdout))
    for table, row in every_row(data_dir):
        assert not leaks(row), (table, row)
    # the secrets are still there to use, in the secret store only
    secret_rows = query(data_dir, "SELECT key FROM setting WHERE key LIKE 'secret:%'")
    assert {k for (k,) in secret_rows} == {
        "secret:stash.url",
        "secret:stash.api_key",
        "secret:qbittorrent.url",
        "secret:qbittorrent.password",
        "secret:analysis.video_server_url",
        "secret:api.key",
    }  # (the engine API's own key, made at the first start)
    # and the Stash stand-in got the API key and the URL's credentials as basic auth
    assert all(r.header("ApiKey") == API_KEY for r in stash_server.requests)
    assert all(
        (r.header("Authorization") or "").startswith("Basic ") for r in stash_server.requests
    )

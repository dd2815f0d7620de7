"""Today's command line meets the new validation: exit 2 with one line, nothing stored;
credentials inside URLs masked in everything it prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import query, run_cli

PASSWORD = "Xv9-Secr3t%40Proxy"  # as typed in the URL: the password is Xv9-Secr3t@Proxy


def stored_settings(data_dir: Path) -> dict[str, str]:
    return dict(query(data_dir, "SELECT key, value FROM setting"))


@pytest.mark.parametrize(
    ("key", "value", "why"),
    [
        ("stash.url", "http://[::1", "an IPv6 address must be written as [address]"),
        ("stash.url", "http://nas:99999", "the port must be a number from 1 to 65535"),
        ("stash.url", "http://nas\n:9999", "without spaces or control characters"),
        ("qbittorrent.url", "ftp://nas", "must be an http:// or https:// address"),
        ("downloads.destination", "library", "must be an absolute path"),
        ("qbittorrent.processed_tag", "", "cannot be empty"),
        ("qbittorrent.processed_tag", "done,ok", "cannot contain a comma"),
        ("qbittorrent.category", "a//b", "qBittorrent does not accept"),
        ("stash.stalled_job_minutes", "1e308", "must be at most"),
        ("analysis.server_timeout", "1e308", "must be at most"),
    ],
)
def test_config_set_refuses_bad_values_with_exit_2(
    data_dir: Path, key: str, value: str, why: str
) -> None:
    done = run_cli(data_dir, "config", "set", key, value)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"stashdesk: {key}")
    assert why in done.stderr
    assert done.stderr.count("\n") == 1
    assert key not in stored_settings(data_dir)


@pytest.mark.parametrize(
    "daemon",
    ["stash-sync", "stash-generation", "download-processor", "plan-applier", "video-analysis"],
)
def test_daemons_set_refuses_an_endless_interval(data_dir: Path, daemon: str) -> None:
    done = run_cli(data_dir, "daemons", "set", daemon, "job_interval_seconds", "1e308")
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    assert "job_interval_seconds must be" in done.stderr


def test_url_credentials_are_masked_in_everything_the_cli_prints(data_dir: Path) -> None:
    url = f"http://alice:{PASSWORD}@nas:9999"
    outputs = []
    done = run_cli(data_dir, "config", "set", "stash.url", url)
    assert done.returncode == 0, done.stderr
    outputs.append(done.stdout + done.stderr)
    assert done.stdout.strip() == "stash.url = http://alice:***@nas:9999"
    for args in (("config", "get", "stash.url"), ("config", "list"), ("config", "list", "--json")):
        done = run_cli(data_dir, *args)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout + done.stderr)
    listed = {item["key"]: item for item in json.loads(outputs[-1])}
    assert listed["stash.url"]["value"] == "http://alice:***@nas:9999"
    assert outputs[1].strip() == "http://alice:***@nas:9999"
    for text in outputs:
        assert "Secr3t" not in text
    # stored apart: the plain row holds the address only
    rows = stored_settings(data_dir)
    assert json.loads(rows["stash.url"]) == "http://nas:9999"
    assert json.loads(rows["secret:stash.url"]) == {"value": f"alice:{PASSWORD}"}
    # written back as shown, the password stays
    done = run_cli(data_dir, "config", "set", "stash.url", "http://alice:***@nas2:9999")
    assert done.returncode == 0, done.stderr
    assert json.loads(stored_settings(data_dir)["secret:stash.url"]) == {
        "value": f"alice:{PASSWORD}"
    }

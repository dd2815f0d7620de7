"""Declared options, settings values and secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from stashdesk.options import Option, OptionError
from stashdesk.settings import MASK, SETTINGS, SETTINGS_BY_KEY, Settings, group_of, option_for
from stashdesk.store.models import Setting

REQUIRED_DEFAULTS = {
    "stash.url": "http://localhost:9999",
    "stash.api_key": "",
    "stash.timeout": 30.0,
    "qbittorrent.url": "http://localhost:8080",
    "qbittorrent.username": "admin",
    "qbittorrent.password": "",
    "qbittorrent.category": "stash",
    "qbittorrent.processed_tag": "synced",
    "qbittorrent.error_tag": "error_syncing",
    "downloads.destination": "",
    "downloads.stash_path": "",
    "analysis.video_server_url": "http://localhost:8084",
    "analysis.frame_interval": 2.0,
    "analysis.threshold": 0.3,
    "analysis.server_timeout": 3700.0,
    "analysis.create_markers": True,
    "history.retention_days": 30,
    "notifications.on_failure": True,
    "notifications.on_success": False,
}


def test_every_required_setting_is_declared_with_its_default() -> None:
    for key, default in REQUIRED_DEFAULTS.items():
        assert SETTINGS_BY_KEY[key].default == default, key
    assert SETTINGS_BY_KEY["stash.api_key"].secret
    assert SETTINGS_BY_KEY["qbittorrent.password"].secret
    assert all(o.description for o in SETTINGS)
    assert {group_of(o.key) for o in SETTINGS} >= {
        "Stash",
        "qBittorrent",
        "Downloads",
        "Analysis",
        "Notifications",
        "History",
    }


@pytest.mark.parametrize(
    ("key", "text", "expected"),
    [
        ("stash.timeout", "12.5", 12.5),
        ("history.retention_days", "7", 7),
        ("analysis.create_markers", "false", False),
        ("analysis.create_markers", "TRUE", True),
        ("analysis.path_map", '["/data=/mnt/media"]', ["/data=/mnt/media"]),
        ("stash.url", "https://stash.example:9999/", "https://stash.example:9999"),
    ],
)
def test_command_line_values_are_parsed_by_type(key: str, text: str, expected) -> None:
    option = option_for(key)
    assert option.validate(option.parse(text)) == expected


@pytest.mark.parametrize(
    ("key", "text", "fragment"),
    [
        ("stash.url", "localhost:9999", "http:// or https://"),
        ("stash.timeout", "fast", "must be a number"),
        ("stash.timeout", "0", "at least 1"),
        ("analysis.threshold", "1.5", "at most 1"),
        ("history.retention_days", "2.5", "whole number"),
        ("analysis.create_markers", "maybe", "true or false"),
        ("analysis.path_map", "[1, 2]", "list of strings"),
        ("analysis.path_map", '["no-equals-sign"]', "FROM=TO"),
        ("analysis.path_map", "not json", "FROM=TO"),
        ("analysis.video_servers", '["http://gpu1:8084"]', "entry 1 must be an object"),
        ("analysis.video_servers", '[{"url": "gpu1:8084"}]', "needs a url such as"),
        (
            "analysis.video_servers",
            '[{"url": "http://a:1", "concurrency": 0}]',
            "concurrency must be a whole number from 1 to 16",
        ),
        ("analysis.video_servers", '[{"url": "http://a:1", "path_map": ["/x"]}]', "FROM=TO"),
        (
            "analysis.video_servers",
            '[{"url": "http://a:1"}, {"url": "http://a:1/"}]',
            "entry 2: http://a:1/ is listed twice",
        ),
        ("analysis.video_servers", '[{"url": "http://a:1", "gpu": 1}]', "unknown key.*gpu"),
        ("analysis.select", "some", "must be one of new, tagged"),
        ("analysis.tag_policy", "rename", "must be one of suffix, map"),
    ],
)
def test_invalid_values_are_refused_with_a_clear_message(
    key: str, text: str, fragment: str
) -> None:
    option = option_for(key)
    with pytest.raises(OptionError, match=fragment):
        option.validate(option.parse(text))


def test_unknown_key_suggests_the_right_one() -> None:
    with pytest.raises(OptionError, match="Did you mean stash.timeout"):
        option_for("stashh.timeout")
    with pytest.raises(OptionError, match="unknown setting"):
        option_for("nope")


def test_set_get_unset_round_trip(settings: Settings) -> None:
    assert settings.get("stash.url") == "http://localhost:9999"
    settings.set("stash.url", "http://10.0.0.5:9999")
    assert settings.get("stash.url") == "http://10.0.0.5:9999"
    fresh = Settings(Path(settings.secrets.service.split(":", 1)[1]), use_keyring=False)
    fresh.reload()
    assert fresh.get("stash.url") == "http://10.0.0.5:9999"
    settings.unset("stash.url")
    assert settings.get("stash.url") == "http://localhost:9999"
    assert Setting.get_or_none(Setting.key == "stash.url") is None


def test_invalid_value_changes_nothing(settings: Settings) -> None:
    settings.set("stash.timeout", 12)
    with pytest.raises(OptionError):
        settings.set("stash.timeout", -1)
    assert settings.get("stash.timeout") == 12.0


def test_secrets_without_keyring_live_in_the_owner_only_database_and_are_masked(
    settings: Settings, tmp_path: Path
) -> None:
    assert settings.secrets.keyring is None
    settings.set("stash.api_key", "s3cr3t-key")
    assert settings.get("stash.api_key") == "s3cr3t-key"
    assert settings.display("stash.api_key") == MASK
    assert settings.display("qbittorrent.password") == "(not set)"
    row = Setting.get(Setting.key == "secret:stash.api_key")
    assert row.value == {"value": "s3cr3t-key"}
    assert (tmp_path / "stashdesk.db").stat().st_mode & 0o077 == 0
    assert (
        settings.redact("GET /graphql ApiKey=s3cr3t-key failed")
        == f"GET /graphql ApiKey={MASK} failed"
    )


class MemoryKeyring:
    def __init__(self) -> None:
        self.store: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, key: str) -> str | None:
        return self.store.get((service, key))

    def set_password(self, service: str, key: str, value: str) -> None:
        self.store[(service, key)] = value

    def delete_password(self, service: str, key: str) -> None:
        self.store.pop((service, key), None)


def test_secrets_go_to_a_usable_keyring_not_the_database(settings: Settings) -> None:
    keyring = MemoryKeyring()
    settings.secrets.keyring = keyring
    settings.set("qbittorrent.password", "hunter2")
    assert keyring.store[(settings.secrets.service, "qbittorrent.password")] == "hunter2"
    row = Setting.get(Setting.key == "secret:qbittorrent.password")
    assert row.value == {"keyring": True}
    assert "hunter2" not in str(row.value)
    settings.reload()
    assert settings.get("qbittorrent.password") == "hunter2"
    settings.unset("qbittorrent.password")
    assert keyring.store == {}


def test_option_rejects_wrong_python_types() -> None:
    option = Option("x.count", "int", 1, "A count.", minimum=0)
    with pytest.raises(OptionError):
        option.validate(True)
    with pytest.raises(OptionError):
        option.validate([1])
    assert option.validate(3.0) == 3

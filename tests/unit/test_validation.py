"""Settings and daemon configs refuse what would misbehave later, with a message."""

from __future__ import annotations

import os

import pytest

from stashdesk.app import load_plugins
from stashdesk.daemons.manager import DAEMON_TYPES
from stashdesk.options import INT_LIMIT, Option, OptionError
from stashdesk.settings import SETTINGS, Settings, option_for
from stashdesk.urls import check_service_url

load_plugins()
REAL_DAEMONS = {
    name: cls for name, cls in DAEMON_TYPES.items() if cls.__module__.startswith("stashdesk.")
}


def every_number_option() -> list[tuple[str, Option]]:
    found = [("setting", o) for o in SETTINGS]
    for name, cls in REAL_DAEMONS.items():
        found += [(name, o) for o in cls.all_options()]
    return [(owner, o) for owner, o in found if o.type in ("int", "float")]


def test_all_five_daemons_are_checked() -> None:
    assert set(REAL_DAEMONS) == {
        "video-analysis",
        "stash-sync",
        "plan-applier",
        "download-processor",
        "stash-generation",
    }


@pytest.mark.parametrize(
    ("owner", "option"), every_number_option(), ids=lambda v: v if isinstance(v, str) else v.key
)
def test_every_number_option_has_a_sensible_upper_bound(owner: str, option: Option) -> None:
    assert option.maximum is not None, f"{owner}: {option.key} has no maximum"
    assert option.maximum <= 10_000_000
    for huge in (1e308, 10**30, option.maximum * 10):
        with pytest.raises(OptionError, match=rf"^{option.key} must be at most "):
            option.validate(huge)
    assert option.validate(option.maximum) == option.maximum


@pytest.mark.parametrize("name", sorted(REAL_DAEMONS))
def test_daemon_intervals_refuse_1e308(name: str) -> None:
    option = REAL_DAEMONS[name].option("job_interval_seconds")
    with pytest.raises(OptionError, match="job_interval_seconds must be at most 604800"):
        option.validate(option.parse("1e308") if option.type == "float" else 1e308)


def test_an_int_option_without_maximum_still_stays_within_sqlite() -> None:
    option = Option("x", "int", 0, "x")
    with pytest.raises(OptionError, match="must be at most"):
        option.validate(INT_LIMIT + 1)


@pytest.mark.parametrize("value", ["lib", "./lib", "library/new", "..", "C:relative"])
def test_relative_paths_are_refused(settings: Settings, value: str) -> None:
    with pytest.raises(OptionError, match=r"^downloads.destination must be an absolute path"):
        settings.set("downloads.destination", value)
    assert not settings.is_set("downloads.destination")


def test_absolute_paths_are_normalised_and_home_is_expanded(settings: Settings) -> None:
    assert settings.set("downloads.destination", "/srv/media//library/") == "/srv/media/library"
    home = os.path.expanduser("~")
    assert settings.set("downloads.destination", "~/Library") == os.path.join(home, "Library")
    assert settings.set("downloads.destination", "") == ""  # empty: not set


@pytest.mark.parametrize("value", ["/data/library", "D:\\Library", "\\\\nas\\media"])
def test_the_path_as_stash_sees_it_may_be_posix_or_windows(settings: Settings, value: str) -> None:
    assert settings.set("downloads.stash_path", value) == value


def test_the_path_as_stash_sees_it_must_be_absolute_too(settings: Settings) -> None:
    with pytest.raises(OptionError, match="downloads.stash_path must be an absolute path"):
        settings.set("downloads.stash_path", "library")


@pytest.mark.parametrize(
    "key", ["qbittorrent.processed_tag", "qbittorrent.error_tag", "qbittorrent.category"]
)
def test_empty_tag_and_category_names_are_refused(settings: Settings, key: str) -> None:
    for value in ("", "   "):
        with pytest.raises(
            OptionError,
            match=rf"^{key} cannot be empty - `stashdesk config "
            rf"unset {key}` restores its default",
        ):
            settings.set(key, value)
    assert not settings.is_set(key)


@pytest.mark.parametrize(
    "key", ["qbittorrent.processed_tag", "qbittorrent.error_tag", "qbittorrent.category"]
)
def test_commas_are_refused_because_qbittorrent_splits_at_them(
    settings: Settings, key: str
) -> None:
    with pytest.raises(
        OptionError,
        match=rf"{key} cannot contain a comma: qBittorrent would "
        r"read 'done,ok' as the \w+ 'done', 'ok'",
    ):
        settings.set(key, "done,ok")


def test_names_are_trimmed_as_qbittorrent_trims_them(settings: Settings) -> None:
    assert settings.set("qbittorrent.processed_tag", "  in library ") == "in library"
    assert settings.get("qbittorrent.processed_tag") == "in library"


@pytest.mark.parametrize("value", ["/stash", "stash/", "a//b", "a\\b"])
def test_categories_qbittorrent_would_not_accept(settings: Settings, value: str) -> None:
    with pytest.raises(OptionError, match="qBittorrent does not accept"):
        settings.set("qbittorrent.category", value)


def test_subcategories_are_fine(settings: Settings) -> None:
    assert settings.set("qbittorrent.category", "stash/new") == "stash/new"


@pytest.mark.parametrize("value", ["syn\nced", "tab\there", "nul\x00", "bell\x07"])
def test_control_characters_are_refused_in_text(settings: Settings, value: str) -> None:
    with pytest.raises(OptionError, match="must not contain control characters"):
        settings.set("qbittorrent.processed_tag", value)


def test_a_secret_with_a_control_character_is_refused_without_echoing_it(
    settings: Settings,
) -> None:
    with pytest.raises(OptionError) as caught:
        settings.set("stash.api_key", "abc\ndef")
    assert "abc" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("http://[::1", "an IPv6 address must be written as [address], with both brackets"),
        ("http://nas:99999", "the port must be a number from 1 to 65535"),
        ("http://nas:0", "the port must be from 1 to 65535, not 0"),
        ("http://nas:port", "the port must be a number from 1 to 65535"),
        ("http://nas:", "has a ':' without a port number"),
        ("http://nas\n:9999", "without spaces or control characters"),
        ("http://nas:99\r\n99", "without spaces or control characters"),
        ("http://n as:9999", "without spaces or control characters"),
        ("http://nas\u200b:9999", "without spaces or control characters"),
        ("ftp://nas:21", "must be an http:// or https:// address"),
        ("nas:9999", "must be an http:// or https:// address"),
        ("http://", "names no host"),
        ("http://:9999", "names no host"),
        ("http://nas..local:9999", "is not a valid host name"),
        ("http://[nas]:9999", "an IPv6 address must be written as [address]"),
        ("http://[::1]x:9999", "an IPv6 address must be written as [address]"),
        ("http://nas:9999/?apikey=1", "without a query"),
        ("http://nas:9999/#x", "without a query"),
    ],
)
def test_urls_are_parsed_and_checked_before_they_are_saved(
    settings: Settings, value: str, why: str
) -> None:
    with pytest.raises(OptionError) as caught:
        settings.set("stash.url", value)
    assert str(caught.value).startswith("stash.url must be an http:// or https:// address")
    assert why in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not settings.is_set("stash.url")


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("http://nas:9999/", "http://nas:9999"),
        ("https://stash.example.org", "https://stash.example.org"),
        ("http://[::1]:9999", "http://[::1]:9999"),
        ("http://192.168.1.20:9999", "http://192.168.1.20:9999"),
        ("http://nas/stash/", "http://nas/stash"),
        ("HTTP://NAS:9999", "HTTP://NAS:9999"),
        ("http://my_stash:9999", "http://my_stash:9999"),
    ],
)
def test_good_urls_are_kept(settings: Settings, value: str, stored: str) -> None:
    assert settings.set("stash.url", value) == stored


def test_outer_whitespace_is_trimmed_not_stored(settings: Settings) -> None:
    assert settings.set("stash.url", "  http://nas:9999\n") == "http://nas:9999"


def test_bad_url_messages_never_show_a_password() -> None:
    for value in (
        "http://user:s3cret@[::1",
        "http://user:s3cret@nas:99999",
        "ftp://user:s3cret@nas",
    ):
        with pytest.raises(ValueError) as caught:
            check_service_url(value)
        assert "s3cret" not in str(caught.value)


def test_option_for_every_url_setting_is_type_url() -> None:
    urls = {o.key for o in SETTINGS if o.type == "url"}
    assert urls >= {"stash.url", "qbittorrent.url", "analysis.video_server_url"}
    assert option_for("stash.url").type == "url"

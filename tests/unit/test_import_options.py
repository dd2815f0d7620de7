"""The rules behind the import options: their settings' validation, the sample rule, the
identify sources and field strategies, and the removal limits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stashdesk.clients.qbittorrent import Torrent
from stashdesk.downloads.post_import import removal_due
from stashdesk.downloads.samples import SampleFilter, combine_skip_reasons
from stashdesk.jobs.base import JobFailed
from stashdesk.jobs.stash_identify import identify_options, identify_sources
from stashdesk.options import OptionError
from stashdesk.settings import DEFAULT_SAMPLE_PATTERNS, SETTINGS_BY_KEY


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("downloads.remove_after_ratio", -0.5, "must be -1 (never) or 0 or more"),
        ("downloads.remove_after_hours", -2, "must be at least -1"),
        ("downloads.min_free_gb", -1, "must be at least 0"),
        ("downloads.sample_patterns", ["(unclosed"], "is not a valid regular expression"),
        ("downloads.sample_patterns", [3], "must be a list of strings"),
        ("qbittorrent.done_category", "/done", "qBittorrent does not accept"),
    ],
)
def test_bad_values_are_refused_with_what_would_fit(key: str, value, message: str) -> None:
    with pytest.raises(OptionError) as refused:
        SETTINGS_BY_KEY[key].validate(value)
    assert message in str(refused.value) and key in str(refused.value)


def test_defaults_switch_nothing_on_but_sample_skipping() -> None:
    assert SETTINGS_BY_KEY["downloads.remove_after_ratio"].default == -1
    assert SETTINGS_BY_KEY["downloads.remove_after_hours"].default == -1
    assert SETTINGS_BY_KEY["qbittorrent.done_category"].default == ""
    assert SETTINGS_BY_KEY["downloads.skip_samples"].default is True
    # Through the registry, so the daemons register in their usual order (the self-check
    # test lists them).
    import stashdesk.daemons.registry  # noqa: F401
    from stashdesk.daemons.download_processor import DownloadProcessorDaemon

    config = DownloadProcessorDaemon.default_config()
    assert config["identify_after_import"] is False and config["auto_tag_after_import"] is False
    with pytest.raises(OptionError, match="must be one of IGNORE, MERGE, OVERWRITE"):
        DownloadProcessorDaemon.validate_config({"identify_field_strategies": {"title": "KEEP"}})


def test_the_sample_rule_looks_at_names_within_the_torrent_and_the_size(tmp_path: Path) -> None:
    library = tmp_path / "samples"  # a library whose own path says "samples" is no sample
    rule = SampleFilter(DEFAULT_SAMPLE_PATTERNS, 70, str(library))
    small = tmp_path / "small.bin"
    small.write_bytes(os.urandom(1000))

    def judged(relative: str) -> bool:
        return rule(str(small), str(library / relative)) is not None

    assert judged("Pack/Sample/movie.mkv") and judged("Pack/movie-sample.mp4")
    assert judged("Pack/movie.SAMPLE.mkv") and judged("single-sample.mkv")
    assert not judged("Pack/movie.mkv") and not judged("Sample Pack/movie.mkv")
    assert not judged("Pack/resample.mkv") and not judged("Pack/Sample/cover.jpg")
    big = SampleFilter(DEFAULT_SAMPLE_PATTERNS, 0.0001, str(library))  # ~100 bytes
    assert big(str(small), str(library / "Pack/sample.mkv")) is None
    assert combine_skip_reasons(None, None) is None
    assert combine_skip_reasons(lambda s, d: None, rule)(
        str(small), str(library / "Pack/sample.mkv")
    ).startswith("sample video")


CONFIGURATION = {
    "general": {
        "stashBoxes": [
            {"endpoint": "https://stashdb.org/graphql", "name": "StashDB"},
            {"endpoint": "https://fansdb.cc/graphql", "name": "FansDB"},
        ]
    },
    "defaults": {"identify": None},
}


def test_identify_sources_by_name_endpoint_or_auto_tagger() -> None:
    assert identify_sources(
        CONFIGURATION, ["fansdb", "https://stashdb.org/graphql", "Auto Tag"]
    ) == [
        {"source": {"stash_box_endpoint": "https://fansdb.cc/graphql"}},
        {"source": {"stash_box_endpoint": "https://stashdb.org/graphql"}},
        {"source": {"scraper_id": "builtin_autotag"}},
    ]
    with pytest.raises(
        JobFailed,
        match=r"'ThePornDB' is not a stash-box endpoint configured "
        r"in Stash .*StashDB \(https://stashdb.org/graphql\)",
    ):
        identify_sources(CONFIGURATION, ["ThePornDB"])
    saved = {
        **CONFIGURATION,
        "defaults": {
            "identify": {
                "sources": [
                    {
                        "source": {"stash_box_endpoint": None, "scraper_id": "builtin_autotag"},
                        "options": None,
                    }
                ],
                "options": None,
            }
        },
    }
    assert identify_sources(saved, []) == [{"source": {"scraper_id": "builtin_autotag"}}]
    assert identify_options(CONFIGURATION, {}) is None
    assert identify_options(CONFIGURATION, {"title": "overwrite"}) == {
        "fieldOptions": [{"field": "title", "strategy": "OVERWRITE"}]
    }


def test_removal_is_due_on_ratio_or_time() -> None:
    torrent = Torrent(
        "h",
        "Pack",
        "stash",
        ("synced",),
        "stalledUP",
        1.0,
        1,
        "/s",
        "/s/Pack",
        ratio=1.5,
        seeding_time=7200,
    )
    assert removal_due(torrent, None, None) is None
    assert removal_due(torrent, 2.0, 3.0) is None
    assert removal_due(torrent, 1.5, None).startswith("ratio 1.50 reached")
    assert removal_due(torrent, None, 2.0).startswith("seeded 2.00 h")

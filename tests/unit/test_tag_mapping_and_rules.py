"""The tag mapping table (with its CSV round trip) and the per-tag rules, on a real file."""

from __future__ import annotations

from pathlib import Path

import pytest

from stashdesk.analysis.tag_mapping import (
    MappingError,
    export_mappings_csv,
    export_mappings_file,
    ignore_tag,
    import_mappings_csv,
    import_mappings_file,
    list_mappings,
    load_tag_resolver,
    remove_mapping,
    set_mapping,
)
from stashdesk.analysis.tag_rules import (
    RuleError,
    get_rule,
    list_rules,
    load_rulebook,
    remove_rule,
    set_rule,
)
from stashdesk.store import Store
from stashdesk.store.models import Tag


@pytest.fixture
def store(tmp_path: Path):
    opened = Store(tmp_path / "data")
    yield opened
    opened.close()


def pairs() -> list[tuple[str, str | None, bool]]:
    return [(m["ai_tag"], m["stash_tag"], m["ignore"]) for m in list_mappings()]


def test_set_ignore_remove_and_list(store) -> None:
    assert set_mapping(" Kitchen ", "Cooking")["stash_tag"] == "Cooking"
    ignore_tag("Closeup")
    set_mapping("kitchen", "Kitchen (room)")  # the same AI tag, any case: replaced
    assert pairs() == [("Closeup", None, True), ("kitchen", "Kitchen (room)", False)]
    assert remove_mapping("KITCHEN") is True and remove_mapping("kitchen") is False
    assert pairs() == [("Closeup", None, True)]
    with pytest.raises(MappingError, match="non-empty"):
        set_mapping("Kitchen", "  ")


def test_csv_round_trip(store, tmp_path: Path) -> None:
    set_mapping("Kitchen", "Cooking, indoors")  # a comma: quoted in the CSV
    set_mapping("Beach", 'The "Beach"')
    ignore_tag("POV")
    before = pairs()
    text = export_mappings_csv()
    assert text.splitlines()[0] == "ai_tag,stash_tag,ignore"
    assert text.splitlines()[1:] == [
        'Beach,"The ""Beach""",false',
        'Kitchen,"Cooking, indoors",false',
        "POV,,true",
    ]
    exported = export_mappings_file(tmp_path / "out" / "map.csv")
    assert exported == {"path": str(tmp_path / "out" / "map.csv"), "rows": 3}
    for item in list_mappings():
        remove_mapping(item["ai_tag"])
    assert pairs() == []
    counts = import_mappings_file(tmp_path / "out" / "map.csv")
    assert counts["added"] == 3 and counts["rows"] == 3
    assert pairs() == before
    assert export_mappings_csv() == text
    again = import_mappings_csv(text)
    assert (again["unchanged"], again["added"], again["changed"]) == (3, 0, 0)


def test_import_replace_and_merge(store) -> None:
    set_mapping("Old", "Stale")
    set_mapping("Kitchen", "Cooking")
    counts = import_mappings_csv(
        "ai_tag,stash_tag,ignore\nKitchen,Kitchen,false\nBeach,,yes\n", replace=True
    )
    assert counts == {"rows": 2, "added": 1, "changed": 1, "unchanged": 0, "removed": 1}
    assert pairs() == [("Beach", None, True), ("Kitchen", "Kitchen", False)]


def test_import_reads_the_peers_files(store) -> None:
    ai_tagger = (
        "ServerTag,StashTag,MinDuration,MaxGap,RequiredDuration\n"
        "69,69_AI,5,1,20%\nAnal Fucking,Anal Fucking_AI,5,1,30s\n"
    )
    assert import_mappings_csv(ai_tagger)["added"] == 2
    overhaul = (
        "tag_name,category,stash_name,markers_enabled,scene_tag_enabled\n"
        "__default__,,,TRUE,TRUE\nKissing,Sexual Actions,Kiss,,\n"
        "Blowjob,Sexual Actions,,,\n"
    )
    assert import_mappings_csv(overhaul)["rows"] == 1  # only the row naming a stash tag
    assert pairs() == [
        ("69", "69_AI", False),
        ("Anal Fucking", "Anal Fucking_AI", False),
        ("Kissing", "Kiss", False),
    ]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("ai_tag,stash_tag,ignore\nKitchen,Cooking,maybe\n", "line 2: ignore must be"),
        ("ai_tag,stash_tag,ignore\nKitchen,Cooking,true\n", "line 2: Kitchen is both mapped"),
        ("Kitchen,Cooking\n,Other\n", "line 2: the AI tag"),
        ("Kitchen,A\nBeach,B\nkitchen,C\n", "line 3: kitchen appears twice .first on line 1"),
    ],
)
def test_a_bad_file_changes_nothing(store, text, error) -> None:
    set_mapping("Keep", "Me")
    with pytest.raises(MappingError, match=error):
        import_mappings_csv(text, replace=True)
    assert pairs() == [("Keep", "Me", False)]


def test_import_of_a_missing_file(store, tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="no such file"):
        import_mappings_file(tmp_path / "nope.csv")


def test_the_resolver_reads_mappings_and_the_local_tags(store) -> None:
    Tag.insert(id="1", name="Kitchen", aliases=["Cuisine"]).execute()
    set_mapping("Pool", "Swimming")
    resolver = load_tag_resolver("map", create_missing=False)
    assert resolver.resolve("cuisine").stash_tag == "Kitchen"
    assert (resolver.resolve("Pool").stash_tag, resolver.resolve("Pool").source) == (
        "Swimming",
        "mapping",
    )
    assert resolver.resolve("Beach").stash_tag is None
    assert load_tag_resolver("suffix", True).resolve("Kitchen").stash_tag == "Kitchen_AI"


def test_rules_fall_back_tag_to_default_to_built_in(store) -> None:
    assert list_rules()["default"]["effective"] == {
        "enabled": True,
        "min_confidence": None,
        "min_on_screen": None,
        "min_marker_seconds": 0.0,
        "merge_gap_seconds": None,
        "max_markers": None,
    }
    set_rule(None, min_on_screen="5%", min_marker_seconds=4)
    set_rule("Kitchen", min_on_screen=10, max_markers="2", enabled="false")
    kitchen = get_rule("KITCHEN")
    assert kitchen["ai_tag"] == "Kitchen" and kitchen["rule"]["min_on_screen"] == "10s"
    assert kitchen["effective"] == {
        "enabled": False,
        "min_confidence": None,
        "min_on_screen": "10s",
        "min_marker_seconds": 4.0,
        "merge_gap_seconds": None,
        "max_markers": 2,
    }
    book = load_rulebook()
    assert book.rule_for("beach").min_on_screen.text == "5%"
    assert book.rule_for("kitchen").enabled is False
    set_rule("Kitchen", min_on_screen=None)  # falls back to the default again
    assert load_rulebook().rule_for("Kitchen").min_on_screen.text == "5%"
    assert [r["ai_tag"] for r in list_rules()["tags"]] == ["Kitchen"]
    assert remove_rule("kitchen") is True
    assert list_rules()["tags"] == []
    assert remove_rule(None) is True
    assert load_rulebook().rule_for("beach").min_on_screen is None


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"min_confidence": 1.5}, "min_confidence must be at most 1"),
        ({"min_on_screen": "ten seconds"}, "min_on_screen must be seconds"),
        ({"min_on_screen": "150%"}, "at most 100 %"),
        ({"max_markers": -1}, "max_markers must be at least 0"),
        ({"colour": "red"}, "unknown rule field"),
        ({"enabled": "perhaps"}, "enabled must be true or false"),
    ],
)
def test_bad_rule_values_are_refused(store, fields, error) -> None:
    with pytest.raises(RuleError, match=error):
        set_rule("Kitchen", **fields)
    assert list_rules()["tags"] == []

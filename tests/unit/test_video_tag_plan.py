"""Tag rules and the tag mapping turned into exact plan contents (no I/O)."""

from __future__ import annotations

from stashdesk.analysis.scenes import MarkerInfo, SceneSnapshot
from stashdesk.analysis.tag_mapping import TagResolver
from stashdesk.analysis.tag_rules import RuleBook, validate_rule_fields
from stashdesk.analysis.video_tag_plan import (
    VideoTagPolicy,
    covered_seconds,
    plan_video_tags,
)
from stashdesk.clients.video_tags import TagTimespan, parse_video_tag_answer
from tests.standins.video_tag_server import build_result


def scene(tags=(), markers=(), duration=None) -> SceneSnapshot:
    return SceneSnapshot(
        "7",
        "Seven",
        ["/data/seven.mp4"],
        tag_names=list(tags),
        markers=list(markers),
        duration=duration,
    )


def rules(**by_tag) -> RuleBook:
    """rules(Kitchen={"min_on_screen": "10s"}, default={...})"""
    rows = {
        ("*" if name == "default" else name.casefold()): {
            **dict.fromkeys(
                (
                    "enabled",
                    "min_confidence",
                    "min_on_screen",
                    "min_marker_seconds",
                    "merge_gap_seconds",
                    "max_markers",
                )
            ),
            **validate_rule_fields(fields),
        }
        for name, fields in by_tag.items()
    }
    return RuleBook(rows)


def plan(
    answer,
    *,
    rulebook=None,
    resolver=None,
    duration=None,
    existing=(),
    markers=(),
    threshold=0.3,
    create_markers=True,
):
    policy = VideoTagPolicy(
        threshold, create_markers, 2.0, rulebook or RuleBook(), resolver or TagResolver()
    )
    return plan_video_tags(
        scene(existing, markers, duration),
        parse_video_tag_answer(answer, frame_interval=2.0),
        policy,
    )


def rows(planned) -> list[tuple]:
    out = []
    for c in planned.changes:
        value = c.proposed_value
        if c.field == "markers":
            value = (value["title"], value["seconds"], value["end_seconds"])
        out.append((c.field, value, c.confidence))
    return out


def notes(planned) -> list[tuple[str, str]]:
    return [(n.rule, n.message) for n in planned.notes]


KITCHEN = build_result(
    {"places": [("Kitchen", 0.8)], "acts": [("Kissing", 0.9)]},
    {
        "places": {"Kitchen": [(10, 11)]},
        "acts": {"Kissing": [(20, 30), (36, 40), (70, 72), (100, 130)]},
    },
    with_confidence=True,
)


def test_built_in_rules_keep_todays_plan() -> None:
    assert rows(plan(KITCHEN)) == [
        ("tags", "Kitchen_AI", 0.8),
        ("tags", "Kissing_AI", 0.9),
        ("markers", ("Kitchen_AI", 10.0, 11.0), 0.8),
        ("markers", ("Kissing_AI", 20.0, 30.0), 0.9),
        ("markers", ("Kissing_AI", 36.0, 40.0), 0.9),
        ("markers", ("Kissing_AI", 70.0, 72.0), 0.9),
        ("markers", ("Kissing_AI", 100.0, 130.0), 0.9),
    ]
    assert notes(plan(KITCHEN)) == []


def test_min_on_screen_in_seconds_drops_the_tag_and_says_so() -> None:
    planned = plan(KITCHEN, rulebook=rules(Kitchen={"min_on_screen": "10s"}))
    # Kitchen's span 10-11 covers 3 s (its frames: to 11 s plus one 2 s frame interval)
    assert notes(planned) == [("min_on_screen", "Kitchen: 3 s on screen, under the 10 s minimum")]
    assert planned.notes[0].data == {"on_screen": 3.0, "minimum": 10.0}
    assert [v for f, v, _c in rows(planned) if f == "tags"] == ["Kissing_AI"]
    # the tag rule is about the scene tag; its markers follow their own rules
    assert ("markers", ("Kitchen_AI", 10.0, 11.0), 0.8) in rows(planned)


def test_min_on_screen_as_a_share_of_the_video() -> None:
    book = rules(default={"min_on_screen": "5%"})
    planned = plan(KITCHEN, rulebook=book, duration=600)  # 5 % = 30 s
    # Kissing covers 12 + 6 + 4 + 32 = 54 s; Kitchen 3 s (0.5 %)
    assert notes(planned) == [
        ("min_on_screen", "Kitchen: 3 s on screen (0.5 % of the video), under the 5 % minimum")
    ]
    assert [v for f, v, _c in rows(planned) if f == "tags"] == ["Kissing_AI"]
    unknown = plan(KITCHEN, rulebook=book)  # no duration from Stash nor the server
    assert [v for f, v, _c in rows(unknown) if f == "tags"] == ["Kitchen_AI", "Kissing_AI"]
    assert notes(unknown)[0] == (
        "min_on_screen",
        "Kitchen: the 5 % minimum on screen "
        "needs the video's length, which is unknown; not applied",
    )


def test_switched_off_and_confidence_minimum() -> None:
    book = rules(kitchen={"enabled": False}, Kissing={"min_confidence": 0.95})
    planned = plan(KITCHEN, rulebook=book)
    assert rows(planned) == []
    assert notes(planned) == [
        ("enabled", "Kitchen: switched off in its tag rule"),
        ("min_confidence", "Kissing: confidence 0.9, under the 0.95 minimum"),
        ("min_confidence", "Kissing: 4 time spans under the 0.95 confidence minimum left out"),
    ]


def test_span_confidence_decides_its_marker() -> None:
    answer = build_result(
        {"acts": [("Dancing", 0.9)]},
        {
            "acts": {
                "Dancing": [
                    {"start": 10, "end": 12, "confidence": 0.4},
                    {"start": 50, "end": 58, "totalConfidence": 9.0},
                ]
            }
        },
        with_confidence=True,
    )
    planned = plan(answer, rulebook=rules(Dancing={"min_confidence": 0.6}))
    # 50-58 covers 10 s: totalConfidence 9.0 over 10 s is 0.9
    assert rows(planned) == [
        ("tags", "Dancing_AI", 0.9),
        ("markers", ("Dancing_AI", 50.0, 58.0), 0.9),
    ]
    assert notes(planned) == [
        ("min_confidence", "Dancing: 1 time span under the 0.6 confidence minimum left out")
    ]


def test_merging_minimum_length_and_cap() -> None:
    book = rules(Kissing={"merge_gap_seconds": 4, "min_marker_seconds": 8, "max_markers": 1})
    planned = plan(KITCHEN, rulebook=book)
    # 20-30 and 36-40 are 4 s apart (30 + 2 s frame to 36): one marker 20-40 (22 s);
    # 70-72 (4 s) is too short; 100-130 (32 s) is the longest, so the cap keeps it
    assert [r for r in rows(planned) if r[1][0] == "Kissing_AI"] == [
        ("markers", ("Kissing_AI", 100.0, 130.0), 0.9)
    ]
    assert notes(planned) == [
        ("min_marker_seconds", "Kissing: 1 marker shorter than 8 s left out (at 1:10)"),
        ("max_markers", "Kissing: 1 marker over the limit of 1 per scene left out (at 0:20)"),
    ]
    no_markers = plan(KITCHEN, rulebook=rules(Kissing={"max_markers": 0}))
    assert [r[1] for r in rows(no_markers) if r[0] == "markers"] == [("Kitchen_AI", 10.0, 11.0)]
    assert ("tags", "Kissing_AI", 0.9) in rows(no_markers)


def test_the_default_rule_applies_to_every_tag_a_tag_rule_overrides_it() -> None:
    book = rules(default={"min_marker_seconds": 10}, Kitchen={"min_marker_seconds": 0})
    planned = plan(KITCHEN, rulebook=book)
    assert [r[1] for r in rows(planned) if r[0] == "markers"] == [
        ("Kitchen_AI", 10.0, 11.0),
        ("Kissing_AI", 20.0, 30.0),
        ("Kissing_AI", 100.0, 130.0),
    ]


def test_policy_map_uses_stash_tags_by_name_or_alias() -> None:
    resolver = TagResolver(policy="map", known_tags=[("kitchen", []), ("Kiss", ["Kissing"])])
    planned = plan(KITCHEN, resolver=resolver, existing=["KISS"])
    # the scene already has the aliased tag: only its markers are new
    assert rows(planned)[:2] == [
        ("tags", "kitchen", 0.8),
        ("markers", ("kitchen", 10.0, 11.0), 0.8),
    ]
    assert {r[1][0] for r in rows(planned) if r[0] == "markers"} == {"kitchen", "Kiss"}


def test_policy_map_missing_tags_are_created_with_the_suffix_or_left_out() -> None:
    known = [("Kitchen", [])]
    created = plan(
        KITCHEN, create_markers=False, resolver=TagResolver(policy="map", known_tags=known)
    )
    assert rows(created) == [("tags", "Kitchen", 0.8), ("tags", "Kissing_AI", 0.9)]
    skipped = plan(
        KITCHEN, resolver=TagResolver(policy="map", create_missing=False, known_tags=known)
    )
    assert [r[1] for r in rows(skipped)] == ["Kitchen", ("Kitchen", 10.0, 11.0)]
    assert notes(skipped) == [
        (
            "create_missing_tags",
            "Kissing: Stash has no tag of that name "
            "or alias, and analysis.create_missing_tags is off",
        )
    ]


def test_the_mapping_table_wins_over_the_policy() -> None:
    resolver = TagResolver(
        policy="suffix",
        mappings=[("kitchen", "Cooking", False), ("KISSING", None, True)],
        known_tags=[("cooking", [])],
    )
    planned = plan(KITCHEN, resolver=resolver)
    assert rows(planned) == [("tags", "cooking", 0.8), ("markers", ("cooking", 10.0, 11.0), 0.8)]
    assert notes(planned) == [("mapping", "Kissing: ignored by the tag mapping")]


def test_existing_tags_and_markers_are_not_proposed_again() -> None:
    planned = plan(
        KITCHEN,
        existing=["kitchen_ai"],
        markers=[MarkerInfo("KISSING_AI", 20.9), MarkerInfo("Kissing_AI", 100)],
    )
    assert rows(planned) == [
        ("tags", "Kissing_AI", 0.9),
        ("markers", ("Kitchen_AI", 10.0, 11.0), 0.8),
        ("markers", ("Kissing_AI", 36.0, 40.0), 0.9),
        ("markers", ("Kissing_AI", 70.0, 72.0), 0.9),
    ]


def test_covered_seconds_counts_overlaps_once() -> None:
    spans = [
        TagTimespan("c", "t", 0, 10),
        TagTimespan("c", "t", 5, 12),
        TagTimespan("c", "t", 30, None),
    ]
    assert covered_seconds(spans, 2.0) == 14.0 + 2.0
    assert covered_seconds(spans, 2.0, duration=10) == 10

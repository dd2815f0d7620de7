"""Detectors: path mapping, video-tag semantics, AI status tags, path-based matching."""

from __future__ import annotations

from stashdesk.analysis.detectors import (
    PathDetector,
    keep_confident,
    map_path,
    status_tag_changes,
)
from stashdesk.analysis.scenes import KnownName, MarkerInfo, SceneSnapshot
from stashdesk.analysis.video_tag_plan import video_tag_changes
from stashdesk.clients.video_tags import parse_video_tag_answer
from tests.standins.video_tag_server import build_result


def scene(**kw) -> SceneSnapshot:
    return SceneSnapshot(
        kw.pop("id", "1"),
        kw.pop("title", None),
        kw.pop("paths", ["/data/a.mp4"]),
        tag_names=kw.pop("tags", []),
        performer_names=kw.pop("performers", []),
        **kw,
    )


def values(changes, field=None, action=None):
    return [
        c.proposed_value
        for c in changes
        if (field is None or c.field == field) and (action is None or c.action == action)
    ]


def test_map_path_longest_prefix_on_whole_components() -> None:
    pairs = ["/data=/mnt/media", "/data/special=/srv/special/"]
    assert map_path("/data/x/y.mp4", pairs) == "/mnt/media/x/y.mp4"
    assert map_path("/data/special/z.mp4", pairs) == "/srv/special/z.mp4"
    assert map_path("/database/z.mp4", pairs) == "/database/z.mp4"
    assert map_path("/other/z.mp4", pairs) == "/other/z.mp4"
    assert map_path("/data/", ["/data/=/m"]) == "/m/"
    assert map_path("/x.mp4", []) == "/x.mp4"


def test_video_tags_become_ai_tags_and_markers() -> None:
    answer = build_result(
        {"actions": ["Kissing", "Dancing"], "place": ["Beach"]},
        {"actions": {"Dancing": [(0, 5), (12.4, 20), (12.9, 14), (30, 31)]}},
    )
    result = parse_video_tag_answer(answer)
    found = video_tag_changes(
        scene(tags=[], markers=[MarkerInfo("dancing_ai", 30.0)]),
        result,
        threshold=0.3,
        create_markers=True,
    )
    assert values(found, "tags", "add") == ["Kissing_AI", "Dancing_AI", "Beach_AI"]
    markers = values(found, "markers", "add")
    # 0 s dropped; 12.4 and 12.9 are the same second; 30 s exists already (any case)
    assert markers == [
        {"title": "Dancing_AI", "seconds": 12.4, "end_seconds": 20.0, "primary_tag": "Dancing_AI"}
    ]
    # bare names count as fully confident
    assert {c.confidence for c in found} == {1.0}
    no_markers = video_tag_changes(scene(), result, threshold=0.3, create_markers=False)
    assert values(no_markers, "markers") == []


def test_confidence_and_threshold_filtering() -> None:
    answer = build_result(
        {"c": [("Low", 0.2), ("High", 0.8)], "d": [("High", 0.5)]},
        {"c": {"Low": [(10, 12)], "High": [(40, 41)]}},
        with_confidence=True,
    )
    result = parse_video_tag_answer(answer)
    found = video_tag_changes(scene(), result, threshold=0.3, create_markers=True)
    assert values(found, "tags") == ["High_AI"]
    assert [c.confidence for c in found if c.field == "tags"] == [0.8]
    assert [v["title"] for v in values(found, "markers")] == ["High_AI"]
    assert video_tag_changes(scene(), result, threshold=0.9, create_markers=True) == []


def test_existing_tags_are_not_proposed_again() -> None:
    result = parse_video_tag_answer(build_result({"c": ["Kissing"]}))
    found = video_tag_changes(
        scene(tags=["kissing_ai"]), result, threshold=0.3, create_markers=True
    )
    assert found == []


def test_ai_status_tags() -> None:
    fresh = scene(tags=["AI_TagMe", "Other"])
    ok = status_tag_changes(fresh, success=True)
    assert [(c.action, c.proposed_value) for c in ok] == [
        ("remove", "AI_TagMe"),
        ("add", "AI_Tagged"),
    ]
    failed = status_tag_changes(fresh, success=False)
    assert [(c.action, c.proposed_value) for c in failed] == [
        ("remove", "AI_TagMe"),
        ("add", "AI_Errored"),
    ]
    # a retry that succeeds clears the earlier error; nothing is proposed twice
    retried = status_tag_changes(scene(tags=["ai_errored"]), success=True)
    assert [(c.action, c.proposed_value) for c in retried] == [
        ("add", "AI_Tagged"),
        ("remove", "AI_Errored"),
    ]
    assert status_tag_changes(scene(tags=["AI_Tagged"]), success=True) == []


def known(*entries) -> list[KnownName]:
    out = []
    for kind, name, *aliases in entries:
        out.append(KnownName(kind, name, name, False))
        out.extend(KnownName(kind, name, alias, True) for alias in aliases)
    return out


def test_path_detection_whole_words_case_insensitive_and_aliases() -> None:
    detector = PathDetector(
        known(
            ("performers", "Jane Doe", "JD Star"),
            ("performers", "Ann"),
            ("tags", "Outdoor"),
            ("tags", "Pool", "Swimming Pool"),
            ("tags", "Art"),
            ("studio", "Brazzers"),
            ("studio", "Brazzers Exxtra"),
            ("tags", "AI_Tagged"),
            ("tags", "x"),
        )
    )
    s = scene(
        paths=["/library/Brazzers Exxtra/OUTDOOR-party_by (jd-star).mp4"],
        title="Annie by the swimming pool",
        tags=[],
        performers=[],
    )
    found = detector.detect(s)
    assert sorted(values(found, "performers")) == ["Jane Doe"]  # "Annie" is not "Ann"
    assert sorted(values(found, "tags")) == ["Outdoor", "Pool"]  # "party" is not "Art"
    assert values(found, "studio", "set") == ["Brazzers Exxtra"]  # the most specific
    by_value = {c.proposed_value: c.confidence for c in found}
    assert by_value["Jane Doe"] == 0.8 and by_value["Pool"] == 0.9  # aliases rank lower


def test_path_detection_skips_what_the_scene_has_and_ambiguous_studios() -> None:
    detector = PathDetector(
        known(
            ("tags", "Outdoor"), ("performers", "Jane Doe"), ("studio", "Alpha"), ("studio", "Beta")
        )
    )
    s = scene(
        paths=["/v/alpha beta/jane doe outdoor.mp4"], tags=["outdoor"], performers=["JANE DOE"]
    )
    assert detector.detect(s) == []  # two studios tie: none proposed
    with_studio = scene(paths=["/v/alpha/x.mp4"], studio_name="Gamma")
    assert values(detector.detect(with_studio), "studio") == []
    # the file extension is not a word of the path
    assert PathDetector(known(("tags", "MP4"))).detect(scene(paths=["/v/a.mp4"])) == []


def test_keep_confident() -> None:
    answer = build_result({"c": [("A", 0.29), ("B", 0.3)]}, with_confidence=True)
    found = video_tag_changes(
        scene(), parse_video_tag_answer(answer), threshold=0.0, create_markers=False
    )
    assert values(keep_confident(found, 0.3)) == ["B_AI"]

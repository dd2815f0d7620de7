"""Tests of the Stash stand-in itself (tests/standins/stash_server.py).

They talk to the real HTTP server with httpx, the way StashDesk's client will,
and check the stand-in's schema against upstream Stash's.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    build_schema,
    is_non_null_type,
    parse,
    specified_scalar_types,
    validate,
)

from tests import upstream_schema
from tests.standins.stash_server import (
    SCHEMA_PATH,
    StashStandin,
    default_cover,
    rfc3339,
    stash_schema,
)

# ----------------------------------------------------------------------------- documents

SCENE_FIELDS = """
  id title details date rating100 organized created_at updated_at
  files { id path size duration width height basename }
  tags { id name } performers { id name } studio { id name }
  scene_markers { id title seconds end_seconds primary_tag { id name } }
"""
FIND_SCENES = (
    "query FindScenes($scene_filter: SceneFilterType, $ids: [ID!], $filter: FindFilterType) {"
    " findScenes(scene_filter: $scene_filter, ids: $ids, filter: $filter) {"
    " count duration filesize scenes {" + SCENE_FIELDS + "} } }"
)
FIND_SCENE = "query FindScene($id: ID) { findScene(id: $id) {" + SCENE_FIELDS + "} }"
FIND_TAGS = (
    "query FindTags($tag_filter: TagFilterType, $filter: FindFilterType, $ids: [ID!]) {"
    " findTags(tag_filter: $tag_filter, filter: $filter, ids: $ids) {"
    " count tags { id name aliases } } }"
)
FIND_PERFORMERS = (
    "query FindPerformers($performer_filter: PerformerFilterType, $filter: FindFilterType) {"
    " findPerformers(performer_filter: $performer_filter, filter: $filter) {"
    " count performers { id name alias_list disambiguation } } }"
)
FIND_STUDIOS = (
    "query FindStudios($studio_filter: StudioFilterType, $filter: FindFilterType) {"
    " findStudios(studio_filter: $studio_filter, filter: $filter) {"
    " count studios { id name aliases } } }"
)
FIND_MARKERS = (
    "query FindSceneMarkers($scene_marker_filter: SceneMarkerFilterType, $filter: FindFilterType) {"
    " findSceneMarkers(scene_marker_filter: $scene_marker_filter, filter: $filter) {"
    " count scene_markers { id title seconds end_seconds scene { id } primary_tag { name }"
    " tags { name } } } }"
)
JOB_FIELDS = "id status subTasks description progress startTime endTime addTime error"
FIND_JOB = "query FindJob($input: FindJobInput!) { findJob(input: $input) {" + JOB_FIELDS + "} }"
JOB_QUEUE = "query JobQueue { jobQueue {" + JOB_FIELDS + "} }"
VERSION = "query Version { version { version hash build_time } systemStatus { status appSchema } }"
SCENE_UPDATE = (
    "mutation SceneUpdate($input: SceneUpdateInput!) { sceneUpdate(input: $input) {"
    + SCENE_FIELDS
    + "} }"
)
BULK_SCENE_UPDATE = (
    "mutation BulkSceneUpdate($input: BulkSceneUpdateInput!) {"
    " bulkSceneUpdate(input: $input) { id updated_at tags { id name } performers { id } } }"
)
MARKER_CREATE = (
    "mutation SceneMarkerCreate($input: SceneMarkerCreateInput!) {"
    " sceneMarkerCreate(input: $input) { id title seconds end_seconds"
    " scene { id updated_at } primary_tag { id name } tags { id } } }"
)
TAG_CREATE = (
    "mutation TagCreate($input: TagCreateInput!) { tagCreate(input: $input) { id name aliases } }"
)
PERFORMER_CREATE = (
    "mutation PerformerCreate($input: PerformerCreateInput!) {"
    " performerCreate(input: $input) { id name alias_list } }"
)
STUDIO_CREATE = (
    "mutation StudioCreate($input: StudioCreateInput!) {"
    " studioCreate(input: $input) { id name aliases } }"
)
SCAN = "mutation MetadataScan($input: ScanMetadataInput!) { metadataScan(input: $input) }"
GENERATE = (
    "mutation MetadataGenerate($input: GenerateMetadataInput!) { metadataGenerate(input: $input) }"
)
STOP_JOB = "mutation StopJob($job_id: ID!) { stopJob(job_id: $job_id) }"

ALL_DOCUMENTS = [
    FIND_SCENES,
    FIND_SCENE,
    FIND_TAGS,
    FIND_PERFORMERS,
    FIND_STUDIOS,
    FIND_MARKERS,
    FIND_JOB,
    JOB_QUEUE,
    VERSION,
    SCENE_UPDATE,
    BULK_SCENE_UPDATE,
    MARKER_CREATE,
    TAG_CREATE,
    PERFORMER_CREATE,
    STUDIO_CREATE,
    SCAN,
    GENERATE,
    STOP_JOB,
]


# ----------------------------------------------------------------------------- helpers

Server = StashStandin
Client = httpx.Client


@pytest.fixture
def client(stash_server: StashStandin):
    with httpx.Client(base_url=stash_server.url, timeout=5) as http:
        yield http


def post(
    client: httpx.Client, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
) -> httpx.Response:
    return client.post("/graphql", json={"query": query, "variables": variables or {}}, **kwargs)


def data(client: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> dict:
    response = post(client, query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def errors(client: httpx.Client, query: str, variables: dict[str, Any] | None = None) -> list[str]:
    body = post(client, query, variables).json()
    return [e["message"] for e in body.get("errors", [])]


def scene_ids(client: Client, scene_filter: dict | None = None, **find_filter: Any) -> list[str]:
    result = data(client, FIND_SCENES, {"scene_filter": scene_filter, "filter": find_filter})
    return [s["id"] for s in result["findScenes"]["scenes"]]


def find_job(client: httpx.Client, job_id: str) -> dict | None:
    return data(client, FIND_JOB, {"input": {"id": job_id}})["findJob"]


# ----------------------------------------------------------------------------- upstream schema


def compatibility_problems(ours: GraphQLSchema, upstream: GraphQLSchema) -> list[str]:
    """Everything in ``ours`` that upstream lacks or types differently, plus upstream's
    required arguments/input fields that ours omits (a client would not know to send them)."""
    builtin = {getattr(t, "name", t) for t in specified_scalar_types}  # dict in graphql-core 3.3
    problems: list[str] = []

    def compare_inputs(where: str, mine: dict, theirs: dict) -> None:
        for name, value in mine.items():
            if name not in theirs:
                problems.append(f"{where}.{name} does not exist upstream")
            elif str(value.type) != str(theirs[name].type):
                problems.append(f"{where}.{name}: {value.type} here, {theirs[name].type} upstream")
        for name, value in theirs.items():
            required = is_non_null_type(value.type) and value.default_value is Undefined
            if required and name not in mine:
                problems.append(f"{where}.{name} is required upstream but missing here")

    for name, mine in ours.type_map.items():
        if name.startswith("__") or name in builtin:
            continue
        theirs = upstream.type_map.get(name)
        if theirs is None:
            problems.append(f"type {name} does not exist upstream")
        elif type(theirs) is not type(mine):
            problems.append(f"type {name} is a {type(theirs).__name__} upstream")
        elif isinstance(mine, GraphQLEnumType):
            problems += [
                f"enum value {name}.{v} does not exist upstream"
                for v in mine.values
                if v not in theirs.values
            ]
        elif isinstance(mine, (GraphQLObjectType, GraphQLInterfaceType)):
            for field_name, field in mine.fields.items():
                their_field = theirs.fields.get(field_name)
                if their_field is None:
                    problems.append(f"field {name}.{field_name} does not exist upstream")
                    continue
                if str(field.type) != str(their_field.type):
                    problems.append(
                        f"field {name}.{field_name}: {field.type} here, {their_field.type} upstream"
                    )
                compare_inputs(f"argument {name}.{field_name}", field.args, their_field.args)
        elif isinstance(mine, GraphQLInputObjectType):
            compare_inputs(f"input {name}", mine.fields, theirs.fields)
    for root in ("query_type", "mutation_type", "subscription_type"):
        mine, theirs = getattr(ours, root), getattr(upstream, root)
        if mine is not None and (theirs is None or mine.name != theirs.name):
            problems.append(f"root {root} is named differently upstream")
    return problems


def test_schema_is_a_subset_of_upstream_stash(upstream_schema) -> None:
    upstream = upstream_schema
    ours = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert compatibility_problems(ours, upstream) == []


def test_compatibility_check_catches_differences(upstream_schema) -> None:
    upstream = upstream_schema
    wrong = build_schema("""
        type VideoFile { size: Int! path: String! nonsense: Int }
        input ScanMetadataInput { paths: [String] }
        input FindJobInput { other: ID }
        enum JobStatus { READY PAUSED }
        type Query { findJob(input: FindJobInput): VideoFile }
    """)
    problems = "\n".join(compatibility_problems(wrong, upstream))
    assert "VideoFile.size: Int! here, Int64! upstream" in problems
    assert "VideoFile.nonsense does not exist upstream" in problems
    assert "ScanMetadataInput.paths: [String] here, [String!] upstream" in problems
    assert "FindJobInput.id is required upstream but missing here" in problems
    assert "JobStatus.PAUSED" in problems
    assert "Query.findJob.input: FindJobInput here, FindJobInput! upstream" in problems


@pytest.mark.parametrize("document", ALL_DOCUMENTS)
def test_documents_used_here_are_valid_upstream(document: str, upstream_schema) -> None:
    assert validate(upstream_schema, parse(document)) == []
    assert validate(stash_schema(), parse(document)) == []


def test_require_upstream_schema_skips_locally_and_fails_on_ci(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setattr(upstream_schema, "UPSTREAM_SCHEMA_DIR", tmp_path / "missing")
    upstream_schema.load_schema.cache_clear()
    try:
        monkeypatch.delenv("CI", raising=False)
        with pytest.raises(pytest.skip.Exception, match="STASHDESK_UPSTREAM_SCHEMA"):
            upstream_schema.require_upstream_schema()
        monkeypatch.setenv("CI", "true")
        with pytest.raises(pytest.fail.Exception):
            upstream_schema.require_upstream_schema()
    finally:
        upstream_schema.load_schema.cache_clear()


# ----------------------------------------------------------------------------- timestamps


def test_timestamps_are_local_rfc3339_text_to_the_second() -> None:
    moment = datetime(2026, 1, 15, 12, 0, 0, 987654, tzinfo=UTC)
    assert StashStandin(tz="+05:30").stamp(moment) == "2026-01-15T17:30:00+05:30"
    assert StashStandin(tz="-03:00").stamp(moment) == "2026-01-15T09:00:00-03:00"
    assert StashStandin(tz="UTC").stamp(moment) == "2026-01-15T12:00:00Z"
    new_york = StashStandin(tz="America/New_York")
    assert new_york.stamp(moment) == "2026-01-15T07:00:00-05:00"
    assert new_york.stamp(moment + timedelta(days=180)) == "2026-07-14T08:00:00-04:00"
    assert rfc3339(moment, UTC, fraction=True) == "2026-01-15T12:00:00.987654Z"


def test_default_zone_is_not_utc(stash_server: Server, client: Client) -> None:
    stash_server.freeze_time(datetime(2026, 3, 1, 4, 45, 30, tzinfo=UTC))
    stash_server.add_scene("A")
    scene = data(client, FIND_SCENE, {"id": "1"})["findScene"]
    assert scene["created_at"] == scene["updated_at"] == "2026-03-01T10:15:30+05:30"


def test_timestamp_filters_compare_text_not_instants(stash_server: Server, client: Client) -> None:
    stash_server.freeze_time("2026-03-01T10:15:30")  # server-local, +05:30
    stash_server.add_scene("local")  # stored "2026-03-01T10:15:30+05:30" (04:45:30Z)
    # 05:00Z is *later* than the scene's instant, but "10..." > "05..." as text:
    later_instant = {"value": "2026-03-01T05:00:00Z", "modifier": "GREATER_THAN"}
    assert scene_ids(client, {"updated_at": later_instant}) == ["1"]
    # the same stored text compared with its own value: not greater, but equal
    same = "2026-03-01T10:15:30+05:30"
    assert scene_ids(client, {"updated_at": {"value": same, "modifier": "GREATER_THAN"}}) == []
    assert scene_ids(client, {"updated_at": {"value": same, "modifier": "EQUALS"}}) == ["1"]
    assert scene_ids(client, {"created_at": {"value": same, "modifier": "LESS_THAN"}}) == []
    between = {
        "value": "2026-03-01T10:15:30+05:30",
        "value2": "2026-03-01T10:15:30+05:30",
        "modifier": "BETWEEN",
    }
    assert scene_ids(client, {"updated_at": between}) == ["1"]
    assert scene_ids(client, {"updated_at": {**between, "modifier": "NOT_BETWEEN"}}) == []
    # BETWEEN without value2: up to "now + 1 day", as Stash does
    open_between = {"value": "2026-03-01T00:00:00+05:30", "modifier": "BETWEEN"}
    assert scene_ids(client, {"updated_at": open_between}) == ["1"]


def test_same_second_edits_share_updated_at(stash_server: Server, client: Client) -> None:
    stash_server.freeze_time("2026-03-01T10:00:00")
    scene = stash_server.add_scene("first")
    watermark = data(client, FIND_SCENE, {"id": scene})["findScene"]["updated_at"]
    data(client, SCENE_UPDATE, {"input": {"id": scene, "title": "second"}})
    stash_server.edit_scene(scene, details="third")  # same second again
    updated = data(client, FIND_SCENE, {"id": scene})["findScene"]
    assert updated["updated_at"] == watermark
    assert (updated["title"], updated["details"]) == ("second", "third")
    greater = {"updated_at": {"value": watermark, "modifier": "GREATER_THAN"}}
    assert scene_ids(client, greater) == []  # a strict watermark misses same-second edits
    stash_server.advance(1)
    stash_server.edit_scene(scene, title="fourth")
    assert scene_ids(client, greater) == [scene]
    assert stash_server.scenes[scene].updated_at == "2026-03-01T10:00:01+05:30"


def test_seeded_timestamps_can_be_given_verbatim(stash_server: Server, client: Client) -> None:
    created, updated = "2025-01-01T00:00:00Z", "2025-11-01T09:00:00-04:00"  # e.g. before DST
    stash_server.add_scene("old", created_at=created, updated_at=updated)
    scene = data(client, FIND_SCENE, {"id": "1"})["findScene"]
    assert (scene["created_at"], scene["updated_at"]) == (created, updated)


# ----------------------------------------------------------------------------- paging & sorting


def test_paging_by_updated_at_breaks_ties_by_id(stash_server: Server, client: Client) -> None:
    stash_server.freeze_time("2026-03-01T10:00:00")
    for index in range(5):
        stash_server.add_scene(f"s{index}")  # ids 1-5, all in the same second
    stash_server.advance(1)
    stash_server.edit_scene("2", title="edited")  # newest
    stash_server.edit_scene("4", title="edited")
    pages = [
        scene_ids(client, sort="updated_at", direction="ASC", page=page, per_page=2)
        for page in (1, 2, 3)
    ]
    assert pages == [["1", "3"], ["5", "2"], ["4"]]
    newest_first = scene_ids(client, sort="updated_at", direction="DESC", per_page=-1)
    assert newest_first == ["2", "4", "1", "3", "5"]  # ties still by id ascending
    assert scene_ids(client, sort="title", per_page=-1) == ["2", "4", "1", "3", "5"]
    assert scene_ids(client, sort="id", direction="DESC", per_page=-1) == ["5", "4", "3", "2", "1"]
    assert "invalid sort: bogus" in errors(client, FIND_SCENES, {"filter": {"sort": "bogus"}})


def test_per_page_zero_counts_and_defaults(stash_server: Server, client: Client) -> None:
    for index in range(30):
        stash_server.add_scene(f"s{index:02d}", size=100, duration=10.0)
    result = data(client, FIND_SCENES, {"filter": {"per_page": 0}})["findScenes"]
    assert result == {"count": 30, "duration": 300.0, "filesize": 3000.0, "scenes": []}
    assert len(scene_ids(client)) == 25  # default per_page
    assert len(scene_ids(client, per_page=-1)) == 30
    assert len(scene_ids(client, page=2)) == 5
    limited = data(client, FIND_SCENES, {"filter": {"per_page": 3, "page": 4}})["findScenes"]
    assert limited["count"] == 30 and len(limited["scenes"]) == 3


# ----------------------------------------------------------------------------- filters


def test_and_or_not_sub_filters(stash_server: Server, client: Client) -> None:
    stash_server.add_scene("Beach day", "/media/a/beach.mp4", organized=True)
    stash_server.add_scene("Mountain", "/media/b/mountain.mp4", organized=False)
    stash_server.add_scene("Beach night", "/media/b/beach2.mp4", organized=False)
    beach = {"title": {"value": "beach", "modifier": "INCLUDES"}}
    in_b = {"path": {"value": "/media/b/", "modifier": "INCLUDES"}}
    assert scene_ids(client, {**beach, "AND": in_b}) == ["3"]
    assert scene_ids(client, {**beach, "OR": {"organized": False}}, sort="id") == ["1", "2", "3"]
    assert scene_ids(client, {**beach, "NOT": {"organized": True}}) == ["3"]
    assert scene_ids(client, {"NOT": beach}) == ["2"]  # no own criteria: the sub-filter alone
    assert scene_ids(client, {"OR": in_b}, sort="id") == ["2", "3"]
    mountain = {"title": {"value": "Mountain", "modifier": "EQUALS"}}
    nested = {"organized": False, "AND": {**in_b, "NOT": mountain}}
    assert scene_ids(client, nested) == ["3"]
    assert errors(client, FIND_SCENES, {"scene_filter": {"AND": beach, "OR": in_b}}) == [
        "cannot have AND and OR in the same filter"
    ]


def test_scalar_criteria(stash_server: Server, client: Client) -> None:
    stash_server.add_scene("One", rating100=20)
    stash_server.add_scene(None, "/x/Two.MP4", rating100=80, details="long text")
    stash_server.add_scene("Three")

    def ids(scene_filter: dict) -> list[str]:
        return scene_ids(client, scene_filter, sort="id")

    assert ids({"id": {"value": 1, "value2": 2, "modifier": "BETWEEN"}}) == ["1", "2"]
    assert ids({"id": {"value": 1, "value2": 2, "modifier": "NOT_BETWEEN"}}) == ["3"]
    assert ids({"id": {"value": 2, "modifier": "NOT_EQUALS"}}) == ["1", "3"]
    assert ids({"rating100": {"value": 50, "modifier": "GREATER_THAN"}}) == ["2"]
    assert ids({"rating100": {"value": 50, "modifier": "LESS_THAN"}}) == ["1"]
    assert ids({"rating100": {"value": 0, "modifier": "IS_NULL"}}) == ["3"]
    assert ids({"title": {"value": "", "modifier": "IS_NULL"}}) == ["2"]
    assert ids({"title": {"value": "", "modifier": "NOT_NULL"}}) == ["1", "3"]
    assert ids({"title": {"value": "one", "modifier": "EQUALS"}}) == ["1"]
    assert ids({"title": {"value": "one", "modifier": "NOT_EQUALS"}}) == ["2", "3"]
    assert ids({"title": {"value": "one three", "modifier": "INCLUDES"}}) == ["1", "3"]  # any word
    assert ids({"title": {"value": "one", "modifier": "EXCLUDES"}}) == ["2", "3"]
    assert ids({"path": {"value": "/x/two.mp4", "modifier": "EQUALS"}}) == ["2"]
    assert ids({"path": {"value": r"\.MP4$", "modifier": "MATCHES_REGEX"}}) == ["2"]
    assert ids({"details": {"value": "text", "modifier": "INCLUDES"}}) == ["2"]
    assert scene_ids(client, None, q="TWO") == ["2"]  # q also searches paths
    assert scene_ids(client, None, q="one -three") == ["1"]


def test_tag_performer_studio_criteria(stash_server: Server, client: Client) -> None:
    stash_server.add_scene("a", tags=["red", "blue"], performers=["Ann"], studio="ACME")
    stash_server.add_scene("b", tags=["red"], performers=["Bob"])
    stash_server.add_scene("c", markers=[("intro", 5.0, "green")])
    red, blue, green = (stash_server.tag_id(n) for n in ("red", "blue", "green"))

    def ids(scene_filter: dict) -> list[str]:
        return scene_ids(client, scene_filter, sort="id")

    assert ids({"tags": {"value": [red, blue], "modifier": "INCLUDES"}}) == ["1", "2"]
    assert ids({"tags": {"value": [red, blue], "modifier": "INCLUDES_ALL"}}) == ["1"]
    assert ids({"tags": {"value": [blue], "modifier": "EXCLUDES"}}) == ["2", "3"]
    assert ids({"tags": {"value": [red], "modifier": "INCLUDES", "excludes": [blue]}}) == ["2"]
    assert ids({"tags": {"value": [], "modifier": "IS_NULL", "depth": 0}}) == ["3"]
    # a marker's tag is not a scene tag
    assert ids({"tags": {"value": [green], "modifier": "INCLUDES"}}) == []
    assert ids({"performers": {"value": ["2"], "modifier": "INCLUDES"}}) == ["2"]
    assert ids({"studios": {"value": ["1"], "modifier": "INCLUDES"}}) == ["1"]
    assert ids({"studios": {"modifier": "IS_NULL"}}) == ["2", "3"]
    assert ids({"has_markers": "true"}) == ["3"]


def test_ids_bypass_filters_and_unknown_ids_fail(stash_server: Server, client: Client) -> None:
    for title in ("a", "b", "c"):
        stash_server.add_scene(title)
    no_match = {"title": {"value": "zzz", "modifier": "EQUALS"}}
    result = data(
        client,
        FIND_SCENES,
        {"ids": ["3", "1"], "filter": {"per_page": 1}, "scene_filter": no_match},
    )
    assert [s["id"] for s in result["findScenes"]["scenes"]] == ["3", "1"]  # as Stash: ids win
    stash_server.delete_scene("3")
    assert errors(client, FIND_SCENES, {"ids": ["1", "3"]}) == ["scene with id 3 not found"]
    assert data(client, FIND_SCENE, {"id": "3"}) == {"findScene": None}
    bad_id = errors(client, FIND_SCENE, {"id": "abc"})
    assert bad_id == ['strconv.Atoi: parsing "abc": invalid syntax']


# ----------------------------------------------------------------------------- mutations


def test_scene_update_replaces_lists_and_bumps(stash_server: Server, client: Client) -> None:
    stash_server.freeze_time("2026-03-01T10:00:00")
    scene = stash_server.add_scene("old", tags=["a", "b"], performers=["P"], studio="S")
    tag_c = stash_server.add_tag("c")
    stash_server.advance(60)
    updated = data(
        client,
        SCENE_UPDATE,
        {
            "input": {
                "id": scene,
                "title": "new",
                "details": "d",
                "date": "2026-02-01",
                "rating100": 80,
                "organized": True,
                "tag_ids": [tag_c],
                "performer_ids": [],
                "studio_id": None,
            }
        },
    )["sceneUpdate"]
    assert updated["title"] == "new" and updated["rating100"] == 80 and updated["organized"]
    assert [t["name"] for t in updated["tags"]] == ["c"]
    assert updated["performers"] == [] and updated["studio"] is None
    assert updated["updated_at"] == "2026-03-01T10:01:00+05:30"
    assert updated["created_at"] == "2026-03-01T10:00:00+05:30"
    assert errors(client, SCENE_UPDATE, {"input": {"id": "99"}}) == ["scene with id 99 not found"]


def test_bulk_scene_update_modes(stash_server: Server, client: Client) -> None:
    one = stash_server.add_scene("one", tags=["keep", "drop"])
    two = stash_server.add_scene("two", tags=["drop"])
    keep, drop = stash_server.tag_id("keep"), stash_server.tag_id("drop")
    new = stash_server.add_tag("new")
    performer = stash_server.add_performer("Pat")
    stash_server.advance(5)
    result = data(
        client,
        BULK_SCENE_UPDATE,
        {
            "input": {
                "ids": [one, two],
                "tag_ids": {"ids": [new, keep], "mode": "ADD"},
                "performer_ids": {"ids": [performer], "mode": "SET"},
            }
        },
    )["bulkSceneUpdate"]
    tag_names = [[t["name"] for t in s["tags"]] for s in result]
    assert tag_names == [["keep", "drop", "new"], ["drop", "new", "keep"]]
    assert all(s["updated_at"] == stash_server.stamp() for s in result)
    remove = {"ids": [one, two], "tag_ids": {"ids": [drop], "mode": "REMOVE"}}
    data(client, BULK_SCENE_UPDATE, {"input": remove})
    assert stash_server.scenes[one].tag_ids == [keep, new]
    assert stash_server.scenes[two].tag_ids == [new, keep]
    data(
        client,
        BULK_SCENE_UPDATE,
        {
            "input": {
                "ids": [two],
                "tag_ids": {"ids": [], "mode": "SET"},
                "organized": True,
                "title": "T",
            }
        },
    )
    assert (stash_server.scenes[two].tag_ids, stash_server.scenes[two].organized) == ([], True)
    failed = errors(client, BULK_SCENE_UPDATE, {"input": {"ids": [one, "99"], "title": "x"}})
    assert failed == ["scene with id 99 not found"] and stash_server.scenes[one].title == "one"


def test_scene_marker_create_bumps_the_scene(stash_server: Server, client: Client) -> None:
    stash_server.freeze_time("2026-03-01T10:00:00")
    scene = stash_server.add_scene("s")
    tag = stash_server.add_tag("Kiss")
    extra = stash_server.add_tag("Extra")
    stash_server.advance(2)
    marker = data(
        client,
        MARKER_CREATE,
        {
            "input": {
                "scene_id": scene,
                "title": "Kiss",
                "seconds": 12.5,
                "end_seconds": 20.0,
                "primary_tag_id": tag,
                "tag_ids": [extra],
            }
        },
    )["sceneMarkerCreate"]
    assert marker["scene"] == {"id": scene, "updated_at": "2026-03-01T10:00:02+05:30"}
    assert marker["primary_tag"] == {"id": tag, "name": "Kiss"}
    assert marker["tags"] == [{"id": extra}]
    found = data(
        client,
        FIND_MARKERS,
        {"scene_marker_filter": {"scenes": {"value": [scene], "modifier": "INCLUDES"}}},
    )
    assert found["findSceneMarkers"]["count"] == 1
    scene_data = data(client, FIND_SCENE, {"id": scene})["findScene"]
    assert scene_data["scene_markers"][0]["primary_tag"]["name"] == "Kiss"


def test_create_and_case_insensitive_name_lookup(stash_server: Server, client: Client) -> None:
    new_tag = {"name": "Big Hair", "aliases": ["bighair"]}
    tag = data(client, TAG_CREATE, {"input": new_tag})["tagCreate"]
    assert tag == {"id": "1", **new_tag}
    assert errors(client, TAG_CREATE, {"input": {"name": "big hair"}}) == [
        "tag with name 'big hair' already exists"
    ]
    assert errors(client, TAG_CREATE, {"input": {"name": "BIGHAIR"}}) == [
        "name 'BIGHAIR' is used as alias for 'Big Hair'"
    ]
    stash_server.add_tag("Hairy")
    equals = {"tag_filter": {"name": {"value": "big HAIR", "modifier": "EQUALS"}}}
    assert data(client, FIND_TAGS, equals)["findTags"]["tags"] == [tag]
    by_q = data(client, FIND_TAGS, {"filter": {"q": "HAIR", "sort": "name"}})["findTags"]
    assert [t["name"] for t in by_q["tags"]] == ["Big Hair", "Hairy"]
    alias = {"tag_filter": {"aliases": {"value": "BIGHAIR", "modifier": "EQUALS"}}}
    assert data(client, FIND_TAGS, alias)["findTags"]["count"] == 1

    new_performer = {"name": "Jane Doe", "alias_list": ["JD"]}
    performer = data(client, PERFORMER_CREATE, {"input": new_performer})
    assert performer["performerCreate"]["alias_list"] == ["JD"]
    jane = {"name": {"value": "jane doe", "modifier": "EQUALS"}}
    assert data(client, FIND_PERFORMERS, {"performer_filter": jane})["findPerformers"]["count"] == 1
    studio = data(client, STUDIO_CREATE, {"input": {"name": "ACME", "aliases": ["Acme Corp"]}})
    assert studio["studioCreate"]["id"] == "1"
    acm = {"name": {"value": "acm", "modifier": "INCLUDES"}}
    found = data(client, FIND_STUDIOS, {"studio_filter": acm})
    assert [s["name"] for s in found["findStudios"]["studios"]] == ["ACME"]
    assert errors(client, STUDIO_CREATE, {"input": {"name": "acme"}}) == [
        "studio with name 'acme' already exists"
    ]


# ----------------------------------------------------------------------------- jobs


def test_scan_job_lifecycle(stash_server: Server, client: Client) -> None:
    assert data(client, JOB_QUEUE)["jobQueue"] is None  # Stash answers null, not []
    scan_input = {"paths": ["/downloads/new"], "rescan": False}
    job_id = data(client, SCAN, {"input": scan_input})["metadataScan"]
    assert job_id == "1"
    assert stash_server.jobs[job_id].input == scan_input
    job = find_job(client, job_id)
    assert job["status"] == "READY" and job["description"] == "Scanning..."
    assert job["progress"] is None and job["addTime"] and job["startTime"] is None
    assert [j["id"] for j in data(client, JOB_QUEUE)["jobQueue"]] == [job_id]

    detail = ["Scanning /downloads/new"]
    stash_server.set_job(job_id, status="RUNNING", progress=0.25, sub_tasks=detail)
    job = find_job(client, job_id)
    assert (job["status"], job["progress"], job["subTasks"]) == ("RUNNING", 0.25, detail)
    assert job["startTime"] is not None and job["endTime"] is None

    stash_server.set_job(job_id, status="FINISHED", progress=1.0)
    job = find_job(client, job_id)
    assert job["status"] == "FINISHED" and job["endTime"] is not None and job["subTasks"] is None
    assert data(client, JOB_QUEUE)["jobQueue"] is None
    assert find_job(client, "42") is None


def test_generate_job_can_fail(stash_server: Server, client: Client) -> None:
    generate_input = {"covers": True, "phashes": True, "sceneIDs": ["3", "4"]}
    job_id = data(client, GENERATE, {"input": generate_input})["metadataGenerate"]
    assert stash_server.jobs[job_id].input == generate_input
    assert find_job(client, job_id)["description"] == "Generating..."
    stash_server.set_job(job_id, status="RUNNING")
    stash_server.set_job(job_id, status="FAILED", error="ffmpeg not found")
    job = find_job(client, job_id)
    assert (job["status"], job["error"]) == ("FAILED", "ffmpeg not found") and job["endTime"]


def test_stop_job(stash_server: Server, client: Client) -> None:
    running = data(client, GENERATE, {"input": {}})["metadataGenerate"]
    stash_server.set_job(running, status="RUNNING", progress=0.5)
    assert data(client, STOP_JOB, {"job_id": running}) == {"stopJob": True}
    assert stash_server.jobs[running].status == "STOPPING"
    job = find_job(client, running)  # the next observation finishes the cancellation
    assert job["status"] == "CANCELLED" and job["endTime"] is not None

    stash_server.stopping_observations = 1
    slow_stop = stash_server.add_external_job("Auto tagging...")
    data(client, STOP_JOB, {"job_id": slow_stop})
    assert [j["status"] for j in data(client, JOB_QUEUE)["jobQueue"]] == ["STOPPING"]
    assert find_job(client, slow_stop)["status"] == "CANCELLED"

    ready = data(client, SCAN, {"input": {}})["metadataScan"]
    data(client, STOP_JOB, {"job_id": ready})
    job = find_job(client, ready)  # never started: cancelled at once, no endTime (as Stash)
    assert (job["status"], job["endTime"]) == ("CANCELLED", None)
    assert data(client, STOP_JOB, {"job_id": "999"}) == {"stopJob": True}
    assert stash_server.operations().count("stopJob") == 4


def test_job_script_advances_on_each_find_job(stash_server: Server, client: Client) -> None:
    stash_server.job_script = [("RUNNING", 0.0), ("RUNNING", 0.5), ("FINISHED", 1.0)]
    job_id = data(client, SCAN, {"input": {"paths": ["/a"]}})["metadataScan"]
    seen = [(j["status"], j["progress"]) for j in (find_job(client, job_id) for _ in range(4))]
    assert seen == [("RUNNING", 0.0), ("RUNNING", 0.5), ("FINISHED", 1.0), ("FINISHED", 1.0)]
    other = data(client, SCAN, {"input": {}})["metadataScan"]
    stash_server.script_job(other, [("FAILED", None)])
    assert find_job(client, other)["status"] == "FAILED"


def test_external_jobs_and_graveyard(stash_server: Server, client: Client) -> None:
    external = stash_server.add_external_job("Scanning...", progress=0.1, kind="scan")
    queue = data(client, JOB_QUEUE)["jobQueue"]
    listed = [(j["id"], j["status"], j["description"]) for j in queue]
    assert listed == [(external, "RUNNING", "Scanning...")]
    stash_server.set_job(external, status="FINISHED")
    for _ in range(stash_server.graveyard_size):
        stash_server.set_job(stash_server.add_external_job("other"), status="FINISHED")
    assert find_job(client, external) is None  # Stash forgets all but the last 10 finished jobs


# ----------------------------------------------------------------------------- faults


def test_unreachable_then_back_on_the_same_port(stash_server: Server, client: Client) -> None:
    url = stash_server.url
    assert data(client, VERSION)["version"]["version"]
    stash_server.stop()
    with pytest.raises(httpx.ConnectError):
        post(client, VERSION)
    stash_server.start()
    assert stash_server.url == url
    assert data(client, VERSION)["systemStatus"]["status"] == "OK"


def test_api_key(stash_server: Server, client: Client) -> None:
    stash_server.api_key = "secret"
    refused = post(client, VERSION)
    assert refused.status_code == 401 and refused.text == ""
    assert refused.headers["WWW-Authenticate"] == "FormBased"
    assert post(client, VERSION, headers={"ApiKey": "wrong"}).status_code == 401
    ok = post(client, VERSION, headers={"ApiKey": "secret"})
    assert ok.status_code == 200 and ok.json()["data"]["version"]
    assert stash_server.requests[-1].header("apikey") == "secret"
    assert [r.status for r in stash_server.requests] == [401, 401, 200]


def test_http_500_for_n_requests_and_until_cleared(stash_server: Server, client: Client) -> None:
    fault = stash_server.fail_http(500, times=2)
    assert [post(client, VERSION).status_code for _ in range(3)] == [500, 500, 200]
    assert fault.hits == 2
    stash_server.fail_http(503, body="maintenance")
    assert [post(client, VERSION).text for _ in range(3)] == ["maintenance"] * 3
    stash_server.clear_faults()
    assert post(client, VERSION).status_code == 200


def test_faults_scoped_to_an_operation(stash_server: Server, client: Client) -> None:
    stash_server.fail_graphql("scan path not in library", operation="metadataScan", times=1)
    assert data(client, VERSION)["version"]
    body = post(client, SCAN, {"input": {"paths": ["/x"]}}).json()
    error = {"message": "scan path not in library", "path": ["metadataScan"]}
    assert body == {"errors": [error], "data": None}
    assert data(client, SCAN, {"input": {"paths": ["/x"]}})["metadataScan"] == "1"
    stash_server.fail_http(500, operation="FindJob")  # operation names match too
    assert post(client, FIND_JOB, {"input": {"id": "1"}}).status_code == 500
    assert post(client, JOB_QUEUE).status_code == 200


@pytest.mark.parametrize("mode", ["not_json", "truncated", "no_data"])
def test_malformed_answers(stash_server: Server, client: Client, mode: str) -> None:
    stash_server.malformed(mode, times=1)
    response = post(client, VERSION)
    assert response.status_code == 200
    if mode == "no_data":
        assert "data" not in response.json() and "errors" not in response.json()
    else:
        with pytest.raises(ValueError):
            response.json()
    assert data(client, VERSION)["version"]


def test_slow_answers(stash_server: Server, client: Client) -> None:
    stash_server.slow(0.3, times=1)
    started = time.monotonic()
    assert post(client, VERSION).status_code == 200
    assert time.monotonic() - started >= 0.3
    stash_server.slow(0.5, times=1)
    with pytest.raises(httpx.ReadTimeout):
        post(client, VERSION, timeout=0.1)
    assert data(client, VERSION)["version"]  # the timed-out request does not block others


def test_slow_request_does_not_block_shutdown() -> None:
    server = StashStandin().start()
    server.slow(30)
    outcome: list[object] = []

    def request_in_background() -> None:
        try:
            outcome.append(post(http, VERSION))
        except httpx.HTTPError as exc:
            outcome.append(exc)

    with httpx.Client(base_url=server.url, timeout=5) as http:
        thread = threading.Thread(target=request_in_background)
        thread.start()
        while not server.requests:
            time.sleep(0.01)
        started = time.monotonic()
        server.stop()
        thread.join()
    assert time.monotonic() - started < 5
    assert isinstance(outcome[0], (httpx.RemoteProtocolError, httpx.ReadError))  # no answer
    assert not [t for t in threading.enumerate() if t.name.startswith("stash-standin")]


def test_invalid_documents_and_bodies(stash_server: Server, client: Client) -> None:
    invalid = post(client, "{ findScenes { nope } }")
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert invalid.json()["data"] is None
    unparsable = post(client, "{ findScenes ")
    assert unparsable.status_code == 422
    assert unparsable.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    bad_variable = post(client, FIND_JOB, {"input": {"id": None}})
    assert bad_variable.status_code == 422
    as_json = {"Content-Type": "application/json"}
    assert client.post("/graphql", content=b"{", headers=as_json).status_code == 400
    as_text = {"Content-Type": "text/plain"}
    assert client.post("/graphql", content=b"query", headers=as_text).status_code == 400
    assert client.post("/elsewhere", json={}).status_code == 404


def test_request_log(stash_server: Server, client: Client) -> None:
    data(client, SCAN, {"input": {"paths": ["/downloads/a", "/downloads/b"]}})
    data(client, "query { version { version } jobQueue { id } }")
    data(client, STOP_JOB, {"job_id": "1"})
    assert stash_server.operations() == ["metadataScan", "version", "jobQueue", "stopJob"]
    [scan] = stash_server.requests_for("metadataScan")
    assert scan.variables == {"input": {"paths": ["/downloads/a", "/downloads/b"]}}
    assert scan.operation_name == "MetadataScan" and scan.operation_type == "mutation"
    assert scan.header("content-type") == "application/json" and scan.status == 200
    assert stash_server.requests_for("StopJob")[0].root_fields == ["stopJob"]
    stash_server.clear_requests()
    assert stash_server.operations() == []


async def test_usable_from_asyncio(stash_server: StashStandin) -> None:
    stash_server.add_scene("async")
    async with httpx.AsyncClient(base_url=stash_server.url) as http:
        response = await http.post("/graphql", json={"query": FIND_SCENES, "variables": {}})
    assert response.json()["data"]["findScenes"]["scenes"][0]["title"] == "async"


def test_seeding_helpers(stash_server: StashStandin) -> None:
    scene = stash_server.add_scene(
        "multi",
        ["/a/one.mp4", "/a/two.mp4"],
        tags=["T"],
        performers=["P"],
        studio="S",
        markers=[
            {"title": "m", "seconds": 3.0, "primary_tag": "M", "end_seconds": 4.0, "tags": ["T"]}
        ],
    )
    assert [f.basename for f in stash_server.scenes[scene].files] == ["one.mp4", "two.mp4"]
    assert stash_server.add_scene("again", tags=["t"]) == "2"
    assert len(stash_server.tags) == 2  # "T" and "M"; "t" matched "T" case-insensitively
    stash_server.edit_scene(scene, tags=["new"], studio=None, path="/b/moved.mp4")
    assert stash_server.scenes[scene].files[0].path == "/b/moved.mp4"
    assert stash_server.scenes[scene].studio_id is None
    with pytest.raises(TypeError):
        stash_server.edit_scene(scene, bogus=1)
    stash_server.delete_scene(scene)
    assert scene not in stash_server.scenes and not stash_server.markers


# ----------------------------------------------------------------------------- covers, UI, tags

MEDIA = (
    "query Media($id: ID) { findScene(id: $id) { id paths { screenshot } } configuration { ui } }"
)
TAG_WITH_PARENT = (
    "mutation TagCreate($input: TagCreateInput!) { tagCreate(input: $input) {"
    " id name ignore_auto_tag parents { name } } }"
)


def test_covers_ui_configuration_and_tag_parents(stash_server: Server, client: Client) -> None:
    scene = stash_server.add_scene("One", updated_at="2026-01-02T03:04:05Z")
    stash_server.ui_config["vrTag"] = "VR"
    answer = data(client, MEDIA, {"id": scene})
    url = answer["findScene"]["paths"]["screenshot"]
    assert url == f"{stash_server.url}/scene/{scene}/screenshot?t=1767323045"
    assert answer["configuration"] == {"ui": {"vrTag": "VR"}}
    stash_server.api_key = "secret"
    with httpx.Client(timeout=10) as http:
        assert http.get(url).status_code == 401
        cover = http.get(url, headers={"ApiKey": "secret"})
        assert cover.status_code == 200 and cover.headers["content-type"] == "image/png"
        assert cover.content == default_cover(scene)
        stash_server.covers[scene] = b"\xff\xd8\xffJPEG"
        assert http.get(url, headers={"ApiKey": "secret"}).content == b"\xff\xd8\xffJPEG"
        assert (
            http.get(
                f"{stash_server.url}/scene/99/screenshot", headers={"ApiKey": "secret"}
            ).status_code
            == 404
        )
    stash_server.api_key = None
    parent = stash_server.add_tag("AI")
    made = data(
        client,
        TAG_WITH_PARENT,
        {"input": {"name": "Kissing_AI", "ignore_auto_tag": True, "parent_ids": [parent]}},
    )["tagCreate"]
    assert made == {
        "id": made["id"],
        "name": "Kissing_AI",
        "ignore_auto_tag": True,
        "parents": [{"name": "AI"}],
    }
    assert errors(client, TAG_WITH_PARENT, {"input": {"name": "X", "parent_ids": ["77"]}}) == [
        "tag with id 77 not found"
    ]

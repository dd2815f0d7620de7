"""AI tagging from the command line and over the engine API: the mapping's CSV round
trip, rules, reviewing by tag and scene, the review view with covers, analysing again."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from stashdesk.engine_client.local import LocalClient
from stashdesk.jobs.base import JobStatus
from tests.cli_helpers import cli_json, run_cli
from tests.integration.test_analysis_review import API_KEY, answers, seed_library
from tests.standins.stash_server import default_cover


def test_the_mapping_and_the_rules_from_the_command_line(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert run_cli(data_dir, "analysis", "map", "set", "Cuisine", "Kitchen").returncode == 0
    assert run_cli(data_dir, "analysis", "map", "ignore", "Watermark").returncode == 0
    exported = tmp_path / "map.csv"
    assert run_cli(data_dir, "analysis", "map", "export", str(exported)).returncode == 0
    assert exported.read_text().splitlines() == [
        "ai_tag,stash_tag,ignore",
        "Cuisine,Kitchen,false",
        "Watermark,,true",
    ]
    assert run_cli(data_dir, "analysis", "map", "remove", "Cuisine").returncode == 0
    assert [m["ai_tag"] for m in cli_json(data_dir, "analysis", "map", "list", "--json")] == [
        "Watermark"
    ]
    imported = run_cli(data_dir, "analysis", "map", "import", str(exported), "--replace")
    assert imported.returncode == 0, imported.stderr
    assert {
        (m["ai_tag"], m["stash_tag"], m["ignore"])
        for m in cli_json(data_dir, "analysis", "map", "list", "--json")
    } == {("Cuisine", "Kitchen", False), ("Watermark", None, True)}
    bad = tmp_path / "bad.csv"
    bad.write_text("ai_tag,stash_tag,ignore\n,Kitchen,false\n")
    refused = run_cli(data_dir, "analysis", "map", "import", str(bad))
    assert refused.returncode == 2 and "line 2" in refused.stderr

    assert (
        run_cli(
            data_dir, "analysis", "rules", "set", "Cuisine", "min_on_screen=10s", "max_markers=2"
        ).returncode
        == 0
    )
    assert run_cli(data_dir, "analysis", "rules", "set", "min_confidence=0.6").returncode == 0
    rules = cli_json(data_dir, "analysis", "rules", "list", "--json")
    assert rules["default"]["rule"]["min_confidence"] == 0.6
    cuisine = next(r for r in rules["tags"] if r["ai_tag"] == "Cuisine")
    assert cuisine["rule"]["max_markers"] == 2 and cuisine["rule"]["min_on_screen"] == "10s"
    assert (
        run_cli(data_dir, "analysis", "rules", "set", "Cuisine", "max_markers=lots").returncode == 2
    )
    assert run_cli(data_dir, "analysis", "rules", "reset", "Cuisine").returncode == 0
    assert cli_json(data_dir, "analysis", "rules", "list", "--json")["tags"] == []


async def test_review_over_the_client_interface(engines, stash_server, video_tag_server) -> None:
    first, _second = seed_library(stash_server)
    stash_server.api_key = API_KEY
    services = await engines.start(
        settings={
            "stash.url": stash_server.url,
            "stash.api_key": API_KEY,
            "analysis.video_server_url": video_tag_server.url,
        }
    )
    client = LocalClient.of(engines.engine)
    await client.start()
    ops = client.ops
    sync = await ops.submit_job("SYNC", {"full_resync": True})
    assert (await services.runner.wait(sync["job_id"], 20)).status == JobStatus.COMPLETED
    answers(video_tag_server)
    job = await ops.submit_job("ANALYSIS", {"scene_ids": [first], "detectors": ["video_tags"]})
    assert (await services.runner.wait(job["job_id"], 20)).status == JobStatus.COMPLETED
    plan_id = (await ops.get_job(job["job_id"]))["plan_id"]
    view = await ops.plan_review(plan_id)
    scene = view["scenes"][0]
    assert scene["scene_id"] == first and scene["title"] == "Breakfast"
    assert scene["studio"] == "Acme" and scene["duration"] == 600
    markers = [c for c in scene["changes"] if c["field"] == "markers"]
    assert markers and all(f"/scenes/{first}?t=" in c["url"] for c in markers)
    cover = await ops.scene_cover(first)
    assert cover["error"] is None and base64.b64decode(cover["data"]) == default_cover(first)
    reviewed = await ops.review_plan(plan_id, "reject", tag="Cuisine_AI")
    assert reviewed["count"] >= 1
    again = await ops.plan_review(plan_id, scene_ids=[first])
    rejected = {
        c["status"]
        for c in again["scenes"][0]["changes"]
        if "Cuisine" in json.dumps(c["proposed_value"])
    }
    assert rejected == {"rejected"}
    assert (await ops.review_plan(plan_id, "approve", scene_ids=[first]))["count"] >= 1
    await client.close()


def test_analysing_again_with_no_engine_is_kept_for_the_daemon(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    done = run_cli(data_dir, "analysis", "run", "--scene", "5", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["unknown"] == ["5"]

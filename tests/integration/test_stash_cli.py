"""``stashdesk stash sync|scan|generate`` against a headless engine and the stand-in."""

from __future__ import annotations

from pathlib import Path

from tests.cli_helpers import HeadlessProcess, cli_json, query, run_cli


def test_stash_commands_start_jobs_in_the_running_engine(tmp_path: Path, stash_server) -> None:
    data_dir = tmp_path / "data"
    for i in range(3):
        stash_server.add_scene(f"Scene {i}")
    stash_server.job_script = [("RUNNING", 0.5), ("FINISHED", 1.0)]
    assert run_cli(data_dir, "config", "set", "stash.url", stash_server.url).returncode == 0
    refused = run_cli(data_dir, "stash", "sync")
    assert refused.returncode != 0 and "no StashDesk engine is running" in refused.stderr

    engine = HeadlessProcess(data_dir, tmp_path / "engine.log")
    try:
        engine.wait_for(lambda: "engine running" in engine.log(), what="start-up")

        def finished(job_id: str) -> tuple | None:
            rows = query(data_dir, "SELECT status, result FROM job WHERE id=?", (job_id,))
            return rows[0] if rows and rows[0][0] not in ("pending", "running") else None

        sync = cli_json(data_dir, "stash", "sync", "--full", "--json")
        assert sync["job_type"] == "SYNC"
        status, _result = engine.wait_for(lambda: finished(sync["job_id"]), what="the sync")
        assert status == "completed"
        assert query(data_dir, "SELECT count(*) FROM scene") == [(3,)]
        assert query(data_dir, "SELECT metadata FROM job WHERE id=?", (sync["job_id"],)) == [
            ('{"full_resync":true}',)
        ]

        scan = run_cli(data_dir, "stash", "scan", "/data/new")
        assert scan.returncode == 0 and scan.stdout.startswith("Started STASH_SCAN job ")
        scan_id = scan.stdout.split()[-1]
        assert engine.wait_for(lambda: finished(scan_id), what="the scan")[0] == "completed"
        assert stash_server.requests_for("metadataScan")[0].variables["input"] == {
            "paths": ["/data/new"]
        }

        generate = cli_json(data_dir, "stash", "generate", "--scene", "1", "--json")
        assert (
            engine.wait_for(lambda: finished(generate["job_id"]), what="generation")[0]
            == "completed"
        )
        assert query(data_dir, "SELECT id FROM scene WHERE generated") == [("1",)]
    finally:
        assert engine.terminate() == 0

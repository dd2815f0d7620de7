"""How each job type's result reads: summaries, failed items, final messages."""

from __future__ import annotations

from stashdesk.jobs.outcomes import describe, final_message, job_title


def test_job_types_read_by_name() -> None:
    assert job_title("STASH_SCAN") == "Stash scan"
    assert job_title("PROCESS_DOWNLOADS") == "Download processing"
    assert job_title("TEST_STEPS") == "Test steps"  # any other type still reads


def test_downloads_summary_names_what_was_placed_and_refused() -> None:
    result = {
        "files_linked": 3,
        "files_copied": 0,
        "torrents_processed": 2,
        "failed": 1,
        "torrents": [{"name": "A"}, {"name": "B"}, {"name": "C"}],
        "failures": [{"hash": "h", "name": "C", "reason": "content missing"}],
    }
    described = describe("PROCESS_DOWNLOADS", "completed", result)
    assert described["summary"] == (
        "Placed 3 files from 2 torrents (3 hard-linked, 0 copied)"
        "; 1 torrent refused: content missing"
    )
    assert described["failures"] == 1 and described["failure_summary"] == "1 of 3 failed"
    assert described["failed_items"] == [{"item": "C", "reason": "content missing"}]


def test_sync_lists_each_failed_scene_and_counts_naturally() -> None:
    result = {
        "synced": 1,
        "created": 1,
        "updated": 0,
        "unchanged": 4,
        "failed": 1,
        "failed_scenes": {"17": "bad date"},
    }
    described = describe("SYNC", "completed", result)
    assert described["summary"] == "Checked 6 scenes: 1 new, 0 changed"
    assert described["failure_summary"] == "1 of 6 failed"
    assert described["failed_items"] == [{"item": "scene 17", "reason": "bad date"}]


def test_a_clean_job_has_no_failure_summary() -> None:
    described = describe("APPLY_PLAN", "completed", {"applied": 2, "selected": 2})
    assert (described["failures"], described["failure_summary"]) == (0, None)
    assert described["summary"] == "Applied 2 changes"


def test_final_messages_say_how_a_job_ended() -> None:
    assert final_message("STASH_SCAN", "completed", {"stash_job_id": "4"}, None) == "Scan finished"
    assert (
        final_message("STASH_GENERATE", "cancelled", None, "a scan started")
        == "Stash generate cancelled: a scan started"
    )
    assert (
        final_message("SYNC", "failed", None, "Stash unreachable")
        == "Stash sync failed: Stash unreachable"
    )
    assert (
        final_message(
            "APPLY_PLAN",
            "completed",
            {
                "applied": 1,
                "failed": 1,
                "selected": 2,
                "errors": [{"scene_id": "3", "field": "tags", "error": "HTTP 500"}],
            },
            None,
        )
        == "Applied 1 change - 1 of 2 failed"
    )

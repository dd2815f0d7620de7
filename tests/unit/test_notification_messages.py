"""What a failed delivery means, masking, and the text of the messages (pure functions)."""

from __future__ import annotations

from stashdesk.events import JobFinished
from stashdesk.notifications.delivery import describe_failure
from stashdesk.notifications.messages import JobContext, Message, job_messages
from stashdesk.notifications.targets import mask_url, secret_parts


def test_failures_say_what_to_do_and_whether_to_retry() -> None:
    denied = describe_failure(["Failed to send JSON POST notification: Forbidden, error=403."])
    assert (denied.error, denied.retry) == ("HTTP 403 - check the token", False)
    broken = describe_failure(["Failed to send Discord notification: error=502."])
    assert (broken.error, broken.retry) == ("HTTP 502 - the service had an error", True)
    busy = describe_failure(["Failed to send ntfy notification: Too Many Requests, error=429."])
    assert busy.retry and busy.error.startswith("HTTP 429")
    down = describe_failure(["A Connection error occurred sending JSON notification to nas."])
    assert down.retry and down.error.startswith("could not connect")
    slow = describe_failure(["A Connection error occurred sending JSON notification."], 15.0)
    assert slow.error.startswith("no answer within 15 seconds")
    assert describe_failure([]).retry


def test_urls_are_masked_and_their_tokens_known() -> None:
    url = "discord://123456789012345678/AbCdEfTokenXyz0123"
    assert mask_url(url) == "discord://********"
    parts = secret_parts(url)
    assert {url, "123456789012345678", "AbCdEfTokenXyz0123"} <= set(parts)
    parts = secret_parts("json://user:pa55word@nas.local:8080/hooks/abc?token=QwErTy123456")
    assert "pa55word" in parts and "QwErTy123456" in parts
    assert "nas.local" not in parts and "hooks" not in parts  # not secrets: left readable
    assert "mytopicsecret" in secret_parts("ntfy://mytopicsecret")


def _finished(job_type: str, status: str = "completed", **kwargs) -> JobFinished:
    return JobFinished(job_id="j-1", job_type=job_type, status=status, **kwargs)


def test_job_failures_counts_the_issue_11_key_and_older_failure_lists() -> None:
    context = JobContext("http://stash:9999", {"scene_ids": ["12"]})
    counted = job_messages(_finished("ANALYSIS", result={"failures": 1}), context)
    assert [m.event for m in counted] == ["job_failures"]
    assert counted[0].title == "Video analysis finished with 1 failure"
    assert counted[0].links == ("http://stash:9999/scenes/12",)
    listed = job_messages(
        _finished("PROCESS_DOWNLOADS", result={"failures": [{"name": "a"}, {"name": "b"}]}),
        JobContext("http://s", {}),
    )
    assert [m.title for m in listed] == ["Download processing finished with 2 failures"]
    assert job_messages(_finished("SYNC", result={"failures": 0}), context) == []
    assert job_messages(_finished("SYNC", "cancelled"), context) == []


def test_a_plan_its_daemon_applies_at_once_is_not_announced_for_review() -> None:
    result = {"plan_id": 4, "plan_status": "draft", "changes": 3, "analysed": 2}
    plan = {"id": 4, "name": "Auto Video Analysis - x", "scene_ids": ["1", "2"]}
    review = job_messages(_finished("ANALYSIS", result=result), JobContext("http://s", {}, plan))
    assert [m.event for m in review] == ["plan_ready"] and review[0].links == ()
    applied = job_messages(
        _finished("ANALYSIS", result=result), JobContext("http://s", {}, plan, auto_applied=True)
    )
    assert applied == []


def test_the_text_sent_carries_the_job_and_the_scene() -> None:
    message = Message(
        "job_failed", "SYNC job failed", "Stash is down.", "j-9", ("http://s/scenes/3",)
    )
    assert message.text() == (
        "Stash is down.\n\nJob: j-9 (details: stashdesk jobs show j-9)\nScene: http://s/scenes/3"
    )
    folded = message.folded(3, 300, message)
    assert folded.title == "SYNC job failed (3 more like this)"
    assert folded.body.endswith("3 more like this in the last 5 minutes.")

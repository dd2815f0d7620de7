"""Notifications through a real Apprise to JSON webhook targets on a real 127.0.0.1 server.

Each event reaches the targets that asked for it and no other; a failing target is
retried, then reported on the target, without delaying a daemon; URLs stay masked
in listings, logs, statuses and history; identical messages are folded.
"""

from __future__ import annotations

import logging
import time

import pytest

import tests.fake_plugins  # registers test-tick, test-crash, TEST_STEPS
from stashdesk.events import JobFinished, Notification
from stashdesk.notifications.messages import Message
from stashdesk.notifications.targets import NotificationSetupError
from stashdesk.options import OptionError
from stashdesk.settings import MASK
from stashdesk.store.models import (
    DaemonLog,
    DaemonStatus,
    NotificationTarget,
    Plan,
    PlanChange,
    Setting,
)
from tests.engine_fixtures import wait_until
from tests.fake_plugins import CrashingDaemon
from tests.standins.webhook_receiver import WebhookReceiver

TOKEN = "S3cretT0kenValue42"


def fast(services) -> None:
    """Retries and folding on a test's time scale."""
    center = services.notifications
    center.retry_delays = (0.05, 0.1, 0.2)
    center.fold_seconds = 0.6
    center.send_timeout = 5.0


async def add(services, receiver: WebhookReceiver, name: str, events: str) -> dict:
    return await services.notifications.add_target(name, receiver.target_url(name), events)


def finished(
    job_type: str, status: str = "completed", job_id: str = "job-1", **kwargs
) -> JobFinished:
    return JobFinished(job_id=job_id, job_type=job_type, status=status, **kwargs)


async def test_each_event_reaches_the_targets_that_asked_for_it_and_no_other(
    webhook_receiver: WebhookReceiver, services
) -> None:
    fast(services)
    center = services.notifications
    await add(services, webhook_receiver, "failures", "job_failed,daemon_crashed")
    await add(services, webhook_receiver, "library", "downloads_placed,plan_applied,plan_ready")
    await add(services, webhook_receiver, "everything", "all")
    await services.store.write(lambda: services.settings.set("stash.url", "http://nas:9999"))

    failing = await services.runner.submit(
        "TEST_STEPS", {"steps": 1, "fail": "disk full - free some space"}
    )
    await wait_until(lambda: webhook_receiver.received("everything"), message="job_failed")
    await center.wait_idle()
    sent = webhook_receiver.received("failures")
    assert [r.title for r in sent] == ["Test steps failed"]
    assert sent[0].payload["type"] == "failure"
    assert sent[0].message.startswith("disk full - free some space")
    assert f"Job: {failing.id}" in sent[0].message
    assert webhook_receiver.received("library") == []

    scene_plan = await services.store.write(lambda: _plan_with_one_scene("Auto Video Analysis"))
    services.bus.publish(
        finished(
            "APPLY_PLAN",
            job_id="apply-1",
            result={"plan_id": scene_plan, "applied": 3, "skipped": 1, "failed": 0},
        )
    )
    services.bus.publish(
        finished(
            "PROCESS_DOWNLOADS",
            job_id="dl-1",
            result={
                "files_linked": 2,
                "files_copied": 1,
                "torrents_processed": 2,
                "failures": [],
                "torrents": [
                    {"name": "Movie One", "status": "processed", "linked": 2, "copied": 0},
                    {"name": "Movie Two", "status": "processed", "linked": 0, "copied": 1},
                ],
            },
        )
    )
    await wait_until(lambda: len(webhook_receiver.received("library")) == 2)
    await center.wait_idle()
    library = {r.title: r.message for r in webhook_receiver.received("library")}
    assert library["Plan applied"].startswith(
        f'Plan {scene_plan} "Auto Video Analysis": 3 change(s) applied, 1 skipped, 0 failed.'
    )
    assert "Scene: http://nas:9999/scenes/77" in library["Plan applied"]
    assert "Job: apply-1" in library["Plan applied"]
    assert library["Downloads placed in the library"].startswith(
        "3 files from 2 downloads: Movie One, Movie Two."
    )
    assert len(webhook_receiver.received("failures")) == 1  # still only its own event

    everything = [r.title for r in webhook_receiver.received("everything")]
    assert sorted(everything) == [
        "Downloads placed in the library",
        "Plan applied",
        "Test steps failed",
    ]


def _plan_with_one_scene(name: str) -> int:
    now = time.time()
    plan = Plan.create(name=name, status="applied", created_at=now, updated_at=now)
    for field in ("tags", "markers"):
        PlanChange.create(
            plan=plan, scene_id="77", field=field, action="add", proposed_value="x", created_at=now
        )
    return plan.id


async def test_every_event_kind_has_its_message(webhook_receiver, services) -> None:
    fast(services)
    center = services.notifications
    await add(services, webhook_receiver, "all", "all")
    # job_failures: the keys issue 11 adds to job results
    services.bus.publish(
        finished(
            "SYNC",
            job_id="sync-9",
            result={"failures": 2, "failure_summary": "2 scenes could not be read from Stash"},
        )
    )
    # plan_ready: an analysis plan left for review (nobody applies it by itself)
    plan_id = await services.store.write(lambda: _plan_with_one_scene("Review me"))
    services.bus.publish(
        finished(
            "ANALYSIS",
            job_id="an-1",
            created_by=None,
            result={
                "plan_id": plan_id,
                "plan_status": "draft",
                "changes": 5,
                "analysed": 1,
                "errored": 0,
            },
        )
    )
    assert (
        center.report_health("Stash", False, "Stash is unreachable", "check stash.url")
        == "health_failed"
    )
    assert center.report_health("Stash", False, "Stash is unreachable") is None  # no repeat
    assert center.report_health("Stash", True) == "health_recovered"
    await wait_until(lambda: len(webhook_receiver.received("all")) == 4)
    await center.wait_idle()
    got = {r.title: r for r in webhook_receiver.received("all")}
    failures = got["Stash sync finished with 2 failures"]
    assert failures.payload["type"] == "warning"
    assert failures.message.startswith(
        "2 scenes could not be read from Stash. The job's details give each reason."
    )
    assert "Job: sync-9" in failures.message
    ready = got["Analysis plan ready for review"].message
    assert ready.startswith(
        f'Plan {plan_id} "Review me" proposes 5 changes for 1 scene. Review it on the Plans page'
    )
    assert "/scenes/77" in ready
    assert got["Health check failing: Stash"].message == "Stash is unreachable - check stash.url"
    assert got["Health check passes again: Stash"].payload["type"] == "success"


async def test_crash_recovery_start_and_stop_reach_their_targets(webhook_receiver, engines) -> None:
    services = await engines.start(settings={"daemons.restart_backoff_initial": 1})
    fast(services)
    await add(services, webhook_receiver, "daemons", "daemon_crashed,daemon_recovered")
    await add(services, webhook_receiver, "lifecycle", "started,stopped")
    CrashingDaemon.starts = 0
    await services.manager.set_config("test-crash", {"crashes": 1})
    await services.manager.start("test-crash")
    await wait_until(lambda: len(webhook_receiver.received("daemons")) == 2, timeout=10)
    titles = [r.title for r in webhook_receiver.received("daemons")]
    assert titles == ["Test Crash crashed", "Test Crash recovered"]
    assert webhook_receiver.received("daemons")[0].message.startswith(
        "RuntimeError: crash number 1. StashDesk restarts it in 1 seconds"
    )
    assert webhook_receiver.received("lifecycle") == []  # it started before the target existed

    await engines.engine.stop()  # waits for the "stopped" delivery
    assert [r.title for r in webhook_receiver.received("lifecycle")] == ["StashDesk stopped"]
    services = await engines.start()
    await wait_until(lambda: len(webhook_receiver.received("lifecycle")) == 2)
    assert webhook_receiver.received("lifecycle")[1].title == "StashDesk started"
    assert len(webhook_receiver.received("daemons")) == 2


async def test_a_failing_target_is_retried_then_reported_without_delaying_a_daemon(
    webhook_receiver, services, caplog
) -> None:
    fast(services)
    center = services.notifications
    webhook_receiver.answer("broken", 500, delay=0.3)
    webhook_receiver.answer("denied", 403)
    await add(services, webhook_receiver, "broken", "job_failed")
    await add(services, webhook_receiver, "denied", "job_failed")
    await add(services, webhook_receiver, "fine", "job_failed")
    await services.manager.set_config("test-tick", {"job_interval_seconds": 0.02})
    await services.manager.start("test-tick")
    handle = services.manager.handle("test-tick")
    await wait_until(lambda: handle.instance and handle.instance.passes >= 1)

    caplog.set_level(logging.WARNING, logger="stashdesk.notifications.center")
    services.bus.publish(finished("SYNC", "failed", job_id="sync-1", error="Stash is down"))
    await wait_until(lambda: webhook_receiver.received("broken"), message="the first attempt")
    passes = handle.instance.passes
    # while the broken target keeps a sending thread busy, the daemon goes on
    await wait_until(
        lambda: handle.instance.passes >= passes + 5,
        timeout=2,
        message="the daemon's passes during the delivery",
    )
    assert len(webhook_receiver.received("broken")) < 4  # the delivery is still under way
    await center.wait_idle()

    assert len(webhook_receiver.received("broken")) == 4  # the first try and 3 retries
    assert len(webhook_receiver.received("denied")) == 1  # a refused token is not retried
    assert len(webhook_receiver.received("fine")) == 1
    listing = {t["name"]: t for t in center.list_targets()}
    assert listing["broken"]["last_delivery"] == (
        "last delivery failed: HTTP 500 - the service had an error"
    )
    assert listing["broken"]["last_delivery_ok"] is False
    assert listing["denied"]["last_delivery"] == "last delivery failed: HTTP 403 - check the token"
    assert listing["fine"]["last_delivery"] == "last delivery succeeded"
    assert listing["fine"]["last_delivery_ok"] is True
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert (
        "notification target 'broken': job_failed not delivered after 4 attempts: "
        "HTTP 500 - the service had an error"
    ) in warnings
    # the outcome is kept for the next start too
    await services.store.writer.flush_async()
    row = await services.store.read(
        lambda: NotificationTarget.get(NotificationTarget.name == "denied")
    )
    assert (row.last_error, row.last_event) == ("HTTP 403 - check the token", "job_failed")

    webhook_receiver.answer("broken", 200)
    assert await center.test_targets("broken") == [
        {"name": "broken", "ok": True, "error": None, "last_delivery": "last delivery succeeded"}
    ]
    assert webhook_receiver.received("broken")[-1].title == "StashDesk test notification"


async def test_urls_are_masked_in_listings_logs_statuses_and_history(
    webhook_receiver, services, caplog
) -> None:
    caplog.set_level(logging.DEBUG)  # Apprise logs the URLs it posts to at DEBUG
    fast(services)
    center = services.notifications
    url = webhook_receiver.target_url(f"hook/{TOKEN}")
    added = await center.add_target("secret-hook", url, ["job_failed"])
    assert added["url"] == f"json://{MASK}" and added["service"] == "JSON"
    assert TOKEN not in str(center.list_targets())

    services.bus.publish(finished("SYNC", "failed", error=f"could not post to {url}"))
    await wait_until(lambda: webhook_receiver.received(f"hook/{TOKEN}"))
    await center.wait_idle()
    webhook_receiver.answer(f"hook/{TOKEN}", 404)
    await center.test_targets()

    daemon = tests.fake_plugins.TickDaemon(services)
    await daemon.update_status(f"Talking to {url}")
    daemon.log("WARNING", f"the hook {TOKEN} answered")
    assert daemon.status == f"Talking to {MASK}"
    await services.store.writer.flush_async()
    stored = await services.store.read(
        lambda: (
            [r.message for r in DaemonStatus.select()]
            + [r.message for r in DaemonLog.select()]
            + [str(r.__data__) for r in NotificationTarget.select()]
        )
    )
    assert stored and not any(TOKEN in text for text in stored)
    logged = [r.getMessage() for r in caplog.records]
    assert any("JSON POST URL" in line for line in logged)  # Apprise's own line, masked
    assert not [line for line in logged if TOKEN in line]
    assert center.list_targets()[0]["last_delivery"] == (
        "last delivery failed: HTTP 404 - check the address"
    )

    with pytest.raises(NotificationSetupError) as refused:
        await center.add_target("bad", f"nosuchservice://{TOKEN}", "job_failed")
    assert "does not understand this nosuchservice:// URL" in str(refused.value)
    assert TOKEN not in str(refused.value)
    assert not [r.getMessage() for r in caplog.records if TOKEN in r.getMessage()]


async def test_identical_messages_are_folded_into_one(webhook_receiver, services) -> None:
    fast(services)
    center = services.notifications
    await add(services, webhook_receiver, "alerts", "job_failed")
    for n in range(4):
        services.bus.publish(
            finished(
                "SYNC", "failed", job_id=f"sync-{n}", error="Stash rejected the API key (HTTP 401)"
            )
        )
    services.bus.publish(finished("SYNC", "failed", job_id="sync-x", error="Another reason"))
    await wait_until(lambda: len(webhook_receiver.received("alerts")) == 2)
    first = webhook_receiver.received("alerts")
    assert sorted(r.message.split("\n")[0] for r in first) == [
        "Another reason",
        "Stash rejected the API key (HTTP 401)",
    ]
    # when the window ends, the three held back arrive as one
    await wait_until(lambda: len(webhook_receiver.received("alerts")) == 3, timeout=3)
    folded = webhook_receiver.received("alerts")[-1]
    assert folded.title == "Stash sync failed (3 more like this)"
    assert "3 more like this in the last 1 minute." in folded.message
    assert "Job: sync-3" in folded.message  # the newest of them
    # a quiet window after that: nothing more is sent
    services.notifications.send(Message("job_failed", "other", "other"))
    await wait_until(lambda: len(webhook_receiver.received("alerts")) == 4)
    await wait_until(lambda: not center._folds, timeout=3, message="the windows to close")
    await center.wait_idle()
    assert len(webhook_receiver.received("alerts")) == 4


async def test_the_tray_keeps_its_own_switches(services) -> None:
    shown: list[Notification] = []
    services.bus.listen(shown.append, Notification)
    center = services.notifications
    center.send(Message("plan_ready", "ready", "review it"))  # success side: off by default
    center.send(Message("job_failed", "failed", "why"))
    assert [n.kind for n in shown] == ["job_failed"]
    await services.store.write(lambda: services.settings.set("notifications.on_success", True))
    center.send(Message("plan_ready", "ready", "review it"))
    center.send(Message("started", "StashDesk started", "..."))  # muted by default
    assert [n.kind for n in shown] == ["job_failed", "plan_ready"]
    await services.store.write(
        lambda: services.settings.set("notifications.tray_muted", ["job_failed"])
    )
    center.send(Message("job_failed", "failed", "why"))
    center.send(Message("started", "StashDesk started", "..."))
    assert [n.kind for n in shown] == ["job_failed", "plan_ready", "started"]
    with pytest.raises(OptionError, match="unknown event 'job_fail'"):
        await services.store.write(
            lambda: services.settings.set("notifications.tray_muted", ["job_fail"])
        )
    await services.store.write(lambda: services.settings.set("notifications.tray_muted", ["all"]))
    center.send(Message("job_failed", "failed", "why"))
    assert len(shown) == 3


async def test_targets_are_added_edited_and_removed(webhook_receiver, services) -> None:
    center = services.notifications
    with pytest.raises(NotificationSetupError, match="choose at least one event"):
        await center.add_target("x", webhook_receiver.target_url("x"), "")
    with pytest.raises(NotificationSetupError, match="unknown event 'job_faild'"):
        await center.add_target("x", webhook_receiver.target_url("x"), "job_faild")
    with pytest.raises(NotificationSetupError, match="a target name is 1 to 64"):
        await center.add_target("", webhook_receiver.target_url("x"), "all")
    await center.add_target("Phone", webhook_receiver.target_url("phone"), "job_failed")
    with pytest.raises(NotificationSetupError, match="already is a notification target"):
        await center.add_target("phone", webhook_receiver.target_url("p2"), "all")
    edited = await center.edit_target("phone", new_name="My phone", events="all", enabled=False)
    assert (edited["name"], edited["events"], edited["enabled"]) == ("My phone", ["all"], False)
    center.send(Message("job_failed", "t", "b"))
    await center.wait_idle()
    assert webhook_receiver.received() == []  # disabled
    await services.notifications.reload_targets()  # as stored
    assert center.list_targets()[0]["name"] == "My phone"
    assert (await center.remove_target("my phone")) == {"removed": "My phone"}
    assert center.list_targets() == []
    with pytest.raises(NotificationSetupError, match="no notification target named 'ghost'"):
        await center.test_targets("ghost")
    secrets = await services.store.read(
        lambda: [r.key for r in Setting.select() if r.key.startswith("secret:notification_target.")]
    )
    assert secrets == []  # its URL went with it


async def test_a_target_that_does_not_answer_is_cut_off_in_time(webhook_receiver, services) -> None:
    fast(services)
    center = services.notifications
    center.send_timeout = 0.5
    center.retry_delays = ()
    webhook_receiver.answer("silent", 200, delay=3)
    await add(services, webhook_receiver, "silent", "job_failed")
    started = time.monotonic()
    center.send(Message("job_failed", "t", "b"))
    await center.wait_idle()
    assert time.monotonic() - started < 2.5
    listing = center.list_targets()[0]
    assert listing["last_delivery"].startswith("last delivery failed: no answer within 0.5 seconds")


async def test_stopping_does_not_wait_out_the_retries_of_a_failing_target(
    webhook_receiver, engines
) -> None:
    services = await engines.start()
    services.notifications.retry_delays = (30.0, 30.0)
    webhook_receiver.answer("down", 503)
    await add(services, webhook_receiver, "down", "job_failed,stopped")
    services.notifications.send(Message("job_failed", "t", "b"))
    await wait_until(lambda: webhook_receiver.received("down"))
    started = time.monotonic()
    await engines.engine.stop()
    assert time.monotonic() - started < 3
    # the failed message was not tried again; "stopped" got its one attempt
    assert [r.title for r in webhook_receiver.received("down")] == ["t", "StashDesk stopped"]


async def test_targets_can_be_listed_and_tested_without_a_running_engine(
    webhook_receiver, engines, data_dir
) -> None:
    import asyncio

    from stashdesk.app import Services

    services = await engines.start()
    await add(services, webhook_receiver, "phone", "job_failed")
    await engines.engine.stop()
    # what a command does when no engine runs: the same functions on plain Services
    services = await asyncio.to_thread(Services, data_dir, use_keyring=False)
    try:
        await services.store.write(services.settings.reload)
        center = services.notifications
        await center.reload_targets()
        assert [(t["name"], t["service"]) for t in center.list_targets()] == [("phone", "JSON")]
        assert (await center.test_targets())[0]["ok"] is True
        assert webhook_receiver.received("phone")[-1].title == "StashDesk test notification"
    finally:
        services.notifications.close()
        await services.store.writer.flush_async()
        await asyncio.to_thread(services.store.close)

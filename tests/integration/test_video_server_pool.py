"""A pool of video-tag stand-ins: work spread over the servers that are up, failing and
slow ones set aside, every scene analysed exactly once, and the daemon's status."""

from __future__ import annotations

from collections import Counter

import pytest

from stashdesk.analysis.server_pool import pool_for
from stashdesk.clients.video_tags import VideoTagClient
from stashdesk.jobs.base import JobStatus
from stashdesk.store.models import DaemonStatus
from tests.analysis_helpers import analyse, analysis_rows, seed_scene
from tests.engine_fixtures import wait_until
from tests.standins.video_tag_server import DEFAULT_MODELS, VideoTagServer


@pytest.fixture
def servers():
    started = [VideoTagServer().start() for _ in range(3)]
    yield started
    for server in started:
        server.stop()


def pool_setting(servers, concurrency=2, **extra) -> dict:
    return {
        "analysis.video_servers": [
            {"url": s.url, "concurrency": concurrency, "path_map": [f"/data=/srv{n}"]}
            for n, s in enumerate(servers)
        ],
        "analysis.server_retry_seconds": 0.3,
        **extra,
    }


def answered(server) -> Counter:
    """Paths the server answered 200 for."""
    return Counter(r.path for r in server.requests if r.path and r.status == 200)


async def test_three_servers_one_failing_one_slow_every_scene_once(engines, servers) -> None:
    good, failing, slow = servers
    for server in servers:
        server.set_model(DEFAULT_MODELS)
        server.set_realistic_default(duration=300)
    good.delay(0.05)
    failing.set_mode("fail")
    slow.set_mode("slow", seconds=0.4)
    services = await engines.start(settings=pool_setting(servers))
    ids = [str(i) for i in range(1, 41)]
    await services.store.write(lambda: [seed_scene(i) for i in ids])
    final = await analyse(services, ids, timeout=60)
    assert final.status == JobStatus.COMPLETED, final.error
    assert (final.result["analysed"], final.result["errored"]) == (40, 0)

    # every scene got exactly one answer, from a server that works, with its own path map
    done = answered(good) + answered(slow) + answered(failing)
    assert done == Counter(
        {
            f"/srv{n}/videos/scene-{i}.mp4": 1
            for i in ids
            for n in (0, 2)
            if f"/srv{n}/videos/scene-{i}.mp4" in done
        }
    )
    assert sorted(p.rsplit("-", 1)[1] for p in done) == sorted(f"{i}.mp4" for i in ids)
    assert sum(answered(slow).values()) >= 1  # slow, but used
    assert sum(answered(good).values()) > sum(answered(slow).values())
    # the failing server was set aside after failing, not hammered for each scene
    assert answered(failing) == Counter()
    assert 1 <= len([r for r in failing.requests if r.path]) < 10
    for server in servers:
        assert server.max_in_flight <= 2
    rows = await analysis_rows(services)
    assert {r.server_url for r in rows.values()} <= {good.url, slow.url}
    assert final.result["servers"] == {
        url: n
        for url, n in (
            (good.url, sum(answered(good).values())),
            (slow.url, sum(answered(slow).values())),
        )
    }
    state = {s["url"]: s for s in pool_for(services).status()["servers"]}
    assert state[failing.url]["failures"] >= 1 and "HTTP 503" in state[failing.url]["reason"]
    assert state[good.url]["failures"] == 0


async def test_a_server_that_does_not_answer_in_time_is_set_aside(
    engines, servers, monkeypatch
) -> None:
    fast, stuck, _spare = servers
    fast.set_default({"acts": ["Kissing"]})
    stuck.set_default({"acts": ["Kissing"]})
    stuck.delay(5.0)
    services = await engines.start(settings=pool_setting([fast, stuck], concurrency=1))
    # analysis.server_timeout is at least 10 s in the product; short clients keep this fast
    clients = {
        s.url: VideoTagClient(s.url, timeout=0.5, setting="analysis.video_servers")
        for s in (fast, stuck)
    }
    monkeypatch.setattr(services, "video_tags", lambda url=None, setting=None: clients[url])
    try:
        ids = [str(i) for i in range(1, 7)]
        await services.store.write(lambda: [seed_scene(i) for i in ids])
        final = await analyse(services, ids, timeout=30)
    finally:
        for client in clients.values():
            await client.aclose()
    assert final.status == JobStatus.COMPLETED and final.result["analysed"] == 6
    assert final.result["servers"] == {fast.url: 6}
    assert sorted(answered(fast)) == sorted(f"/srv0/videos/scene-{i}.mp4" for i in ids)
    assert 1 <= len([r for r in stuck.requests if r.path]) < 6


async def test_one_server_down_its_scenes_go_to_the_other(engines, servers) -> None:
    up, down, _spare = servers
    up.set_default({"acts": ["Kissing"]})
    down.stop()
    services = await engines.start(settings=pool_setting([up, down]))
    await services.store.write(lambda: [seed_scene(str(i)) for i in range(1, 6)])
    final = await analyse(services, [str(i) for i in range(1, 6)])
    assert final.status == JobStatus.COMPLETED and final.result["analysed"] == 5
    assert sum(answered(up).values()) == 5
    state = {s["url"]: s for s in pool_for(services).status()["servers"]}
    assert state[down.url]["state"] == "unreachable"
    assert "connection refused" in state[down.url]["reason"]


async def test_no_server_reachable_fails_the_job_naming_each(engines, servers) -> None:
    for server in servers[:2]:
        server.stop()
    services = await engines.start(settings=pool_setting(servers[:2]))
    await services.store.write(lambda: seed_scene("1"))
    final = await analyse(services, ["1"])
    assert final.status == JobStatus.FAILED
    assert "No video-tag server can be reached" in final.error
    assert servers[0].url in final.error and servers[1].url in final.error
    assert "analysis.video_servers" in final.error
    assert await analysis_rows(services) == {}  # nothing marked errored


async def test_the_status_says_which_servers_are_busy(engines, servers) -> None:
    first, second, _spare = servers
    for number, server in enumerate((first, second)):
        server.set_default({"acts": ["Kissing"]})
        for scene in range(1, 7):  # the scenes are held, not the daemon's pings
            server.hold(f"/srv{number}/videos/scene-{scene}.mp4")
    services = await engines.start(settings=pool_setting([first, second]))
    await services.store.write(lambda: [seed_scene(str(i)) for i in range(1, 7)])
    await services.manager.set_config("video-analysis", {"auto_apply_plans": False})
    await services.manager.start("video-analysis")
    handle = services.manager.handle("video-analysis")
    await wait_until(lambda: first.held == 2 and second.held == 2, 20, "4 scenes in flight")
    labels = [s.url.removeprefix("http://") for s in (first, second)]
    wanted = (
        f"Waiting for video analysis to complete - analysing 4 scenes on 2 servers "
        f"({labels[0]}: 2, {labels[1]}: 2)"
    )
    await wait_until(lambda: handle.instance.status == wanted, 10, "the busy servers")
    assert handle.instance.job_type == "ANALYSIS"
    for server in (first, second):
        server.release()
    await wait_until(lambda: (handle.instance.status or "").startswith("No scenes"), 20)
    await services.store.writer.flush_async()
    messages = await services.store.read(lambda: [r.message for r in DaemonStatus.select()])
    # the plan's sentences are all there; the busy servers only extend the waiting one
    assert "Analyzing video tags for 6 scenes" in messages
    assert "Waiting for video analysis to complete" in messages
    assert wanted in messages
    await services.manager.stop("video-analysis")

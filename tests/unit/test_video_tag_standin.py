"""Tests of the video-tag server stand-in itself (tests/standins/video_tag_server.py)."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest

from stashdesk.clients.video_tags import model_identity, parse_video_tag_answer
from tests.engine_fixtures import wait_until
from tests.standins.video_tag_server import (
    DEFAULT_MODELS,
    ENDPOINT,
    MODELS_ENDPOINT,
    VideoTagServer,
    build_result,
)


def payload(path: str, **over: object) -> dict[str, object]:
    body: dict[str, object] = {
        "path": path,
        "frame_interval": 2,
        "threshold": 0.3,
        "return_confidence": True,
        "vr_video": False,
    }
    body.update(over)
    return body


def post(server: VideoTagServer, path: str, timeout: float = 10.0) -> httpx.Response:
    with httpx.Client(timeout=timeout) as client:
        return client.post(server.url + ENDPOINT, json=payload(path))


def handler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("video-tag-standin")]


# -- answers ----------------------------------------------------------------


def test_url_and_unknown_path_is_404(video_tag_server: VideoTagServer) -> None:
    assert video_tag_server.url.startswith("http://127.0.0.1:")
    assert video_tag_server.port > 0
    resp = post(video_tag_server, "/data/unknown.mp4")
    assert resp.status_code == 404
    assert resp.json() == {"detail": "file not found"}


def test_plain_result_shape(video_tag_server: VideoTagServer) -> None:
    sent = video_tag_server.set_result(
        "/data/a.mp4",
        video_tags={"actions": ["kiss", "dance"], "scene": ["bedroom"]},
        tag_timespans={
            "actions": {"kiss": [(0, 4), {"start": 10, "end": 12.5}], "dance": [(20, 22)]},
            "scene": {"bedroom": [(0.0, 30.0)]},
        },
    )
    resp = post(video_tag_server, "/data/a.mp4")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert body == sent
    info = body["result"]["video_tag_info"]
    assert info["video_tags"] == {"actions": ["kiss", "dance"], "scene": ["bedroom"]}
    assert info["tag_timespans"]["actions"]["kiss"] == [
        {"start": 0.0, "end": 4.0},
        {"start": 10.0, "end": 12.5},
    ]
    assert info["tag_timespans"]["scene"]["bedroom"] == [{"start": 0.0, "end": 30.0}]


def test_confidence_result_shape(video_tag_server: VideoTagServer) -> None:
    video_tag_server.set_result(
        "/data/b.mp4",
        video_tags={"actions": [("kiss", 0.87), {"tag": "dance", "confidence": 0.4}, "hug"]},
        tag_timespans={"actions": {"kiss": [(2, 6)]}},
        with_confidence=True,
    )
    video_tag_server.set_result("/data/c.mp4", video_tags={"actions": [("kiss", 0.87)]})
    info = post(video_tag_server, "/data/b.mp4").json()["result"]["video_tag_info"]
    assert info["video_tags"] == {
        "actions": [
            {"tag": "kiss", "confidence": 0.87},
            {"tag": "dance", "confidence": 0.4},
            {"tag": "hug", "confidence": 0.9},
        ]
    }
    assert info["tag_timespans"] == {"actions": {"kiss": [{"start": 2.0, "end": 6.0}]}}
    # Same tag specs without with_confidence: bare names.
    plain = post(video_tag_server, "/data/c.mp4").json()["result"]["video_tag_info"]
    assert plain["video_tags"] == {"actions": ["kiss"]}
    assert plain["tag_timespans"] == {}


def test_extra_keys_and_raw_results(video_tag_server: VideoTagServer) -> None:
    video_tag_server.set_result(
        "/x.mp4", {"c": ["t"]}, extra={"video_metadata": {"duration": 12.0}}
    )
    info = post(video_tag_server, "/x.mp4").json()["result"]["video_tag_info"]
    assert info["video_metadata"] == {"duration": 12.0}
    video_tag_server.set_raw_result("/weird.mp4", {"result": None})
    assert post(video_tag_server, "/weird.mp4").json() == {"result": None}
    video_tag_server.set_raw_result("/text.mp4", "not json", status=200)
    resp = post(video_tag_server, "/text.mp4")
    assert resp.text == "not json"
    assert resp.headers["content-type"].startswith("text/plain")
    video_tag_server.remove_result("/x.mp4")
    assert post(video_tag_server, "/x.mp4").status_code == 404


def test_default_result_configurable(video_tag_server: VideoTagServer) -> None:
    video_tag_server.set_default({"scene": ["kitchen"]}, {"scene": {"kitchen": [(0, 2)]}})
    body = post(video_tag_server, "/any.mp4").json()
    assert body == build_result({"scene": ["kitchen"]}, {"scene": {"kitchen": [(0, 2)]}})
    video_tag_server.set_default_error(503, "busy")
    resp = post(video_tag_server, "/any.mp4")
    assert (resp.status_code, resp.text) == (503, "busy")
    video_tag_server.clear_default()
    assert post(video_tag_server, "/any.mp4").status_code == 404


def test_invalid_requests(video_tag_server: VideoTagServer) -> None:
    with httpx.Client(timeout=10) as client:
        bad_json = client.post(
            video_tag_server.url + ENDPOINT,
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        no_path = client.post(video_tag_server.url + ENDPOINT, json={"frame_interval": 2})
        wrong_url = client.post(video_tag_server.url + "/nope/", json=payload("/a.mp4"))
        wrong_method = client.get(video_tag_server.url + ENDPOINT)
        no_slash = client.post(video_tag_server.url + "/process_video", json=payload("/a"))
    assert bad_json.status_code == 422
    assert no_path.status_code == 422
    assert wrong_url.status_code == 404
    assert wrong_method.status_code == 405
    assert no_slash.status_code == 404  # unknown file, but the route matched
    assert no_slash.json() == {"detail": "file not found"}
    recs = video_tag_server.requests
    assert len(recs) == 5
    assert recs[0].body is None and recs[0].raw == b"{not json"
    assert recs[1].path is None
    assert [r.status for r in recs] == [422, 422, 404, 405, 404]


# -- failures ---------------------------------------------------------------


def test_fail_times_then_recovers(video_tag_server: VideoTagServer) -> None:
    video_tag_server.set_result("/a.mp4", {"c": ["t"]})
    video_tag_server.fail("/a.mp4", status=500, times=2)
    first, second, third = (post(video_tag_server, "/a.mp4") for _ in range(3))
    assert first.status_code == second.status_code == 500
    assert first.json() == {"detail": "internal server error"}
    assert third.status_code == 200


def test_fail_all_paths_forever_with_text_body(video_tag_server: VideoTagServer) -> None:
    video_tag_server.set_result("/a.mp4", {"c": ["t"]})
    video_tag_server.fail(None, status=502, body="Bad Gateway")
    for path in ("/a.mp4", "/b.mp4", "/a.mp4"):
        resp = post(video_tag_server, path)
        assert (resp.status_code, resp.text) == (502, "Bad Gateway")
    video_tag_server.clear_failures()
    assert post(video_tag_server, "/a.mp4").status_code == 200


def test_fail_only_hits_its_path(video_tag_server: VideoTagServer) -> None:
    video_tag_server.set_default({"c": ["t"]})
    video_tag_server.fail("/bad.mp4", status=400, body={"detail": "cannot decode"})
    assert post(video_tag_server, "/good.mp4").status_code == 200
    resp = post(video_tag_server, "/bad.mp4")
    assert resp.status_code == 400 and resp.json() == {"detail": "cannot decode"}
    video_tag_server.fail(None, status=503)
    video_tag_server.clear_failures("/bad.mp4")
    assert post(video_tag_server, "/bad.mp4").status_code == 503
    video_tag_server.clear_failures(None)
    assert post(video_tag_server, "/bad.mp4").status_code == 200
    with pytest.raises(ValueError):
        video_tag_server.fail("/x", times=0)


# -- recording --------------------------------------------------------------


def test_requests_are_recorded_with_arrival_times(video_tag_server: VideoTagServer) -> None:
    before = time.monotonic()
    post(video_tag_server, "/one.mp4")
    post(video_tag_server, "/two.mp4")
    recs = video_tag_server.requests
    assert [r.path for r in recs] == ["/one.mp4", "/two.mp4"]
    assert video_tag_server.request_paths == ["/one.mp4", "/two.mp4"]
    assert recs[0].body == payload("/one.mp4")
    assert recs[0].method == "POST" and recs[0].http_path == ENDPOINT
    assert before <= recs[0].received_at <= recs[1].received_at <= time.monotonic()
    assert recs[0].answered_at is not None and recs[0].answered_at >= recs[0].received_at
    assert recs[0].headers.get("content-type") == "application/json"
    assert video_tag_server.max_in_flight == 1
    assert video_tag_server.in_flight == 0


def test_reset_forgets_everything(video_tag_server: VideoTagServer) -> None:
    video_tag_server.set_result("/a.mp4", {"c": ["t"]})
    video_tag_server.fail("/b.mp4")
    video_tag_server.delay(5)
    video_tag_server.hold()
    video_tag_server.reset()
    assert post(video_tag_server, "/a.mp4").status_code == 404
    assert post(video_tag_server, "/b.mp4").status_code == 404
    assert len(video_tag_server.requests) == 2


# -- concurrency: delays and holds ------------------------------------------


async def test_delay_does_not_serialise_requests(video_tag_server: VideoTagServer) -> None:
    video_tag_server.set_default({"c": ["t"]})
    video_tag_server.delay(0.5)
    async with httpx.AsyncClient(timeout=10) as client:
        start = time.monotonic()
        resps = await asyncio.gather(
            *(
                client.post(video_tag_server.url + ENDPOINT, json=payload(f"/{i}.mp4"))
                for i in range(6)
            )
        )
        elapsed = time.monotonic() - start
    assert all(r.status_code == 200 for r in resps)
    assert 0.5 <= elapsed < 2.0
    assert video_tag_server.max_in_flight == 6


async def test_per_path_delay_overrides_global(video_tag_server: VideoTagServer) -> None:
    video_tag_server.delay(5)
    video_tag_server.delay(0.01, path="/fast.mp4")
    async with httpx.AsyncClient(timeout=10) as client:
        start = time.monotonic()
        resp = await client.post(video_tag_server.url + ENDPOINT, json=payload("/fast.mp4"))
        assert time.monotonic() - start < 2
        assert resp.status_code == 404
        video_tag_server.delay(0)  # removes the global delay
        start = time.monotonic()
        await client.post(video_tag_server.url + ENDPOINT, json=payload("/other.mp4"))
        assert time.monotonic() - start < 2


async def test_hold_keeps_requests_in_flight_until_release(
    video_tag_server: VideoTagServer,
) -> None:
    video_tag_server.set_default({"c": ["t"]})
    video_tag_server.hold()
    async with httpx.AsyncClient(timeout=10) as client:
        tasks = [
            asyncio.create_task(
                client.post(video_tag_server.url + ENDPOINT, json=payload(f"/{i}.mp4"))
            )
            for i in range(4)
        ]
        await video_tag_server.wait_for_in_flight_async(4)
        # a request counts as in flight a moment before it counts as held
        await wait_until(lambda: video_tag_server.held == 4, timeout=5)
        assert video_tag_server.in_flight == 4
        assert not any(t.done() for t in tasks)
        video_tag_server.release()
        resps = await asyncio.gather(*tasks)
    assert [r.status_code for r in resps] == [200] * 4
    assert video_tag_server.max_in_flight == 4
    assert video_tag_server.in_flight == 0 and video_tag_server.held == 0


async def test_hold_one_path(video_tag_server: VideoTagServer) -> None:
    video_tag_server.set_default({"c": ["t"]})
    video_tag_server.hold("/slow.mp4")
    async with httpx.AsyncClient(timeout=10) as client:
        slow = asyncio.create_task(
            client.post(video_tag_server.url + ENDPOINT, json=payload("/slow.mp4"))
        )
        await video_tag_server.wait_for_in_flight_async(1)
        fast = await client.post(video_tag_server.url + ENDPOINT, json=payload("/fast.mp4"))
        assert fast.status_code == 200
        assert not slow.done()
        assert video_tag_server.held == 1
        video_tag_server.release("/slow.mp4")
        assert (await slow).status_code == 200


async def test_answer_chosen_on_arrival(video_tag_server: VideoTagServer) -> None:
    video_tag_server.set_default({"c": ["t"]})
    video_tag_server.fail(None, status=503, times=1)
    video_tag_server.hold()
    async with httpx.AsyncClient(timeout=10) as client:
        first = asyncio.create_task(
            client.post(video_tag_server.url + ENDPOINT, json=payload("/1.mp4"))
        )
        await video_tag_server.wait_for_requests_async(1)
        second = asyncio.create_task(
            client.post(video_tag_server.url + ENDPOINT, json=payload("/2.mp4"))
        )
        await video_tag_server.wait_for_requests_async(2)
        video_tag_server.release()
        assert (await first).status_code == 503
        assert (await second).status_code == 200


def test_sync_wait_helpers_from_threads(video_tag_server: VideoTagServer) -> None:
    video_tag_server.hold()
    results: list[int] = []

    def worker(i: int) -> None:
        results.append(post(video_tag_server, f"/{i}.mp4").status_code)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    video_tag_server.wait_for_in_flight(3)
    video_tag_server.wait_for_requests(3)
    assert video_tag_server.held == 3
    video_tag_server.release()
    for t in threads:
        t.join(10)
    assert results == [404, 404, 404]
    with pytest.raises(TimeoutError):
        video_tag_server.wait_for_in_flight(1, timeout=0.05)


async def test_async_wait_times_out(video_tag_server: VideoTagServer) -> None:
    with pytest.raises(TimeoutError):
        await video_tag_server.wait_for_requests_async(1, timeout=0.05)


# -- lifecycle --------------------------------------------------------------


def test_stop_start_same_port_unreachable_mode(video_tag_server: VideoTagServer) -> None:
    video_tag_server.set_result("/a.mp4", {"c": ["t"]})
    url = video_tag_server.url
    assert post(video_tag_server, "/a.mp4").status_code == 200
    video_tag_server.stop()
    assert not video_tag_server.running
    assert video_tag_server.url == url
    with pytest.raises(httpx.ConnectError):
        post(video_tag_server, "/a.mp4")
    video_tag_server.start()
    assert video_tag_server.running and video_tag_server.url == url
    assert post(video_tag_server, "/a.mp4").status_code == 200  # config survives


async def test_stop_while_held_aborts_and_leaves_no_threads() -> None:
    server = VideoTagServer().start()
    server.hold()
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            tasks = [
                asyncio.create_task(client.post(server.url + ENDPOINT, json=payload(f"/{i}")))
                for i in range(3)
            ]
            await server.wait_for_in_flight_async(3)
            start = time.monotonic()
            server.stop()
            assert time.monotonic() - start < 2
            results = await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        server.stop()
    assert all(isinstance(r, httpx.TransportError) for r in results), results
    assert all(r.aborted for r in server.requests)
    assert server.in_flight == 0
    assert handler_threads() == []


async def test_stop_while_delayed_is_quick() -> None:
    server = VideoTagServer().start()
    server.delay(60)
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            task = asyncio.create_task(client.post(server.url + ENDPOINT, json=payload("/a")))
            await server.wait_for_in_flight_async(1)
            start = time.monotonic()
            server.stop()
            assert time.monotonic() - start < 2
            with pytest.raises(httpx.TransportError):
                await task
    finally:
        server.stop()
    assert handler_threads() == []


def test_stop_with_idle_keepalive_connection_is_quick() -> None:
    with VideoTagServer() as server:
        client = httpx.Client(timeout=10)
        try:
            assert client.post(server.url + ENDPOINT, json=payload("/a")).status_code == 404
            start = time.monotonic()
            server.stop()  # the client still holds an idle keep-alive connection
            assert time.monotonic() - start < 2
        finally:
            client.close()
    assert handler_threads() == []


def test_context_manager_and_repr() -> None:
    server = VideoTagServer()
    assert "not started" in repr(server)
    with pytest.raises(RuntimeError):
        _ = server.url
    with server:
        assert server.running
        assert server.endpoint == server.url + "/process_video/"
        assert post(server, "/a").status_code == 404
    assert not server.running
    server.stop()  # idempotent
    assert handler_threads() == []


# -- model identity, realistic answers, modes ----------------------------------------------


def test_model_identity_in_answers_and_at_current_ai_models(video_tag_server) -> None:
    with httpx.Client(timeout=10) as client:
        assert client.get(video_tag_server.url + MODELS_ENDPOINT).status_code == 404
    sent = video_tag_server.set_result(
        "/m/a.mp4", {"acts": ["Kissing"]}, {"acts": {"Kissing": [(4, 30)]}}
    )
    assert post(video_tag_server, "/m/a.mp4").json() == sent  # no model: as built
    video_tag_server.set_model(DEFAULT_MODELS)
    with httpx.Client(timeout=10) as client:
        listed = client.get(video_tag_server.url + MODELS_ENDPOINT).json()
        answer = client.post(
            video_tag_server.url + ENDPOINT, json=payload("/m/a.mp4", frame_interval=1.5)
        ).json()
    assert listed == DEFAULT_MODELS
    record = json.loads(answer["result"]["json_result"])
    assert record["metadata"]["models"]["actions"] == {
        "frame_interval": 1.5,
        "threshold": 0.3,
        "version": 2.0,
        "ai_model_id": 2021,
        "file_name": "actions_vit_b",
    }
    assert answer["result"]["video_tag_info"]["video_duration"] == 30.0
    parsed = parse_video_tag_answer(answer)
    assert parsed.models == model_identity(DEFAULT_MODELS) and parsed.model_key


def test_realistic_answers_are_per_path_and_repeatable(video_tag_server) -> None:
    video_tag_server.set_model(DEFAULT_MODELS)
    video_tag_server.set_realistic_default(duration=900, seed=3)
    one, again, other = (post(video_tag_server, p).json() for p in ("/a.mp4", "/a.mp4", "/b.mp4"))
    assert one == again and one != other
    info = one["result"]["video_tag_info"]
    assert info["video_duration"] == 900
    spans = [s for per_tag in info["tag_timespans"].values() for v in per_tag.values() for s in v]
    assert spans and all({"start", "end", "totalConfidence"} == set(s) for s in spans)
    assert all(0 <= s["start"] <= s["end"] < 900 for s in spans)
    for category, tags in info["video_tags"].items():  # listed: on screen 20 s or more
        assert all(info["tag_totals"][category][t] >= 20 for t in tags)
    parsed = parse_video_tag_answer(one)
    assert (
        parsed.duration == 900
        and parsed.models
        and all(0.3 <= s.confidence <= 1 for s in parsed.timespans)
    )


def test_fail_slow_and_normal_modes(video_tag_server) -> None:
    video_tag_server.set_default({"c": ["t"]})
    video_tag_server.set_mode("fail")
    assert post(video_tag_server, "/x.mp4").status_code == 503
    video_tag_server.set_mode("slow", seconds=0.3)
    started = time.monotonic()
    assert post(video_tag_server, "/x.mp4").status_code == 200
    assert time.monotonic() - started >= 0.3
    video_tag_server.set_mode("normal")
    started = time.monotonic()
    assert post(video_tag_server, "/x.mp4").status_code == 200
    assert time.monotonic() - started < 0.3
    with pytest.raises(ValueError, match="unknown mode"):
        video_tag_server.set_mode("asleep")

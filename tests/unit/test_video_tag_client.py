"""VideoTagClient against the video-tag stand-in on 127.0.0.1."""

from __future__ import annotations

import pytest

from stashdesk.clients.errors import (
    VideoTagMalformedAnswer,
    VideoTagServerError,
    VideoTagUnreachable,
)
from stashdesk.clients.video_tags import DetectedTag, TagTimespan, VideoTagClient


@pytest.fixture
async def client(video_tag_server):
    c = VideoTagClient(video_tag_server.url, timeout=5)
    yield c
    await c.aclose()


async def test_request_body_and_answer_without_confidence(client, video_tag_server) -> None:
    video_tag_server.set_result(
        "/media/a.mp4",
        video_tags={"actions": ["kiss", "hug"]},
        tag_timespans={"actions": {"kiss": [(12, 20), (0, 3)]}},
    )
    result = await client.process_video("/media/a.mp4", frame_interval=2, threshold=0.3)
    assert video_tag_server.requests[0].body == {
        "path": "/media/a.mp4",
        "frame_interval": 2,
        "threshold": 0.3,
        "return_confidence": True,
        "vr_video": False,
    }
    assert result.tags == [DetectedTag("actions", "kiss", 1.0), DetectedTag("actions", "hug", 1.0)]
    assert result.timespans == [
        TagTimespan("actions", "kiss", 12.0, 20.0),
        TagTimespan("actions", "kiss", 0.0, 3.0),
    ]


async def test_answer_with_confidence(client, video_tag_server) -> None:
    video_tag_server.set_result(
        "/m/b.mp4", video_tags={"scene": [("beach", 0.82)]}, with_confidence=True
    )
    result = await client.process_video("/m/b.mp4")
    assert result.tags == [DetectedTag("scene", "beach", 0.82)]


async def test_server_error_and_malformed_answer(client, video_tag_server) -> None:
    video_tag_server.fail("/m/c.mp4", status=500, body={"detail": "GPU out of memory"})
    with pytest.raises(VideoTagServerError, match="HTTP 500.*GPU out of memory"):
        await client.process_video("/m/c.mp4")
    video_tag_server.set_raw_result("/m/d.mp4", {"result": {"unexpected": 1}})
    with pytest.raises(VideoTagMalformedAnswer, match="video_tag_info"):
        await client.process_video("/m/d.mp4")
    video_tag_server.set_raw_result("/m/e.mp4", "<html>proxy error</html>")
    with pytest.raises(VideoTagMalformedAnswer, match="not JSON"):
        await client.process_video("/m/e.mp4")


async def test_slow_answer_times_out_with_advice(video_tag_server) -> None:
    video_tag_server.set_result("/m/slow.mp4", video_tags={})
    video_tag_server.delay(3, path="/m/slow.mp4")
    client = VideoTagClient(video_tag_server.url, timeout=0.5)
    try:
        with pytest.raises(VideoTagUnreachable, match="raise analysis.server_timeout"):
            await client.process_video("/m/slow.mp4")
    finally:
        await client.aclose()


async def test_unreachable(video_tag_server) -> None:
    url = video_tag_server.url
    video_tag_server.stop()
    client = VideoTagClient(url, timeout=5)
    try:
        with pytest.raises(VideoTagUnreachable, match="connection refused"):
            await client.process_video("/m/x.mp4")
    finally:
        await client.aclose()

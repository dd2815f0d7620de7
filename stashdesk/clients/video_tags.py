"""VideoTagClient: the AI video-tag server's ``/process_video/`` protocol.

Request: ``{"path", "frame_interval", "threshold", "return_confidence", "vr_video"}``.
Answer: ``{"result": {"video_tag_info": {"video_tags": {category: [tag, ...]},
"tag_timespans": {category: {tag: [{"start", "end"}, ...]}}}}}``. With
``return_confidence`` a tag may come as ``{"tag": name, "confidence": x}`` (or as
``[name, x]``); a bare name counts as confidence 1.0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from stashdesk import __version__
from stashdesk.clients.errors import (
    VideoTagMalformedAnswer,
    VideoTagServerError,
    VideoTagTimeout,
    VideoTagUnreachable,
)
from stashdesk.clients.stash import _snippet, describe_transport_error


@dataclass(frozen=True, slots=True)
class DetectedTag:
    category: str
    name: str
    confidence: float


@dataclass(frozen=True, slots=True)
class TagTimespan:
    category: str
    name: str
    start: float
    end: float | None
    confidence: float | None = None


@dataclass(slots=True)
class VideoTagResult:
    tags: list[DetectedTag] = field(default_factory=list)
    timespans: list[TagTimespan] = field(default_factory=list)


class VideoTagClient:
    def __init__(self, url: str, timeout: float = 3700.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            headers={"User-Agent": f"StashDesk/{__version__}"},
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def process_video(
        self, path: str, *, frame_interval: float = 2.0, threshold: float = 0.3,
        vr_video: bool = False,
    ) -> VideoTagResult:
        body = {
            "path": path,
            "frame_interval": frame_interval,
            "threshold": threshold,
            "return_confidence": True,
            "vr_video": vr_video,
        }
        try:
            response = await self._http.post(f"{self.url}/process_video/", json=body)
        except httpx.ConnectTimeout:
            raise VideoTagUnreachable(
                f"Video-tag server unreachable at {self.url}: no answer to the connection "
                f"attempt - check analysis.video_server_url"
            ) from None
        except httpx.TimeoutException:
            raise VideoTagTimeout(
                f"The video-tag server at {self.url} did not finish {path} within "
                f"{self.timeout:g} s - raise analysis.server_timeout for long videos"
            ) from None
        except httpx.TransportError as exc:
            raise VideoTagUnreachable(
                f"Video-tag server unreachable at {self.url}: {describe_transport_error(exc)} - "
                f"check analysis.video_server_url"
            ) from None
        if response.status_code >= 400:
            raise VideoTagServerError(
                f"The video-tag server failed on {path} (HTTP {response.status_code}): "
                f"{_snippet(response.text)}"
            )
        try:
            answer = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise VideoTagMalformedAnswer(
                f"The video-tag server sent an answer that is not JSON: {_snippet(response.text)}"
            ) from None
        return parse_video_tag_answer(answer)

    async def ping(self) -> int:
        """Reach the server at all (any HTTP answer counts); returns the status code."""
        try:
            response = await self._http.get(f"{self.url}/", timeout=10.0)
        except httpx.TransportError as exc:
            raise VideoTagUnreachable(
                f"Video-tag server unreachable at {self.url}: {describe_transport_error(exc)}"
            ) from None
        return response.status_code


def _tag_and_confidence(entry: Any) -> tuple[str, float]:
    if isinstance(entry, str):
        return entry, 1.0
    if isinstance(entry, dict):
        name = entry.get("tag") or entry.get("name") or entry.get("label")
        confidence = entry.get("confidence", entry.get("score", 1.0))
        if isinstance(name, str):
            return name, float(confidence)
    if isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], str):
        return entry[0], float(entry[1])
    raise VideoTagMalformedAnswer(f"unexpected tag entry in the video-tag answer: {entry!r}")


def parse_video_tag_answer(answer: Any) -> VideoTagResult:
    try:
        info = answer["result"]["video_tag_info"]
    except (KeyError, TypeError):
        raise VideoTagMalformedAnswer(
            "The video-tag server's answer lacks result.video_tag_info"
        ) from None
    result = VideoTagResult()
    for category, entries in (info.get("video_tags") or {}).items():
        for entry in entries or []:
            name, confidence = _tag_and_confidence(entry)
            result.tags.append(DetectedTag(category, name, confidence))
    for category, by_tag in (info.get("tag_timespans") or {}).items():
        for name, spans in (by_tag or {}).items():
            for span in spans or []:
                try:
                    start = float(span["start"])
                    end = span.get("end")
                    result.timespans.append(TagTimespan(
                        category, name, start, None if end is None else float(end),
                        span.get("confidence"),
                    ))
                except (KeyError, TypeError, ValueError):
                    raise VideoTagMalformedAnswer(
                        f"unexpected time span in the video-tag answer: {span!r}"
                    ) from None
    return result

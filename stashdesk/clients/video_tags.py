"""VideoTagClient: the AI video-tag server's ``/process_video/`` protocol.

Request: ``{"path", "frame_interval", "threshold", "return_confidence", "vr_video"}``.
Answer: ``{"result": {"video_tag_info": {"video_tags": {category: [tag, ...]},
"tag_timespans": {category: {tag: [{"start", "end"}, ...]}}}}}``. With
``return_confidence`` a tag may come as ``{"tag": name, "confidence": x}`` (or as
``[name, x]``); a bare name counts as confidence 1.0 (or its spans' best).

What the skier233 nsfw_ai_model_server adds, and is read when present:
``video_tag_info.video_duration`` and ``tag_totals`` ({category: {tag: seconds}});
spans with ``totalConfidence`` (confidence x covered seconds, so the span's
confidence is that over its length); and ``result.json_result``, the server's own
record (a JSON text) whose ``metadata.models`` ({category: {file_name, version,
ai_model_id, ...}}) names the models that produced the answer. ``GET
/v3/current_ai_models/`` lists the models it would use now ({name, identifier,
version, categories}). Both become the same model identity (:func:`model_identity`).

``analysis.server_timeout`` bounds the whole request (connect, send, the entire
answer), not each read: a server that sends a byte every few seconds fails with
VideoTagTimeout when it runs out, like one that never answers.
"""

from __future__ import annotations

import asyncio
import hashlib
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
from stashdesk.urls import basic_auth, mask_url

MODELS_SECONDS = 10.0  # asking which models the server would use
PING_SECONDS = 10.0


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
    """The server's answer for one video.

    Attributes:
        tags, timespans: what it detected.
        duration: the video's length in seconds, when the server says.
        tag_totals: {(category, tag): seconds on screen} as the server counted them.
        models: the model identity (see :func:`model_identity`), None when not reported.
    """

    tags: list[DetectedTag] = field(default_factory=list)
    timespans: list[TagTimespan] = field(default_factory=list)
    duration: float | None = None
    tag_totals: dict[tuple[str, str], float] = field(default_factory=dict)
    models: list[dict[str, Any]] | None = None

    @property
    def model_key(self) -> str | None:
        return models_key(self.models)


def model_identity(entries: Any) -> list[dict[str, Any]] | None:
    """The models behind an answer, in one canonical shape, or None when unknown.

    ``entries`` is either the server's ``metadata.models`` mapping ({category:
    {file_name, version, ai_model_id}}) or a model list ([{name, identifier, version,
    categories}]). Result: [{"name", "version", "identifier", "categories"}], sorted.
    """
    grouped: dict[tuple[str, Any, Any], set[str]] = {}
    if isinstance(entries, dict):
        for category, info in entries.items():
            if isinstance(info, dict):
                key = (
                    str(info.get("file_name") or info.get("name") or category),
                    info.get("version"),
                    info.get("ai_model_id", info.get("identifier")),
                )
                grouped.setdefault(key, set()).add(str(category))
    elif isinstance(entries, list):
        for info in entries:
            if isinstance(info, dict) and (info.get("name") or info.get("file_name")):
                key = (
                    str(info.get("name") or info.get("file_name")),
                    info.get("version"),
                    info.get("identifier", info.get("ai_model_id")),
                )
                grouped.setdefault(key, set()).update(str(c) for c in info.get("categories") or [])
    if not grouped:
        return None
    return [
        {
            "name": name,
            "version": version,
            "identifier": identifier,
            "categories": sorted(categories),
        }
        for (name, version, identifier), categories in sorted(
            grouped.items(), key=lambda item: (item[0][0], str(item[0][1]), str(item[0][2]))
        )
    ]


def models_key(models: list[dict[str, Any]] | None) -> str | None:
    """A short digest of a model identity: equal keys, same models (names, versions and
    identifiers; the categories a model covered in one video do not count)."""
    if not models:
        return None
    text = json.dumps(
        sorted(
            [str(m.get("name")), str(m.get("version")), str(m.get("identifier"))] for m in models
        ),
        separators=(",", ":"),
    )
    return hashlib.sha1(text.encode()).hexdigest()[:16]


class VideoTagClient:
    """Async client for one video-tag server.

    Attributes:
        url: the server's base address (its password masked, for messages).
        timeout: seconds to wait for one video's whole answer.
        setting: the setting that names this server, for error messages.
    """

    def __init__(
        self, url: str, timeout: float = 3700.0, setting: str = "analysis.video_server_url"
    ) -> None:
        self._address, auth = basic_auth(url.rstrip("/"))
        self.url = mask_url(url.rstrip("/"))  # for messages: never the password
        self.timeout = timeout
        self.setting = setting
        self._http = httpx.AsyncClient(
            headers={"User-Agent": f"StashDesk/{__version__}"},
            auth=httpx.BasicAuth(*auth) if auth else None,
            timeout=httpx.Timeout(timeout, connect=10.0),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def process_video(
        self,
        path: str,
        *,
        frame_interval: float = 2.0,
        threshold: float = 0.3,
        vr_video: bool = False,
    ) -> VideoTagResult:
        """Have the server analyse one video and read its answer."""
        content = await self.request_video(
            path, frame_interval=frame_interval, threshold=threshold, vr_video=vr_video
        )
        # Decoding a long video's answer takes milliseconds: not on the event loop.
        return await asyncio.to_thread(read_video_tag_answer, content, frame_interval)

    async def request_video(
        self,
        path: str,
        *,
        frame_interval: float = 2.0,
        threshold: float = 0.3,
        vr_video: bool = False,
    ) -> bytes:
        """The server's answer for one video, not decoded yet (see read_video_tag_answer):
        the caller can give the server's slot back before the decoding."""
        body = {
            "path": path,
            "frame_interval": frame_interval,
            "threshold": threshold,
            "return_confidence": True,
            "vr_video": vr_video,
        }
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._http.post(f"{self._address}/process_video/", json=body)
        except httpx.ConnectTimeout:
            raise VideoTagUnreachable(
                f"Video-tag server unreachable at {self.url}: no answer to the connection "
                f"attempt - check {self.setting}"
            ) from None
        except (httpx.TimeoutException, TimeoutError):
            raise VideoTagTimeout(
                f"The video-tag server at {self.url} did not finish {path} within "
                f"{self.timeout:g} s - raise analysis.server_timeout for long videos"
            ) from None
        except httpx.TransportError as exc:
            raise VideoTagUnreachable(
                f"Video-tag server unreachable at {self.url}: {describe_transport_error(exc)} - "
                f"check {self.setting}"
            ) from None
        if response.status_code >= 400:
            raise VideoTagServerError(
                f"The video-tag server at {self.url} failed on {path} "
                f"(HTTP {response.status_code}): {_snippet(response.text)}",
                status=response.status_code,
            )
        return response.content

    async def current_models(self) -> list[dict[str, Any]] | None:
        """The models the server would use now (``GET /v3/current_ai_models/``), or None
        when it does not say (an older server answers 404)."""
        try:
            async with asyncio.timeout(MODELS_SECONDS):  # the whole answer, not each read
                response = await self._http.get(
                    f"{self._address}/v3/current_ai_models/", timeout=MODELS_SECONDS
                )
        except TimeoutError:
            raise VideoTagUnreachable(
                f"Video-tag server unreachable at {self.url}: no answer within {MODELS_SECONDS:g} s"
            ) from None
        except httpx.TransportError as exc:
            raise VideoTagUnreachable(
                f"Video-tag server unreachable at {self.url}: {describe_transport_error(exc)}"
            ) from None
        if response.status_code != 200:
            return None
        try:
            return model_identity(response.json())
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    async def ping(self) -> int:
        """Reach the server at all (any HTTP answer counts); returns the status code."""
        try:
            async with asyncio.timeout(PING_SECONDS):
                response = await self._http.get(f"{self._address}/", timeout=PING_SECONDS)
        except TimeoutError:
            raise VideoTagUnreachable(
                f"Video-tag server unreachable at {self.url}: no answer within {PING_SECONDS:g} s"
            ) from None
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
        confidence: Any = entry.get("confidence", entry.get("score", 1.0))  # JSON: any value
        if isinstance(name, str):
            return name, float(confidence)
    if isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], str):
        return entry[0], float(entry[1])
    raise VideoTagMalformedAnswer(f"unexpected tag entry in the video-tag answer: {entry!r}")


def _span_confidence(
    span: dict[str, Any], start: float, end: float | None, frame_interval: float
) -> float | None:
    if span.get("confidence") is not None:
        return float(span["confidence"])
    total = span.get("totalConfidence")
    if total is None:
        return None
    covered = (end if end is not None else start) - start + frame_interval
    return max(0.0, min(1.0, float(total) / covered)) if covered > 0 else None


def _server_record(result: dict[str, Any]) -> dict[str, Any]:
    record = result.get("json_result")
    if isinstance(record, str):
        try:
            record = json.loads(record)
        except json.JSONDecodeError:
            return {}
    return record if isinstance(record, dict) else {}


def read_video_tag_answer(content: bytes, frame_interval: float = 2.0) -> VideoTagResult:
    """Decode and parse an answer's body (blocking CPU work: run it off the loop)."""
    try:
        answer = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = content.decode("utf-8", "replace")
        raise VideoTagMalformedAnswer(
            f"The video-tag server sent an answer that is not JSON: {_snippet(text)}"
        ) from None
    return parse_video_tag_answer(answer, frame_interval=frame_interval)


def parse_video_tag_answer(answer: Any, frame_interval: float = 2.0) -> VideoTagResult:
    try:
        info = answer["result"]["video_tag_info"]
    except (KeyError, TypeError):
        raise VideoTagMalformedAnswer(
            "The video-tag server's answer lacks result.video_tag_info"
        ) from None
    if not isinstance(info, dict):
        raise VideoTagMalformedAnswer(
            "The video-tag server's result.video_tag_info is not an object"
        )
    record = _server_record(answer["result"])
    metadata = record.get("metadata")
    if not isinstance(metadata, dict):
        metadata = {}
    models = model_identity(metadata.get("models")) or model_identity(
        answer["result"].get("models")
    )
    duration = info.get("video_duration", metadata.get("duration"))
    result = VideoTagResult(
        duration=float(duration) if isinstance(duration, (int, float)) else None, models=models
    )
    for category, by_tag in (info.get("tag_totals") or {}).items():
        for name, seconds in (by_tag or {}).items():
            if isinstance(seconds, (int, float)):
                result.tag_totals[(category, name)] = float(seconds)
    for category, entries in (info.get("video_tags") or {}).items():
        for entry in entries or []:
            name, confidence = _tag_and_confidence(entry)
            result.tags.append(DetectedTag(category, name, confidence))
    for category, by_tag in (info.get("tag_timespans") or {}).items():
        for name, spans in (by_tag or {}).items():
            for span in spans or []:
                try:
                    start = float(span["start"])
                    end = None if span.get("end") is None else float(span["end"])
                    result.timespans.append(
                        TagTimespan(
                            category,
                            name,
                            start,
                            end,
                            _span_confidence(span, start, end, frame_interval),
                        )
                    )
                except (KeyError, TypeError, ValueError):
                    raise VideoTagMalformedAnswer(
                        f"unexpected time span in the video-tag answer: {span!r}"
                    ) from None
    return result

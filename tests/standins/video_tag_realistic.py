"""Realistic answers for the video-tag stand-in, shaped like skier233's model server.

The real server samples a frame every ``frame_interval`` seconds, scores every tag
of its models on each frame, joins runs of frames above the threshold into time
spans (``{"start", "end", "totalConfidence"}``: the first and last frame's time,
and confidence x seconds covered), counts each tag's seconds on screen
(``tag_totals``), lists as ``video_tags`` the tags on screen long enough (20 s by
default), and adds ``json_result``: its own record, whose ``metadata.models``
names the models (file name, version, identifier) per category.

:func:`realistic_answer` does the same from a seeded random walk, so an answer is
the same for the same path, settings and seed, and differs between videos.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT_MODELS: list[dict[str, Any]] = [
    {
        "name": "actions_vit_b",
        "identifier": 2021,
        "version": 2.0,
        "categories": ["actions"],
        "type": "tagging",
    },
    {
        "name": "scenes_vit_b",
        "identifier": 2022,
        "version": 2.0,
        "categories": ["locations", "shots"],
        "type": "tagging",
    },
]

VOCABULARY: dict[str, list[str]] = {
    "actions": ["Kissing", "Dancing", "Undressing", "Massage", "Cuddling", "Talking"],
    "locations": ["Kitchen", "Bedroom", "Beach", "Pool", "Office", "Car"],
    "shots": ["Closeup", "POV", "Wide Shot"],
}

REQUIRED_SECONDS = 20.0  # the server's default RequiredDuration for a scene tag


def server_record(
    models: Sequence[Mapping[str, Any]], *, duration: float, frame_interval: float, threshold: float
) -> str:
    """The server's ``json_result`` text: schema 1, ``metadata.models`` by category."""
    by_category = {
        category: {
            "frame_interval": frame_interval,
            "threshold": threshold,
            "version": model.get("version"),
            "ai_model_id": model.get("identifier"),
            "file_name": model.get("name"),
        }
        for model in models
        for category in model.get("categories") or []
    }
    return json.dumps(
        {
            "schema_version": 1,
            "metadata": {"duration": duration, "models": by_category},
            "timespans": {},
        }
    )


def _rng(path: str, seed: int) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{path}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _spans(
    rng: random.Random, frames: int, frame_interval: float, threshold: float
) -> list[dict[str, float]]:
    """A few runs of confident frames, as the server would join them."""
    spans: list[dict[str, float]] = []
    frame = rng.randrange(0, max(1, frames // 3))
    while frame < frames and len(spans) < 6:
        length = rng.randint(1, max(1, frames // 8))
        run = [max(threshold, min(1.0, rng.gauss(0.72, 0.12))) for _ in range(length)]
        last = min(frames - 1, frame + length - 1)
        run = run[: last - frame + 1]
        spans.append(
            {
                "start": round(frame * frame_interval, 3),
                "end": round(last * frame_interval, 3),
                "totalConfidence": round(sum(run) * frame_interval, 4),
            }
        )
        frame = last + 1 + rng.randint(2, max(3, frames // 4))
    return spans


def realistic_answer(
    path: str,
    *,
    frame_interval: float = 2.0,
    threshold: float = 0.3,
    duration: float = 600.0,
    seed: int = 0,
    models: Sequence[Mapping[str, Any]] | None = DEFAULT_MODELS,
    vocabulary: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """A 200 answer body for one video (see the module docstring)."""
    rng = _rng(path, seed)
    frames = max(1, int(duration // frame_interval))
    video_tags: dict[str, list[str]] = {}
    timespans: dict[str, dict[str, list[dict[str, float]]]] = {}
    totals: dict[str, dict[str, float]] = {}
    for category, tags in (vocabulary or VOCABULARY).items():
        video_tags[category], timespans[category], totals[category] = [], {}, {}
        for tag in tags:
            if rng.random() > 0.45:
                continue
            spans = _spans(rng, frames, frame_interval, threshold)
            seconds = sum(s["end"] - s["start"] + frame_interval for s in spans)
            timespans[category][tag] = spans
            totals[category][tag] = round(seconds, 3)
            if seconds >= REQUIRED_SECONDS:
                video_tags[category].append(tag)
    result: dict[str, Any] = {
        "video_tag_info": {
            "video_duration": duration,
            "video_tags": video_tags,
            "tag_totals": totals,
            "tag_timespans": timespans,
        }
    }
    if models:
        result["json_result"] = server_record(
            models, duration=duration, frame_interval=frame_interval, threshold=threshold
        )
    return {"result": result}

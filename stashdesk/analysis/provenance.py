"""What produced each video analysis, what would produce one now, and requests to redo.

A video analysis is produced by the server's models (the identity it reports, see
:func:`stashdesk.clients.video_tags.model_identity`), the frame interval and the
threshold sent, and the VR flag sent (a scene carrying Stash's VR tag). The
ANALYSIS job records them on the scene's SceneAnalysis row. With
``analysis.reanalyse_on_change`` a scene analysed before becomes due again when one
of them differs from now:

* frame interval or threshold: the settings now;
* VR flag: whether the scene carries the VR tag now (Stash's own setting, which the
  SYNC job copies as ``sync.vr_tag``);
* models: only when the scene's model is known and none of the configured servers
  runs it any more (the identities servers reported last, kept as
  ``analysis.server_models_seen``) - a pool with different models on different
  servers does not re-analyse back and forth.

Rows without a record (analysed before StashDesk recorded it) are never due by
this: what produced them is unknown, and re-analysing a whole library on upgrade
would be a surprise; "Analyse again" (:func:`request_reanalysis`) does it on
request. Requested scenes are due whatever their state (even out of attempts) and
the request is kept until the scene is analysed after it.

Synchronous functions (the queries are in ``stashdesk.store.analysis``): call them
through ``Store.read``/``Store.write``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stashdesk.clients.video_tags import models_key
from stashdesk.store.analysis import (  # re-exported: the staleness queries and requests
    CurrentProducer,
    add_analysis_request,
    has_analysis_request,
    list_requests,
    present_scene_ids,
    requested_scenes,
    scene_carries_vr_tag,
    settle_request,
    stale_video_analyses,
    video_analysis_row,
)
from stashdesk.store.settings import save_setting, setting_value

SERVER_MODELS_KEY = "analysis.server_models_seen"
VR_TAG_KEY = "sync.vr_tag"


# --- kept state -------------------------------------------------------------------------------


def _state(key: str) -> dict[str, Any]:
    value = setting_value(key)
    return value if isinstance(value, dict) else {}


def save_server_models(
    url: str, models: list[dict[str, Any]] | None, *, source: str = "answer"
) -> bool:
    """Remember the model identity ``url`` reported; True when the known one changed.

    ``source`` "answer" (what produced an analysis) always counts. "probe" (what the
    server says it would use, asked before work) counts only when it differs from the
    last probe: the two may describe the same models differently, and analyses are
    recorded with the answer's, so a probe only says *that* the models changed.
    """
    if not models:
        return False
    seen = _state(SERVER_MODELS_KEY)
    known = seen.get(url)
    before: dict[str, Any] = known if isinstance(known, dict) else {}
    key = models_key(models)
    entry = dict(before)
    if source == "probe":
        if before.get("probe_key") == key:
            return False
        entry["probe_key"] = key
        if before.get("source") == "answer" and before.get("probe_key") is None:
            changed = False  # the first probe after answers: nothing says the model changed
        else:
            entry.update(models=models, key=key, source="probe")
            changed = before.get("key") != key
    else:
        entry.update(models=models, key=key, source="answer")
        changed = before.get("key") != key
    if entry == before:
        return False
    seen[url] = {**entry, "at": time.time()}
    save_setting(SERVER_MODELS_KEY, seen)
    return changed


def server_models() -> dict[str, dict[str, Any]]:
    """{url: {"models", "key", "at"}} for every server that reported an identity."""
    return _state(SERVER_MODELS_KEY)


def save_vr_tag(name: str | None) -> None:
    save_setting(VR_TAG_KEY, {"name": name or None, "read_at": time.time()})


def read_vr_tag() -> str | None:
    """The name of Stash's VR tag (Settings > Interface in Stash), None when unset."""
    name = _state(VR_TAG_KEY).get("name")
    return name if isinstance(name, str) and name.strip() else None


# --- what produces an analysis -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Producer:
    """What produced one scene's video analysis (recorded on its SceneAnalysis row)."""

    server_url: str | None
    models: list[dict[str, Any]] | None
    frame_interval: float
    threshold: float
    vr_video: bool

    def as_fields(self) -> dict[str, Any]:
        return {
            "server_url": self.server_url,
            "models": self.models,
            "model_key": models_key(self.models),
            "frame_interval": self.frame_interval,
            "threshold": self.threshold,
            "vr_video": self.vr_video,
        }


def load_current_producer(settings: Any, server_urls: Iterable[str]) -> CurrentProducer:
    urls = set(server_urls)
    keys = frozenset(
        v["key"]
        for url, v in server_models().items()
        if url in urls and isinstance(v, dict) and v.get("key")
    )
    return CurrentProducer(
        float(settings.get("analysis.frame_interval")),
        float(settings.get("analysis.threshold")),
        read_vr_tag(),
        keys,
    )


def explain_staleness(scene_id: str, current: CurrentProducer) -> list[str]:
    """Why a scene's video analysis is due again (empty: it is not), for people."""
    row = video_analysis_row(scene_id)
    reasons = []
    if has_analysis_request(scene_id):
        reasons.append("analysis was requested")
    if row is None or row.status != "analysed" or row.frame_interval is None:
        return reasons
    if row.frame_interval != current.frame_interval:
        reasons.append(f"frame interval {row.frame_interval:g} -> {current.frame_interval:g}")
    if row.threshold != current.threshold:
        reasons.append(f"threshold {row.threshold:g} -> {current.threshold:g}")
    is_vr = scene_carries_vr_tag(scene_id, current.vr_tag)
    if bool(row.vr_video) != is_vr:
        reasons.append("the scene's VR tag changed")
    if current.model_keys and row.model_key and row.model_key not in current.model_keys:
        reasons.append("no server runs its model any more")
    return reasons


# --- requests ------------------------------------------------------------------------------------


def request_reanalysis(
    scene_ids: Iterable[str], requested_by: str | None = None, now: float | None = None
) -> dict[str, Any]:
    """Ask for these scenes to be analysed again (every analyser the daemon runs).

    Returns {"requested": [ids], "unknown": [ids not in the local copy, or removed]}.
    """
    ids = list(dict.fromkeys(str(s) for s in scene_ids))
    known = present_scene_ids(ids)
    at = now or time.time()
    for scene_id in ids:
        if scene_id in known:
            add_analysis_request(scene_id, at, requested_by)
    return {
        "requested": [s for s in ids if s in known],
        "unknown": [s for s in ids if s not in known],
    }


__all__ = [
    "SERVER_MODELS_KEY",
    "VR_TAG_KEY",
    "CurrentProducer",
    "Producer",
    "explain_staleness",
    "list_requests",
    "load_current_producer",
    "read_vr_tag",
    "request_reanalysis",
    "requested_scenes",
    "save_server_models",
    "save_vr_tag",
    "server_models",
    "settle_request",
    "stale_video_analyses",
]

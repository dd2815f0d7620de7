"""What the analysis reads: scenes, and the names Stash knows, from the LOCAL copy.

The SYNC job keeps Scene, SceneFile, SceneTag, ScenePerformer, SceneMarker, Tag,
Performer and Studio current; analysis never asks Stash for them. The reads live in
``stashdesk.store.analysis`` (re-exported here): synchronous, call them through
``Store.read``.
"""

from __future__ import annotations

from stashdesk.store.analysis import (
    KnownName,
    MarkerInfo,
    SceneSnapshot,
    load_known_names,
    load_scene_snapshots,
)

__all__ = [
    "KnownName",
    "MarkerInfo",
    "SceneSnapshot",
    "load_known_names",
    "load_scene_snapshots",
]

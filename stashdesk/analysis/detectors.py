"""Detectors: turn what is known about a scene into proposed changes.

Two detectors exist:

* ``video_tags`` - the AI video-tag server's answer for the scene's file, turned
  into tags and markers by the tag rules and mapping (see
  :mod:`stashdesk.analysis.video_tag_plan`; by default "<tag>_AI"). The AI status
  tags are always proposed: remove "AI_TagMe", add "AI_Tagged" on success or
  "AI_Errored" when the server failed on the scene.
* ``path`` - performers, studios and tags Stash already knows (names and
  aliases) found as whole words, case-insensitively, in the file path (without
  its extension) and the title.

Nothing here does I/O: the ANALYSIS job fetches, the functions decide. A change
is never proposed for what the scene already has (a tag, a performer, a studio,
a marker with the same title and start second).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from stashdesk.analysis.scenes import KnownName, SceneSnapshot

DETECTORS = ("video_tags", "path")
FIELDS = ("tags", "performers", "studio", "title", "details", "markers")

TAG_ME = "AI_TagMe"
TAGGED = "AI_Tagged"
ERRORED = "AI_Errored"
STATUS_TAGS = (TAG_ME, TAGGED, ERRORED)

PATH_NAME_CONFIDENCE = 0.9
PATH_ALIAS_CONFIDENCE = 0.8
MIN_NAME_LENGTH = 2  # a one-letter name would match nearly every path


@dataclass(frozen=True, slots=True)
class ProposedChange:
    """A change a detector proposes; becomes a PlanChange row."""

    scene_id: str
    field: str
    action: str  # add | remove | set
    proposed_value: Any
    current_value: Any = None
    confidence: float = 1.0

    def as_row(self) -> dict[str, Any]:
        return {
            "scene_id": self.scene_id,
            "field": self.field,
            "action": self.action,
            "proposed_value": self.proposed_value,
            "current_value": self.current_value,
            "confidence": round(float(self.confidence), 4),
        }


def keep_confident(changes: Iterable[ProposedChange], threshold: float) -> list[ProposedChange]:
    return [c for c in changes if c.confidence >= threshold]


# --- path mapping ------------------------------------------------------------------------


def map_path(path: str, path_map: Iterable[str]) -> str:
    """The path as the video-tag server sees it: the longest matching FROM becomes TO.

    FROM matches whole leading path components only ("/data" maps "/data/x.mp4",
    not "/database/x.mp4").
    """
    best: tuple[str, str] | None = None
    for pair in path_map:
        source, _, target = pair.partition("=")
        root = source.rstrip("/\\")
        matches = path == root or any(path.startswith(root + sep) for sep in "/\\")
        if matches and (best is None or len(root) > len(best[0])):
            best = (root, target)
    if best is None:
        return path
    root, target = best
    return target.rstrip("/\\") + path[len(root) :]


# --- video tags ------------------------------------------------------------------------------


def status_tag_changes(scene: SceneSnapshot, success: bool) -> list[ProposedChange]:
    """AI_TagMe goes; AI_Tagged (or AI_Errored) comes; a stale AI_Errored goes on success."""
    changes = []
    if scene.has_tag(TAG_ME):
        changes.append(ProposedChange(scene.id, "tags", "remove", TAG_ME))
    wanted = TAGGED if success else ERRORED
    if not scene.has_tag(wanted):
        changes.append(ProposedChange(scene.id, "tags", "add", wanted))
    if success and scene.has_tag(ERRORED):
        changes.append(ProposedChange(scene.id, "tags", "remove", ERRORED))
    return changes


# --- path-based ----------------------------------------------------------------------------------

_SEPARATORS = re.compile(r"[\W_]+")


def normalise_words(text: str) -> list[str]:
    """Lower-cased words: every run of non-letters/digits (incl. "_", ".", "-") splits."""
    return _SEPARATORS.sub(" ", text.casefold()).split()


def _strip_extension(path: str) -> str:
    name_start = max(path.rfind("/"), path.rfind("\\")) + 1
    dot = path.rfind(".")
    return path[:dot] if dot > name_start else path


class PathDetector:
    """Finds known names as whole words in a scene's file paths and title.

    Names are indexed by their word sequence, so matching a scene costs one lookup
    per word n-gram of its text, however many names Stash knows.
    """

    def __init__(self, known: Iterable[KnownName]) -> None:
        self._index: dict[str, list[KnownName]] = {}
        self._longest = 1
        for entry in known:
            words = normalise_words(entry.matched)
            key = " ".join(words)
            if len(key.replace(" ", "")) < MIN_NAME_LENGTH:
                continue
            if entry.kind == "tags" and entry.name in STATUS_TAGS:
                continue
            self._index.setdefault(key, []).append(entry)
            self._longest = max(self._longest, len(words))

    def matches(self, text: str) -> list[KnownName]:
        words = normalise_words(text)
        found: list[KnownName] = []
        for size in range(1, self._longest + 1):
            for start in range(len(words) - size + 1):
                found.extend(self._index.get(" ".join(words[start : start + size]), ()))
        return found

    def detect(self, scene: SceneSnapshot) -> list[ProposedChange]:
        texts = [_strip_extension(p) for p in scene.paths]
        if scene.title:
            texts.append(scene.title)
        best: dict[tuple[str, str], tuple[float, KnownName]] = {}
        for text in texts:
            for entry in self.matches(text):
                confidence = PATH_ALIAS_CONFIDENCE if entry.is_alias else PATH_NAME_CONFIDENCE
                key = (entry.kind, entry.name.casefold())
                if key not in best or best[key][0] < confidence:
                    best[key] = (confidence, entry)
        changes: list[ProposedChange] = []
        studios: list[tuple[float, KnownName]] = []
        for (kind, _folded), (confidence, entry) in sorted(best.items()):
            if kind == "tags" and not scene.has_tag(entry.name):
                changes.append(
                    ProposedChange(scene.id, "tags", "add", entry.name, confidence=confidence)
                )
            elif kind == "performers" and not scene.has_performer(entry.name):
                changes.append(
                    ProposedChange(scene.id, "performers", "add", entry.name, confidence=confidence)
                )
            elif kind == "studio":
                studios.append((confidence, entry))
        if studios and not scene.studio_name:
            # The most specific name wins ("Studio X Extra" over "Studio X"); a tie is
            # ambiguous and proposes nothing.
            studios.sort(key=lambda s: (len(normalise_words(s[1].matched)), s[0]), reverse=True)
            top = studios[0]
            tied = [
                s
                for s in studios
                if len(normalise_words(s[1].matched)) == len(normalise_words(top[1].matched))
                and s[1].name != top[1].name
            ]
            if not tied:
                changes.append(
                    ProposedChange(
                        scene.id,
                        "studio",
                        "set",
                        top[1].name,
                        current_value=None,
                        confidence=top[0],
                    )
                )
        return changes

"""From the video-tag server's answer to proposed changes, by the tag rules and mapping.

For every AI tag of the answer, in the order the server lists them:

1. its rule (:mod:`stashdesk.analysis.tag_rules`) must have it enabled, and the tag
   mapping (:mod:`stashdesk.analysis.tag_mapping`) must give it a Stash tag;
2. the scene tag is proposed when the tag's confidence reaches the rule's minimum
   (``analysis.threshold`` when unset) and its time spans cover at least the rule's
   minimum time on screen;
3. with ``analysis.create_markers``, its time spans of enough confidence become
   markers: spans at 0 s are left out (they stand for the whole video), spans at
   most ``merge_gap_seconds`` apart are merged, markers shorter than
   ``min_marker_seconds`` are left out, and at most ``max_markers`` (the longest)
   are kept. A marker is titled, and has as primary tag, the Stash tag.

Nothing is proposed that the scene already has (the tag, or a marker of that title
starting in the same second). Whatever a rule or the mapping leaves out is
recorded as a note ("Kitchen: 3 s on screen, under the 10 s minimum") that the
plan keeps for the review screen.

A span covers its frames: from its start to its end plus one frame interval (the
peers and the server's own totals count time that way).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stashdesk.analysis.detectors import ProposedChange
from stashdesk.analysis.scenes import SceneSnapshot
from stashdesk.analysis.tag_mapping import TagResolver
from stashdesk.analysis.tag_rules import RuleBook
from stashdesk.clients.video_tags import TagTimespan, VideoTagResult


@dataclass(frozen=True, slots=True)
class LeftOut:
    """Something a rule or the mapping kept out of the plan, and the sentence saying so."""

    ai_tag: str
    rule: str  # enabled | mapping | create_missing_tags | min_confidence | min_on_screen
    #            | min_marker_seconds | max_markers
    message: str
    data: dict[str, Any] = field(default_factory=dict)

    def as_row(self, scene_id: str) -> dict[str, Any]:
        return {
            "scene_id": scene_id,
            "ai_tag": self.ai_tag,
            "rule": self.rule,
            "message": self.message,
            "data": self.data,
        }


@dataclass(slots=True)
class VideoTagPlan:
    changes: list[ProposedChange] = field(default_factory=list)
    notes: list[LeftOut] = field(default_factory=list)


@dataclass(frozen=True)
class VideoTagPolicy:
    """Everything besides the answer that decides the changes (read once per job)."""

    threshold: float = 0.3
    create_markers: bool = True
    frame_interval: float = 2.0
    rules: RuleBook = field(default_factory=RuleBook)
    resolver: TagResolver = field(default_factory=TagResolver)


@dataclass(slots=True)
class _Marker:
    start: float
    end: float | None
    confidence: float

    def last_frame(self) -> float:
        return self.end if self.end is not None else self.start


def seconds_text(value: float) -> str:
    return f"{round(value, 1):g} s"


def clock_text(value: float) -> str:
    whole = int(value)
    hours, rest = divmod(whole, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def covered_seconds(
    spans: list[TagTimespan], frame_interval: float, duration: float | None = None
) -> float:
    """Seconds the spans cover together (overlaps counted once)."""
    intervals = sorted(
        (s.start, (s.end if s.end is not None else s.start) + frame_interval) for s in spans
    )
    total, reach = 0.0, float("-inf")
    for start, end in intervals:
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return min(total, duration) if duration else total


def _merge(
    spans: list[tuple[TagTimespan, float]], gap: float | None, frame_interval: float
) -> list[_Marker]:
    merged: list[_Marker] = []
    for span, confidence in sorted(spans, key=lambda item: item[0].start):
        last = merged[-1] if merged else None
        if (
            last is not None
            and gap is not None
            and span.start - (last.last_frame() + frame_interval) <= gap
        ):
            end = span.end if span.end is not None else span.start
            last.end = max(last.last_frame(), end)
            last.confidence = max(last.confidence, confidence)
            continue
        merged.append(_Marker(span.start, span.end, confidence))
    return merged


class _TagPlanner:
    """Plans one scene: the state shared by the per-tag steps."""

    def __init__(
        self, scene: SceneSnapshot, result: VideoTagResult, policy: VideoTagPolicy
    ) -> None:
        self.scene, self.result, self.policy = scene, result, policy
        self.duration = scene.duration or result.duration
        self.plan = VideoTagPlan()
        self.tag_confidence: dict[str, float] = {}
        self.names: dict[str, tuple[str, str]] = {}  # folded -> (name, category)
        for tag in result.tags:
            key = tag.name.casefold()
            self.tag_confidence[key] = max(self.tag_confidence.get(key, 0.0), tag.confidence)
            self.names.setdefault(key, (tag.name, tag.category))
        self.spans: dict[str, list[TagTimespan]] = {}
        for span in result.timespans:
            key = span.name.casefold()
            self.spans.setdefault(key, []).append(span)
            self.names.setdefault(key, (span.name, span.category))
        self.proposed_tags: set[str] = set()
        self.markers: list[tuple[float, str, ProposedChange]] = []
        self.marker_keys: set[tuple[str, int]] = set()

    def note(self, name: str, rule: str, message: str, **data: Any) -> None:
        self.plan.notes.append(LeftOut(name, rule, message, data))

    def run(self) -> VideoTagPlan:
        for key, (name, category) in self.names.items():
            self.plan_tag(key, name, category)
        self.markers.sort(key=lambda m: (m[0], m[1]))
        self.plan.changes.extend(change for _s, _n, change in self.markers)
        return self.plan

    def plan_tag(self, key: str, name: str, category: str) -> None:
        rule = self.policy.rules.rule_for(name)
        if not rule.enabled:
            self.note(name, "enabled", f"{name}: switched off in its tag rule")
            return
        choice = self.policy.resolver.resolve(name)
        if choice.stash_tag is None:
            rule_name = "mapping" if choice.source == "ignored" else "create_missing_tags"
            self.note(name, rule_name, choice.note or f"{name}: left out by the tag mapping")
            return
        minimum = rule.min_confidence if rule.min_confidence is not None else self.policy.threshold
        default_confidence = self.tag_confidence.get(key, 1.0)
        scored = [
            (s, s.confidence if s.confidence is not None else default_confidence)
            for s in self.spans.get(key, [])
        ]
        confident = [(s, c) for s, c in scored if c >= minimum]
        if key in self.tag_confidence:
            self.plan_scene_tag(
                key,
                name,
                category,
                choice.stash_tag,
                rule,
                minimum,
                [s for s, _c in confident],
                bool(scored),
            )
        if self.policy.create_markers and scored:
            if len(confident) < len(scored):
                dropped = len(scored) - len(confident)
                self.note(
                    name,
                    "min_confidence",
                    f"{name}: {dropped} time span{'s' if dropped != 1 else ''} under "
                    f"the {minimum:g} confidence minimum left out",
                    spans=dropped,
                    minimum=minimum,
                )
            self.plan_markers(name, choice.stash_tag, rule, confident)

    def plan_scene_tag(
        self,
        key: str,
        name: str,
        category: str,
        stash_tag: str,
        rule: Any,
        minimum: float,
        spans: list[TagTimespan],
        has_spans: bool,
    ) -> None:
        confidence = self.tag_confidence[key]
        if confidence < minimum:
            self.note(
                name,
                "min_confidence",
                f"{name}: confidence {confidence:g}, under the {minimum:g} minimum",
                confidence=confidence,
                minimum=minimum,
            )
            return
        if rule.min_on_screen is not None:
            need = rule.min_on_screen.seconds(self.duration)
            on_screen = (
                covered_seconds(spans, self.policy.frame_interval, self.duration)
                if has_spans
                else self.result.tag_totals.get((category, name))
            )
            if need is None:
                self.note(
                    name,
                    "min_on_screen",
                    f"{name}: the {rule.min_on_screen.describe()} minimum on screen "
                    f"needs the video's length, which is unknown; not applied",
                )
            elif on_screen is not None and on_screen < need:
                if rule.min_on_screen.unit == "%":
                    share = 100.0 * on_screen / self.duration if self.duration else 0.0
                    message = (
                        f"{name}: {seconds_text(on_screen)} on screen ({share:.1f} % "
                        f"of the video), under the {rule.min_on_screen.describe()} "
                        f"minimum"
                    )
                else:
                    message = (
                        f"{name}: {seconds_text(on_screen)} on screen, under the "
                        f"{seconds_text(need)} minimum"
                    )
                self.note(
                    name,
                    "min_on_screen",
                    message,
                    on_screen=round(on_screen, 3),
                    minimum=round(need, 3),
                )
                return
        folded = stash_tag.casefold()
        if folded in self.proposed_tags or self.scene.has_tag(stash_tag):
            return
        self.proposed_tags.add(folded)
        self.plan.changes.append(
            ProposedChange(self.scene.id, "tags", "add", stash_tag, confidence=confidence)
        )

    def plan_markers(
        self, name: str, stash_tag: str, rule: Any, spans: list[tuple[TagTimespan, float]]
    ) -> None:
        interval = self.policy.frame_interval
        # A span at 0 s is the whole video, not a moment worth a marker.
        merged = _merge([(s, c) for s, c in spans if s.start > 0], rule.merge_gap_seconds, interval)

        def length(marker: _Marker) -> float:
            return marker.last_frame() - marker.start + interval

        short = [m for m in merged if length(m) < rule.min_marker_seconds]
        if short:
            at = ", ".join(clock_text(m.start) for m in short)
            self.note(
                name,
                "min_marker_seconds",
                f"{name}: {len(short)} marker{'s' if len(short) != 1 else ''} shorter "
                f"than {seconds_text(rule.min_marker_seconds)} left out (at {at})",
                starts=[m.start for m in short],
                minimum=rule.min_marker_seconds,
            )
        kept = [m for m in merged if length(m) >= rule.min_marker_seconds]
        if rule.max_markers is not None and len(kept) > rule.max_markers:
            ranked = sorted(kept, key=lambda m: (-length(m), m.start))
            over = sorted(ranked[rule.max_markers :], key=lambda m: m.start)
            kept = sorted(ranked[: rule.max_markers], key=lambda m: m.start)
            at = ", ".join(clock_text(m.start) for m in over)
            self.note(
                name,
                "max_markers",
                f"{name}: {len(over)} marker{'s' if len(over) != 1 else ''} over the "
                f"limit of {rule.max_markers} per scene left out (at {at})",
                starts=[m.start for m in over],
                limit=rule.max_markers,
            )
        for marker in kept:
            key = (stash_tag.casefold(), int(marker.start))
            if key in self.marker_keys or self.scene.has_marker(stash_tag, marker.start):
                continue
            self.marker_keys.add(key)
            self.markers.append(
                (
                    marker.start,
                    name,
                    ProposedChange(
                        self.scene.id,
                        "markers",
                        "add",
                        {
                            "title": stash_tag,
                            "seconds": marker.start,
                            "end_seconds": marker.end,
                            "primary_tag": stash_tag,
                        },
                        confidence=marker.confidence,
                    ),
                )
            )


def plan_video_tags(
    scene: SceneSnapshot, result: VideoTagResult, policy: VideoTagPolicy
) -> VideoTagPlan:
    """Tag and marker changes (status tags not included) and the notes on what was left
    out (see the module docstring)."""
    return _TagPlanner(scene, result, policy).run()


def video_tag_changes(
    scene: SceneSnapshot, result: VideoTagResult, *, threshold: float, create_markers: bool
) -> list[ProposedChange]:
    """The changes with the built-in rules and the ``<tag>_AI`` suffix."""
    policy = VideoTagPolicy(threshold=threshold, create_markers=create_markers)
    return plan_video_tags(scene, result, policy).changes

"""What the analysis reads and keeps besides plans: scenes and the names Stash knows
(from the LOCAL copy the SYNC job keeps current; analysis never asks Stash for them),
the tag mappings and the tag rules.

Blocking Peewee functions: the CLI calls them directly, the engine through
``Store.read``/``Store.write``, as the callers in ``stashdesk.analysis`` always did.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import peewee as pw

from stashdesk.store.bulk import execute_many
from stashdesk.store.models import (
    AnalysisRequest,
    Performer,
    PlanNote,
    Scene,
    SceneAnalysis,
    SceneFile,
    SceneMarker,
    ScenePerformer,
    SceneTag,
    Studio,
    Tag,
    TagMapping,
    TagRule,
)
from stashdesk.store.typed import rows_changed, tuples

# --- scenes and names --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MarkerInfo:
    title: str
    seconds: float


@dataclass(slots=True)
class SceneSnapshot:
    """One scene as the local copy holds it, with names resolved."""

    id: str
    title: str | None
    paths: list[str]
    tag_names: list[str] = field(default_factory=list)
    performer_names: list[str] = field(default_factory=list)
    studio_name: str | None = None
    markers: list[MarkerInfo] = field(default_factory=list)
    duration: float | None = None  # of the primary file, as Stash measured it

    @property
    def primary_path(self) -> str | None:
        return self.paths[0] if self.paths else None

    def has_tag(self, name: str) -> bool:
        folded = name.casefold()
        return any(t.casefold() == folded for t in self.tag_names)

    def has_performer(self, name: str) -> bool:
        folded = name.casefold()
        return any(p.casefold() == folded for p in self.performer_names)

    def has_marker(self, title: str, seconds: float) -> bool:
        """Same title (any case) starting in the same second."""
        folded, second = title.casefold(), int(seconds)
        return any(m.title.casefold() == folded and int(m.seconds) == second for m in self.markers)


@dataclass(frozen=True, slots=True)
class KnownName:
    """A tag, performer or studio name (or alias) Stash knows."""

    kind: str  # tags | performers | studio
    name: str  # the canonical name (what a change proposes)
    matched: str  # the name or alias that is looked for in paths
    is_alias: bool


def load_scene_snapshots(scene_ids: list[str]) -> dict[str, SceneSnapshot]:
    """Snapshots of the given scenes that exist locally and were not removed from Stash."""
    ids = [str(i) for i in scene_ids]
    snapshots: dict[str, SceneSnapshot] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for scene in Scene.select().where(Scene.id.in_(chunk) & ~Scene.removed):
            snapshots[scene.id] = SceneSnapshot(scene.id, scene.title, [])
        wanted = [i for i in chunk if i in snapshots]
        if not wanted:
            continue
        # Files in the order the sync stored them: Stash lists the primary file first.
        files = (
            SceneFile.select(SceneFile.scene, SceneFile.path, SceneFile.duration)
            .where(SceneFile.scene.in_(wanted))
            .order_by(SceneFile.scene, pw.SQL("rowid"))
        )
        for scene_id, path, duration in tuples(files):
            snapshot = snapshots[scene_id]
            if not snapshot.paths:
                snapshot.duration = duration
            snapshot.paths.append(path)
        tags = (
            SceneTag.select(SceneTag.scene, Tag.name)
            .join(Tag, on=(SceneTag.tag_id == Tag.id))
            .where(SceneTag.scene.in_(wanted))
        )
        for scene_id, name in tuples(tags):
            snapshots[scene_id].tag_names.append(name)
        performers = (
            ScenePerformer.select(ScenePerformer.scene, Performer.name)
            .join(Performer, on=(ScenePerformer.performer_id == Performer.id))
            .where(ScenePerformer.scene.in_(wanted))
        )
        for scene_id, name in tuples(performers):
            snapshots[scene_id].performer_names.append(name)
        studios = (
            Scene.select(Scene.id, Studio.name)
            .join(Studio, on=(Scene.studio_id == Studio.id))
            .where(Scene.id.in_(wanted))
        )
        for scene_id, name in tuples(studios):
            snapshots[scene_id].studio_name = name
        markers = SceneMarker.select(
            SceneMarker.scene, SceneMarker.title, SceneMarker.seconds
        ).where(SceneMarker.scene.in_(wanted))
        for scene_id, title, seconds in tuples(markers):
            snapshots[scene_id].markers.append(MarkerInfo(title, seconds))
    return snapshots


def load_known_names() -> list[KnownName]:
    """Every tag, performer and studio name and alias of the local copy."""
    known: list[KnownName] = []
    for kind, model in (("tags", Tag), ("performers", Performer), ("studio", Studio)):
        for name, aliases in tuples(model.select(model.name, model.aliases)):
            aliases = aliases if isinstance(aliases, list) else []
            known.append(KnownName(kind, name, name, False))
            known.extend(
                KnownName(kind, name, alias, True)
                for alias in aliases
                if isinstance(alias, str) and alias.strip()
            )
    return known


# --- tag mappings ------------------------------------------------------------------------


def tag_mapping_rows() -> list[TagMapping]:
    """Every stored tag mapping, by key (the case-folded AI tag)."""
    return list(TagMapping.select().order_by(TagMapping.key))


def tag_mapping(key: str) -> TagMapping | None:
    """The mapping stored under ``key`` (a case-folded AI tag), or None."""
    return TagMapping.get_or_none(TagMapping.key == key)


def put_tag_mapping(
    key: str, ai_tag: str, stash_tag: str | None, ignore: bool, updated_at: float
) -> None:
    """Insert or replace the mapping stored under ``key``."""
    TagMapping.insert(
        key=key, ai_tag=ai_tag, stash_tag=stash_tag, ignore=ignore, updated_at=updated_at
    ).on_conflict_replace().execute()


def delete_tag_mapping(key: str) -> bool:
    """Forget the mapping stored under ``key``; True when there was one."""
    return rows_changed(TagMapping.delete().where(TagMapping.key == key)) > 0


def delete_tag_mappings_except(keep: list[str]) -> int:
    """Forget every mapping whose key is not in ``keep``; returns how many."""
    return rows_changed(TagMapping.delete().where(TagMapping.key.not_in(keep)))


def tag_mapping_triples() -> list[tuple[str, str | None, bool]]:
    """(AI tag, Stash tag or None, ignore) of every stored mapping."""
    return [(r.ai_tag, r.stash_tag, bool(r.ignore)) for r in TagMapping.select()]


def stash_tag_names() -> list[tuple[str, Any]]:
    """(name, aliases) of every tag in the local copy of Stash."""
    return list(tuples(Tag.select(Tag.name, Tag.aliases)))


# --- tag rules ---------------------------------------------------------------------------


def tag_rule_rows() -> list[TagRule]:
    """Every stored tag rule, by key (the case-folded AI tag, ``*`` the default)."""
    return list(TagRule.select().order_by(TagRule.key))


def tag_rule(key: str) -> TagRule | None:
    """The rule stored under ``key``, or None."""
    return TagRule.get_or_none(TagRule.key == key)


def save_tag_rule(key: str, ai_tag: str, fields: dict[str, Any], updated_at: float) -> None:
    """Set ``fields`` of the rule under ``key``, creating it (named ``ai_tag``) if missing."""
    row = tag_rule(key)
    if row is None:
        row = TagRule(key=key, ai_tag=ai_tag, updated_at=updated_at)
        for name, value in fields.items():
            setattr(row, name, value)
        row.save(force_insert=True)
    else:
        for name, value in fields.items():
            setattr(row, name, value)
        row.updated_at = updated_at
        row.save()


def delete_tag_rule(key: str) -> bool:
    """Forget the rule stored under ``key``; True when there was one."""
    return rows_changed(TagRule.delete().where(TagRule.key == key)) > 0


# --- which scenes each analyser has seen (SceneAnalysis) and requests to redo --------------

SELECT_MODES = ("new", "tagged")


@dataclass(frozen=True)
class CurrentProducer:
    """What would produce a video analysis now; the reference for staleness."""

    frame_interval: float
    threshold: float
    vr_tag: str | None = None
    model_keys: frozenset[str] = field(default_factory=frozenset)


def _scene_ids_tagged(name: str) -> pw.ModelSelect[SceneTag]:
    """A query of the ids of scenes carrying the tag ``name`` (any case)."""
    tag_ids = Tag.select(Tag.id).where(pw.fn.LOWER(Tag.name) == name.lower())
    return SceneTag.select(SceneTag.scene).where(SceneTag.tag_id.in_(tag_ids))


def _vr_scene_ids(vr_tag: str | None) -> pw.ModelSelect[SceneTag]:
    return _scene_ids_tagged(vr_tag or "\0")


def stale_video_analyses(current: CurrentProducer) -> pw.ModelSelect[SceneAnalysis]:
    """A query of scene ids whose recorded video analysis no longer matches ``current``."""
    vr_scenes = _vr_scene_ids(current.vr_tag)
    changed = (
        (SceneAnalysis.frame_interval != current.frame_interval)
        | (SceneAnalysis.threshold != current.threshold)
        | ((SceneAnalysis.vr_video == 1) & SceneAnalysis.scene_id.not_in(vr_scenes))
        | ((SceneAnalysis.vr_video == 0) & SceneAnalysis.scene_id.in_(vr_scenes))
    )
    if current.model_keys:
        changed |= SceneAnalysis.model_key.is_null(False) & SceneAnalysis.model_key.not_in(
            list(current.model_keys)
        )
    return SceneAnalysis.select(SceneAnalysis.scene_id).where(
        (SceneAnalysis.analyzer == "video_tags")
        & (SceneAnalysis.status == "analysed")
        & SceneAnalysis.frame_interval.is_null(False)
        & changed
    )


def requested_scenes() -> pw.ModelSelect[AnalysisRequest]:
    """A query of the ids of scenes someone asked to analyse again."""
    return AnalysisRequest.select(AnalysisRequest.scene_id)


def video_analysis_row(scene_id: str) -> SceneAnalysis | None:
    """The scene's video-tags SceneAnalysis row, or None."""
    return SceneAnalysis.get_or_none(
        (SceneAnalysis.scene_id == scene_id) & (SceneAnalysis.analyzer == "video_tags")
    )


def has_analysis_request(scene_id: str) -> bool:
    """Whether someone asked for the scene to be analysed again."""
    return AnalysisRequest.get_or_none(AnalysisRequest.scene_id == scene_id) is not None


def scene_carries_vr_tag(scene_id: str, vr_tag: str | None) -> bool:
    """Whether the scene carries the VR tag ``vr_tag`` (any case; None: no VR tag)."""
    return _vr_scene_ids(vr_tag).where(SceneTag.scene == scene_id).exists()


def present_scene_ids(scene_ids: list[str]) -> set[str]:
    """Which of these scenes the local copy holds and Stash has not removed."""
    return {
        s for (s,) in tuples(Scene.select(Scene.id).where(Scene.id.in_(scene_ids) & ~Scene.removed))
    }


def add_analysis_request(scene_id: str, requested_at: float, requested_by: str | None) -> None:
    """Ask for the scene to be analysed again (replacing an earlier request)."""
    AnalysisRequest.insert(
        scene_id=scene_id, requested_at=requested_at, requested_by=requested_by
    ).on_conflict_replace().execute()


def settle_request(scene_id: str, analysed_from: float) -> None:
    """The scene was analysed by a request sent at ``analysed_from``: a request made
    before that is done (one made meanwhile stays)."""
    AnalysisRequest.delete().where(
        (AnalysisRequest.scene_id == scene_id) & (AnalysisRequest.requested_at <= analysed_from)
    ).execute()


def list_requests() -> list[dict[str, Any]]:
    """Every open request to analyse a scene again, oldest first."""
    return [
        {"scene_id": r.scene_id, "requested_at": r.requested_at, "requested_by": r.requested_by}
        for r in AnalysisRequest.select().order_by(AnalysisRequest.requested_at)
    ]


_NOTE_COLUMNS = ["plan_id", "scene_id", "ai_tag", "rule", "message", "data", "created_at"]


def add_plan_notes(plan_id: int, notes: Iterable[dict[str, Any]], now: float) -> None:
    """Record why the analysis left things out of the plan (dicts of PlanNote fields)."""
    json_of = PlanNote.data.db_value
    execute_many(
        PlanNote,
        "INSERT",
        _NOTE_COLUMNS,
        [
            (
                plan_id,
                n["scene_id"],
                n["ai_tag"],
                n["rule"],
                n["message"],
                json_of(n.get("data")),
                now,
            )
            for n in notes
        ],
    )


def record_analysis(scene_id: str, analyzer: str, values: dict[str, Any]) -> None:
    """Insert or update the scene's SceneAnalysis row of ``analyzer`` with ``values``,
    counting the attempt."""
    # One statement: a second attempt counts on the row the first one left.
    SceneAnalysis.insert(scene_id=scene_id, analyzer=analyzer, attempts=1, **values).on_conflict(
        conflict_target=[SceneAnalysis.scene_id, SceneAnalysis.analyzer],
        update={
            **{getattr(SceneAnalysis, k): v for k, v in values.items()},
            SceneAnalysis.attempts: SceneAnalysis.attempts + 1,
        },
    ).execute()


def analysed_by_job(job_id: str, scene_ids: Iterable[str], analyzers: Iterable[str]) -> set[str]:
    """Scenes this job has already recorded for every one of ``analyzers`` (for a resume)."""
    analyzers = list(analyzers)
    ids = [str(s) for s in scene_ids]
    seen: dict[str, int] = {}
    for start in range(0, len(ids), 500):
        rows = SceneAnalysis.select(SceneAnalysis.scene_id).where(
            SceneAnalysis.scene_id.in_(ids[start : start + 500])
            & SceneAnalysis.analyzer.in_(analyzers)
            & (SceneAnalysis.job_id == job_id)
        )
        for (scene_id,) in tuples(rows):
            seen[scene_id] = seen.get(scene_id, 0) + 1
    return {scene_id for scene_id, n in seen.items() if n == len(analyzers)}


def current_analyses(
    scene_ids: Iterable[str], analyzer: str, current: CurrentProducer | None = None
) -> set[str]:
    """Scenes ``analyzer`` analysed successfully and that need nothing now: not
    requested again, and (with ``current``) not produced by something else."""
    ids = [str(s) for s in scene_ids]
    done: set[str] = set()
    for start in range(0, len(ids), 500):
        clause = (
            SceneAnalysis.scene_id.in_(ids[start : start + 500])
            & (SceneAnalysis.analyzer == analyzer)
            & (SceneAnalysis.status == "analysed")
            & SceneAnalysis.scene_id.not_in(requested_scenes())
        )
        if current is not None and analyzer == "video_tags":
            clause &= SceneAnalysis.scene_id.not_in(stale_video_analyses(current))
        rows = SceneAnalysis.select(SceneAnalysis.scene_id).where(clause)
        done.update(scene_id for (scene_id,) in tuples(rows))
    return done


def _settled(
    analyzer: str, now: float, retry_after: float, max_attempts: int
) -> pw.ModelSelect[SceneAnalysis]:
    """Scene ids that need nothing from ``analyzer`` now: analysed, or errored and either
    out of attempts or still inside the back-off."""
    return SceneAnalysis.select(SceneAnalysis.scene_id).where(
        (SceneAnalysis.analyzer == analyzer)
        & (
            (SceneAnalysis.status == "analysed")
            | (SceneAnalysis.attempts >= max_attempts)
            | (SceneAnalysis.last_attempt_at > now - retry_after)
        )
    )


def scenes_needing_analysis(
    analyzers: Iterable[str],
    *,
    retry_after: float,
    max_attempts: int,
    tag_me: str,
    exclude: Iterable[str] = (),
    now: float | None = None,
    limit: int | None = None,
    select: str = "new",
    current: CurrentProducer | None = None,
) -> list[str]:
    """Ids of synced scenes (not removed, with a file) that one of ``analyzers`` has not
    analysed yet or should retry now (with ``select`` "tagged": of those carrying the
    tag ``tag_me``), or whose video analysis ``current`` makes due again, or that were
    requested; in Stash id order, minus ``exclude``."""
    now = now or time.time()
    analyzers = list(analyzers)
    if not analyzers:
        return []
    if select not in SELECT_MODES:
        raise ValueError(f"analysis.select must be one of {', '.join(SELECT_MODES)}")
    clause = None
    for analyzer in analyzers:
        needs = Scene.id.not_in(_settled(analyzer, now, retry_after, max_attempts))
        clause = needs if clause is None else clause | needs
    if select == "tagged":
        clause &= Scene.id.in_(_scene_ids_tagged(tag_me))
    if current is not None and "video_tags" in analyzers:
        clause |= Scene.id.in_(stale_video_analyses(current))
    clause |= Scene.id.in_(requested_scenes())
    with_file = SceneFile.select(SceneFile.scene)
    query = (
        Scene.select(Scene.id)
        .where(~Scene.removed & Scene.id.in_(with_file) & clause)
        .order_by(Scene.id.cast("INTEGER"), Scene.id)
    )
    excluded = {str(s) for s in exclude}
    found = []
    for (scene_id,) in tuples(query):
        if scene_id in excluded:
            continue
        found.append(scene_id)
        if limit is not None and len(found) >= limit:
            break
    return found

"""What the analysis reads: scenes, and the names Stash knows, from the LOCAL copy.

The SYNC job keeps Scene, SceneFile, SceneTag, ScenePerformer, SceneMarker, Tag,
Performer and Studio current; analysis never asks Stash for them. These are
synchronous Peewee reads: call them through ``Store.read``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import peewee as pw

from stashdesk.store.models import (
    Performer,
    Scene,
    SceneFile,
    SceneMarker,
    ScenePerformer,
    SceneTag,
    Studio,
    Tag,
)


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
        for scene_id, path, duration in files.tuples():
            snapshot = snapshots[scene_id]
            if not snapshot.paths:
                snapshot.duration = duration
            snapshot.paths.append(path)
        tags = (
            SceneTag.select(SceneTag.scene, Tag.name)
            .join(Tag, on=(SceneTag.tag_id == Tag.id))
            .where(SceneTag.scene.in_(wanted))
        )
        for scene_id, name in tags.tuples():
            snapshots[scene_id].tag_names.append(name)
        performers = (
            ScenePerformer.select(ScenePerformer.scene, Performer.name)
            .join(Performer, on=(ScenePerformer.performer_id == Performer.id))
            .where(ScenePerformer.scene.in_(wanted))
        )
        for scene_id, name in performers.tuples():
            snapshots[scene_id].performer_names.append(name)
        studios = (
            Scene.select(Scene.id, Studio.name)
            .join(Studio, on=(Scene.studio_id == Studio.id))
            .where(Scene.id.in_(wanted))
        )
        for scene_id, name in studios.tuples():
            snapshots[scene_id].studio_name = name
        markers = SceneMarker.select(
            SceneMarker.scene, SceneMarker.title, SceneMarker.seconds
        ).where(SceneMarker.scene.in_(wanted))
        for scene_id, title, seconds in markers.tuples():
            snapshots[scene_id].markers.append(MarkerInfo(title, seconds))
    return snapshots


def load_known_names() -> list[KnownName]:
    """Every tag, performer and studio name and alias of the local copy."""
    known: list[KnownName] = []
    for kind, model in (("tags", Tag), ("performers", Performer), ("studio", Studio)):
        for name, aliases in model.select(model.name, model.aliases).tuples():
            aliases = aliases if isinstance(aliases, list) else []
            known.append(KnownName(kind, name, name, False))
            known.extend(
                KnownName(kind, name, alias, True)
                for alias in aliases
                if isinstance(alias, str) and alias.strip()
            )
    return known

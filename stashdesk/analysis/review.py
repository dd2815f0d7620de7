"""What the review screen shows of a plan, and review by scene, by tag or by filter.

:func:`plan_review` groups a plan's changes by scene, each scene with its title,
studio, duration, current tags, the address of its cover (and the cached file
when :mod:`stashdesk.analysis.covers` has fetched it), its page in Stash, and the
notes on what the tag rules and mapping left out. A marker change carries its time
span and the Stash page that plays the scene from there
(``<stash.url>/scenes/<id>?t=<seconds>``).

:func:`review` approves or rejects what a :class:`ChangeSelector` selects (ids,
field, tag, scenes, minimum confidence) and returns the new counts, so a screen
can update them as the user goes.

Synchronous functions (their queries are in ``stashdesk.store.plans``) with
JSON-able results: call them through ``Store.read`` / ``Store.write``;
:class:`PlanError` for bad input.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stashdesk.analysis.covers import cached_cover
from stashdesk.analysis.plans import (
    CHANGE_STATUSES,
    ChangeSelector,
    PlanError,
    approve_changes,
    change_as_json,
    change_counts,
    change_tag,
    get_plan,
    plan_as_json,
    reject_changes,
)
from stashdesk.analysis.video_tag_plan import clock_text
from stashdesk.store.plans import (
    change_statuses_of_scenes,
    plan_changes_by_id,
    plan_notes,
    review_scene_details,
    scenes_of_selected_changes,
    tag_and_marker_changes,
)

_FIELD_NAMES = {"tags": "tag", "performers": "performer", "markers": "marker"}


def stash_scene_url(stash_url: str, scene_id: str, seconds: float | None = None) -> str:
    """The scene's page in Stash's web UI, playing from ``seconds`` when given."""
    base = f"{stash_url.rstrip('/')}/scenes/{scene_id}"
    return base if seconds is None else f"{base}?t={max(0, int(seconds))}"


def _counts(statuses: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(CHANGE_STATUSES, 0)
    for status in statuses:
        counts[status] = counts.get(status, 0) + 1
    return counts


def _change_json(change: Any, stash_url: str) -> dict[str, Any]:
    item = change_as_json(change)
    item["tag"] = change_tag(change.field, change.proposed_value)
    value = change.proposed_value
    if change.field == "markers" and isinstance(value, dict) and value.get("seconds") is not None:
        start, end = float(value["seconds"]), value.get("end_seconds")
        item["start"], item["end"] = start, None if end is None else float(end)
        item["url"] = stash_scene_url(stash_url, change.scene_id, start)
        span = clock_text(start) + (f"-{clock_text(float(end))}" if end is not None else "")
        item["label"] = f"{value.get('title')} @ {span}"
    else:
        item["label"] = f"{change.action} {_FIELD_NAMES.get(change.field, change.field)}: {value}"
    return item


def plan_tags(plan_id: int) -> list[dict[str, Any]]:
    """The tags a plan's changes are about, with their change counts by status."""
    by_tag: dict[str, dict[str, Any]] = {}
    for change in tag_and_marker_changes(plan_id):
        tag = change_tag(change.field, change.proposed_value)
        if tag is None:
            continue
        entry = by_tag.setdefault(
            tag.casefold(),
            {"tag": tag, "tags": 0, "markers": 0, "counts": dict.fromkeys(CHANGE_STATUSES, 0)},
        )
        entry[change.field] += 1
        entry["counts"][change.status] += 1
    return sorted(by_tag.values(), key=lambda e: e["tag"].casefold())


def plan_review(
    plan_id: int,
    *,
    stash_url: str,
    covers_dir: Path | None = None,
    scene_ids: Iterable[str] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> dict[str, Any]:
    """A plan for review: {"plan", "tags", "scene_count", "scenes": [...]} (see the
    module docstring); ``offset``/``limit`` page through the scenes, ``scene_ids``
    picks some. Scenes come in Stash id order; changes by id."""
    plan = get_plan(plan_id)
    changes = plan_changes_by_id(plan_id, scene_ids)
    grouped: dict[str, list[Any]] = {}
    for change in changes:
        grouped.setdefault(change.scene_id, []).append(change)
    notes: dict[str, list[dict[str, Any]]] = {}
    for note in plan_notes(plan_id):
        notes.setdefault(note.scene_id, []).append(
            {"ai_tag": note.ai_tag, "rule": note.rule, "message": note.message, "data": note.data}
        )
    order = sorted(
        set(grouped)
        | (set(notes) if scene_ids is None else set(notes) & {str(s) for s in scene_ids}),
        key=lambda s: (int(s) if s.isdigit() else float("inf"), s),
    )
    page = order[offset:] if limit is None else order[offset : offset + limit]
    details = review_scene_details(page)
    scenes = []
    for scene_id in page:
        info = details.get(
            scene_id,
            {
                "title": None,
                "studio": None,
                "removed": True,
                "cover_url": None,
                "duration": None,
                "tags": [],
                "file": None,
            },
        )
        cached = None
        if covers_dir is not None and info["cover_url"]:
            found = cached_cover(covers_dir, scene_id, info["cover_url"])
            cached = str(found) if found else None
        own = grouped.get(scene_id, [])
        scenes.append(
            {
                "scene_id": scene_id,
                **info,
                "cover_path": cached,
                "url": stash_scene_url(stash_url, scene_id),
                "changes": [_change_json(c, stash_url) for c in own],
                "notes": notes.get(scene_id, []),
                "counts": _counts(c.status for c in own),
            }
        )
    counts = change_counts([plan_id]).get(plan_id, {})
    return {
        "plan": plan_as_json(plan, counts),
        "tags": plan_tags(plan_id),
        "scene_count": len(order),
        "offset": offset,
        "scenes": scenes,
    }


def review(plan_id: int, decision: str, selector: ChangeSelector | None = None) -> dict[str, Any]:
    """Approve or reject (``decision``) the selected changes; returns {"changed", "plan"
    (its counts), "scenes" ({scene id: counts} of the scenes touched)}."""
    if decision not in ("approve", "reject"):
        raise PlanError(f"a decision is approve or reject, not {decision!r}")
    selector = selector or ChangeSelector()
    touched = scenes_of_selected_changes(plan_id, selector)
    changed = (approve_changes if decision == "approve" else reject_changes)(plan_id, selector)
    statuses: dict[str, list[str]] = {}
    if touched:
        for scene_id, status in change_statuses_of_scenes(plan_id, touched):
            statuses.setdefault(scene_id, []).append(status)
    plan_counts = change_counts([plan_id]).get(plan_id, {})
    return {
        "changed": changed,
        "plan": {s: plan_counts.get(s, 0) for s in CHANGE_STATUSES},
        "scenes": {scene_id: _counts(v) for scene_id, v in statuses.items()},
    }


def review_scene(plan_id: int, scene_id: str, decision: str) -> dict[str, Any]:
    """Approve or reject every open change of one scene."""
    return review(plan_id, decision, ChangeSelector(scene_ids=(str(scene_id),)))


def review_tag(plan_id: int, tag: str, decision: str) -> dict[str, Any]:
    """Approve or reject every open change about ``tag`` (tags and markers, any case)."""
    return review(plan_id, decision, ChangeSelector(tag=tag))

"""What one page of Stash's scenes becomes locally: timestamps, filters, rows, hashes.

The SYNC job (``stashdesk.jobs.sync``) fetches; this module shapes and stores. It
is the hot path of a sync (every scene of a 200,000-scene library passes through
:func:`shape_page`), so a scene goes straight from Stash's JSON to the row tuples
``store.scenes.write_scene_page`` binds, with no model objects or dicts between.

The content hash tells a re-read scene apart from one edited within the same
second: the SHA-1 of the scene's JSON as Stash sent it (the fields of StashDesk's
own document, in its order), so it covers every field the local copy keeps.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from stashdesk.store.scenes import ScenePage, scene_hashes, write_scene_page

log = logging.getLogger(__name__)


# --- Stash timestamps ------------------------------------------------------------------


def stash_offset(text: str) -> timedelta | None:
    """The UTC offset written in a Stash timestamp (``Z`` = 0), or None if unreadable."""
    try:
        return datetime.fromisoformat(text).utcoffset()
    except (TypeError, ValueError):
        return None


def stash_epoch(text: str | None) -> float | None:
    """POSIX seconds of a Stash timestamp with an offset, else None."""
    try:
        moment = datetime.fromisoformat(text or "")
    except (TypeError, ValueError):
        return None
    return moment.timestamp() if moment.tzinfo else None


def shift_stash_time(text: str, seconds: float) -> str | None:
    """``text`` moved by ``seconds``, written in the same offset and style as Stash wrote it."""
    try:
        moment = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    shifted = moment + timedelta(seconds=seconds)  # keeps the fixed offset of `text`
    body = shifted.strftime("%Y-%m-%dT%H:%M:%S")
    if shifted.microsecond and "." in text:
        body += f".{shifted.microsecond:06d}".rstrip("0")
    if text.endswith("Z"):
        return body + "Z"
    minutes = int((shifted.utcoffset() or timedelta(0)).total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{body}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# --- scene filters -----------------------------------------------------------------------


def newer_than(text: str) -> dict[str, Any]:
    """Scenes whose updated_at text sorts after ``text``."""
    return {"updated_at": {"value": text, "modifier": "GREATER_THAN"}}


def at_or_after(text: str) -> dict[str, Any]:
    """Scenes whose updated_at text is ``text`` or sorts after it (Stash ORs sub-filters)."""
    return {**newer_than(text), "OR": {"updated_at": {"value": text, "modifier": "EQUALS"}}}


def in_second(text: str, after_id: int) -> dict[str, Any]:
    """Scenes updated at exactly ``text`` with an id above ``after_id``."""
    return {
        "updated_at": {"value": text, "modifier": "EQUALS"},
        "id": {"value": after_id, "modifier": "GREATER_THAN"},
    }


# --- shaping -------------------------------------------------------------------------------


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


# Hashing the scene's JSON as Stash sent it (orjson: 1.5 us a scene) costs a tenth of
# normalising it first; the price is that a scene whose lists Stash happened to send in
# another order is written once more (Stash orders them the same way each time).
_canonical = orjson.dumps


@dataclass(slots=True)
class ShapedPage:
    """A page of scenes as rows, plus what the job reports about it.

    Attributes:
        rows: the rows to store (see ``store.scenes.ScenePage``).
        hashes: scene id -> content hash, in the page's order.
        texts: scene id -> updated_at text of each scene that could be shaped.
        failed: scene id -> why it could not be shaped.
        failed_texts: scene id -> updated_at of a failed scene, where it had one.
        smallest_offset: the smallest UTC offset among the page's timestamps.
    """

    rows: ScenePage = field(default_factory=ScenePage)
    hashes: dict[str, str] = field(default_factory=dict)
    texts: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    failed_texts: dict[str, str] = field(default_factory=dict)
    smallest_offset: timedelta | None = None


def _shape_scene(
    raw: dict[str, Any], page: ShapedPage, moments: dict[str, tuple[float | None, timedelta | None]]
) -> None:
    """Add one scene of ``findScenes`` to ``page``; raises KeyError/TypeError/ValueError/
    AttributeError when it is malformed (and then adds nothing)."""
    scene_id = str(raw["id"])
    updated_at = raw["updated_at"]
    if not isinstance(updated_at, str) or not updated_at:
        raise ValueError("no updated_at")
    files = [
        (
            str(f["id"]),
            scene_id,
            str(f["path"]),
            _int_or_none(f.get("size")),
            _float_or_none(f.get("duration")),
            _int_or_none(f.get("width")),
            _int_or_none(f.get("height")),
        )
        for f in raw.get("files") or ()
    ]
    tags = [(str(t["id"]), str(t["name"])) for t in raw.get("tags") or ()]
    performers = [(str(p["id"]), str(p["name"])) for p in raw.get("performers") or ()]
    studio_raw = raw.get("studio")
    studio = (str(studio_raw["id"]), str(studio_raw["name"])) if studio_raw else None
    markers = [
        (
            str(m["id"]),
            scene_id,
            str(m.get("title") or ""),
            float(m["seconds"]),
            _float_or_none(m.get("end_seconds")),
            str(m["primary_tag"]["id"]) if m.get("primary_tag") else None,
        )
        for m in raw.get("scene_markers") or ()
    ]
    moment = moments.get(updated_at)
    if moment is None:
        moment = moments[updated_at] = (stash_epoch(updated_at), stash_offset(updated_at))
    digest = hashlib.sha1(_canonical(raw)).hexdigest()
    rows = page.rows
    rows.scenes.append(
        (
            scene_id,
            raw.get("title"),
            raw.get("details"),
            raw.get("date"),
            _int_or_none(raw.get("rating100")),
            bool(raw.get("organized")),
            studio[0] if studio else None,
            raw.get("created_at"),
            updated_at,
            moment[0],
            digest,
            (raw.get("paths") or {}).get("screenshot"),
        )
    )
    rows.files += files
    rows.file_keys[scene_id] = sorted(f[0:1] + f[2:4] for f in files)
    rows.tags += [(scene_id, t[0]) for t in tags]
    rows.performers += [(scene_id, p[0]) for p in performers]
    rows.markers += markers
    rows.names["tag"].update(tags)
    rows.names["performer"].update(performers)
    if studio:
        rows.names["studio"][studio[0]] = studio[1]
    page.hashes[scene_id] = digest
    page.texts[scene_id] = updated_at
    offset = moment[1]
    if offset is not None and (page.smallest_offset is None or offset < page.smallest_offset):
        page.smallest_offset = offset


def shape_page(raws: list[dict[str, Any]]) -> ShapedPage:
    """Rows and hashes of a page of ``findScenes``; malformed scenes land in ``failed``."""
    page = ShapedPage()
    moments: dict[str, tuple[float | None, timedelta | None]] = {}
    for raw in raws:
        try:
            _shape_scene(raw, page, moments)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            scene_id = str(raw.get("id")) if isinstance(raw, dict) else "?"
            page.failed[scene_id] = f"{type(exc).__name__}: {exc}"
            text = raw.get("updated_at") if isinstance(raw, dict) else None
            if isinstance(text, str) and text:
                page.failed_texts[scene_id] = text
            log.warning("scene %s from Stash could not be stored: %s", scene_id, exc)
    return page


def scene_content_hash(raw: dict[str, Any]) -> str | None:
    """The content hash of one scene of ``findScenes``, or None when it is malformed."""
    page = shape_page([raw])
    return next(iter(page.hashes.values()), None)


# --- storing -------------------------------------------------------------------------------


@dataclass
class PageOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # id -> reason
    smallest_offset: timedelta | None = None


def store_shaped_page(page: ShapedPage, now: float) -> PageOutcome:
    """Write the new and changed scenes of ``page`` (writer thread, one transaction)."""
    outcome = PageOutcome(failed=page.failed, smallest_offset=page.smallest_offset)
    stored = scene_hashes(list(page.hashes))
    write: set[str] = set()
    existing: set[str] = set()
    for scene_id, digest in page.hashes.items():
        previous = stored.get(scene_id)
        if previous is None:
            outcome.created += 1
            write.add(scene_id)
        elif previous[0] != digest or previous[1]:
            outcome.updated += 1
            write.add(scene_id)
            existing.add(scene_id)
        else:
            outcome.unchanged += 1
    write_scene_page(page.rows, write, existing, now)
    return outcome

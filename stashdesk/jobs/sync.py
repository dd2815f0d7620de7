"""SYNC: bring Stash's scenes, tags, performers and studios into the local copy.

Metadata: ``{"full_resync": true}`` pages through every scene and marks the ones
Stash no longer has as removed; without it the sync is incremental.

The watermark
    is the newest ``updated_at`` *text* actually stored (Setting ``sync.watermark``),
    never the local clock. Stash writes timestamps as RFC3339 text in its own zone,
    to the second, and compares a filter value with that text as strings, so the
    watermark is sent back exactly as Stash wrote it and no zone is ever assumed.
    An incremental sync starts *at* the watermark's second (``> W OR = W``), so an
    edit made in the same second as the last stored one is caught; ``content_hash``
    tells such re-read scenes apart from edited ones. The watermark advances with
    each stored page, inside the page's transaction, so a cancelled or failed sync
    keeps what it stored and the next one resumes there.

Paging
    is keyset paging over ``updated_at`` ascending, never offsets: a scene edited
    during the sync moves to the end and is read again later, a deleted one just
    disappears, and nothing shifts under the cursor. Each page is taken up to (not
    including) its last second, and the next page starts at that second, so the
    order Stash uses to break ties inside one second does not matter. A second
    holding a whole page (a bulk edit) is read separately, by id.

Writes
    run on the store's writer thread, one transaction per page (``store.write``);
    normalising and hashing happen there too, off the event loop, while the next
    page is already being fetched.

A DST fall-back repeats an hour of local wall time: scenes edited in the repeated
hour carry *smaller* strings than a watermark written before the change. When a
sync stores a scene whose offset is smaller than the watermark's, it sweeps again
from the watermark minus that difference, so those edits are not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from stashdesk.clients.errors import StashMalformedAnswer
from stashdesk.jobs.base import JobContext, JobType, job_type
from stashdesk.store.models import (
    Performer,
    Scene,
    SceneFile,
    SceneMarker,
    ScenePerformer,
    SceneTag,
    Setting,
    Studio,
    Tag,
)

if TYPE_CHECKING:
    from stashdesk.app import Services
    from stashdesk.clients.stash import StashClient

log = logging.getLogger(__name__)

WATERMARK_KEY = "sync.watermark"
PAGE_SIZE = 250
ENTITY_PAGE_SIZE = 1000
_CHUNK = 100  # rows per INSERT: well below SQLite's variable limit


# --- Stash timestamps ------------------------------------------------------------------


def stash_offset(text: str) -> timedelta | None:
    """The UTC offset written in a Stash timestamp (``Z`` = 0), or None if unreadable."""
    try:
        return datetime.fromisoformat(text).utcoffset()
    except (TypeError, ValueError):
        return None


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


def _epoch(text: str | None) -> float | None:
    try:
        moment = datetime.fromisoformat(text or "")
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo else None


# --- scene filters -----------------------------------------------------------------------


def newer_than(text: str) -> dict[str, Any]:
    """Scenes whose updated_at text sorts after ``text``."""
    return {"updated_at": {"value": text, "modifier": "GREATER_THAN"}}


def at_or_after(text: str) -> dict[str, Any]:
    """Scenes whose updated_at text is ``text`` or sorts after it (Stash ORs sub-filters)."""
    return {**newer_than(text), "OR": {"updated_at": {"value": text, "modifier": "EQUALS"}}}


def in_second(text: str, after_id: int) -> dict[str, Any]:
    """Scenes updated at exactly ``text`` with an id above ``after_id``."""
    return {"updated_at": {"value": text, "modifier": "EQUALS"},
            "id": {"value": after_id, "modifier": "GREATER_THAN"}}


# --- normalising a scene -------------------------------------------------------------------


@dataclass
class SceneRecord:
    """One scene from Stash, shaped like the local tables."""

    id: str
    row: dict[str, Any]
    files: list[dict[str, Any]]
    tag_ids: list[str]
    performer_ids: list[str]
    markers: list[dict[str, Any]]
    tags: list[tuple[str, str]]
    performers: list[tuple[str, str]]
    studio: tuple[str, str] | None
    content_hash: str

    @property
    def files_signature(self) -> list[tuple[str, str, int | None]]:
        return sorted((f["id"], f["path"], f["size"]) for f in self.files)


def _named(item: dict[str, Any]) -> tuple[str, str]:
    return str(item["id"]), str(item["name"])


def normalise_scene(raw: dict[str, Any]) -> SceneRecord:
    """Shape one scene of ``findScenes``; raises KeyError/TypeError/ValueError when malformed."""
    scene_id = str(raw["id"])
    updated_at = raw["updated_at"]
    if not isinstance(updated_at, str) or not updated_at:
        raise ValueError("no updated_at")
    files = [
        {"id": str(f["id"]), "path": str(f["path"]), "size": _int_or_none(f.get("size")),
         "duration": _float_or_none(f.get("duration")), "width": _int_or_none(f.get("width")),
         "height": _int_or_none(f.get("height"))}
        for f in raw.get("files") or []
    ]
    tags = sorted({_named(t) for t in raw.get("tags") or []})
    performers = sorted({_named(p) for p in raw.get("performers") or []})
    studio = _named(raw["studio"]) if raw.get("studio") else None
    markers = sorted(
        ({"id": str(m["id"]), "title": str(m.get("title") or ""),
          "seconds": float(m["seconds"]), "end_seconds": _float_or_none(m.get("end_seconds")),
          "primary_tag_id": str(m["primary_tag"]["id"]) if m.get("primary_tag") else None}
         for m in raw.get("scene_markers") or []),
        key=lambda m: m["id"],
    )
    row = {
        "id": scene_id, "title": raw.get("title"), "details": raw.get("details"),
        "date": raw.get("date"), "rating100": _int_or_none(raw.get("rating100")),
        "organized": bool(raw.get("organized")), "studio_id": studio[0] if studio else None,
        "created_at": raw.get("created_at"), "updated_at": updated_at,
    }
    content = {**row, "files": files, "tags": tags, "performers": performers,
               "studio": studio, "markers": markers}
    digest = hashlib.sha1(
        json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    row["updated_at_epoch"] = _epoch(updated_at)
    return SceneRecord(scene_id, row, files, [t[0] for t in tags], [p[0] for p in performers],
                       markers, tags, performers, studio, digest)


def scene_content_hash(raw: dict[str, Any]) -> str | None:
    try:
        return normalise_scene(raw).content_hash
    except (KeyError, TypeError, ValueError):
        return None


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)


# --- the watermark ------------------------------------------------------------------------------


@dataclass
class Watermark:
    """The newest updated_at text stored, and scenes of that second that failed to store."""

    updated_at: str | None = None
    failed: dict[str, str] = field(default_factory=dict)  # scene id -> its updated_at

    def as_value(self) -> dict[str, Any]:
        return {"updated_at": self.updated_at, "failed": self.failed}


def read_watermark() -> Watermark:
    """Blocking read of the stored watermark (run it through ``store.read``)."""
    row = Setting.get_or_none(Setting.key == WATERMARK_KEY)
    value = row.value if row is not None and isinstance(row.value, dict) else {}
    return Watermark(value.get("updated_at"), dict(value.get("failed") or {}))


def _save_watermark(mark: Watermark) -> None:
    Setting.insert(key=WATERMARK_KEY, value=mark.as_value()).on_conflict_replace().execute()


def _advance_watermark(stored: list[str], failed: dict[str, str], succeeded: set[str]) -> str:
    """Move the watermark to the newest text of this page (string order, as Stash compares)."""
    mark = read_watermark()
    newest = max([*stored, *failed.values()])
    if mark.updated_at is None or newest > mark.updated_at:
        mark = Watermark(newest)
    if newest == mark.updated_at:
        for scene_id in succeeded:
            mark.failed.pop(scene_id, None)
        mark.failed.update({i: t for i, t in failed.items() if t == newest})
    _save_watermark(mark)
    return mark.updated_at or newest


# --- writing ----------------------------------------------------------------------------------


@dataclass
class PageOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # id -> reason
    smallest_offset: timedelta | None = None
    watermark: str | None = None


def _chunks(rows: list, size: int = _CHUNK) -> Any:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _upsert_entities(model: Any, items: list[tuple[str, str]]) -> None:
    rows = [{"id": i, "name": n, "aliases": []} for i, n in dict(items).items()]
    for chunk in _chunks(rows):
        model.insert_many(chunk).on_conflict(
            conflict_target=[model.id], preserve=[model.name]).execute()


def store_scenes(raws: list[dict[str, Any]], now: float) -> PageOutcome:
    """Upsert one page of scenes (runs on the writer thread, inside one transaction)."""
    outcome = PageOutcome()
    records: dict[str, SceneRecord] = {}
    failed_texts: dict[str, str] = {}
    texts: list[str] = []
    for raw in raws:
        try:
            record = normalise_scene(raw)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            scene_id = str(raw.get("id")) if isinstance(raw, dict) else "?"
            outcome.failed[scene_id] = f"{type(exc).__name__}: {exc}"
            text = raw.get("updated_at") if isinstance(raw, dict) else None
            if isinstance(text, str) and text:
                failed_texts[scene_id] = text
            log.warning("scene %s from Stash could not be stored: %s", scene_id, exc)
            continue
        records[record.id] = record
        texts.append(record.row["updated_at"])
        offset = stash_offset(record.row["updated_at"])
        if offset is not None and (outcome.smallest_offset is None
                                   or offset < outcome.smallest_offset):
            outcome.smallest_offset = offset
    ids = list(records)
    existing: dict[str, tuple[str | None, bool]] = {}
    for chunk in _chunks(ids, 500):
        for row in Scene.select(Scene.id, Scene.content_hash, Scene.removed).where(
                Scene.id.in_(chunk)).tuples():
            existing[row[0]] = (row[1], row[2])
    changed: list[SceneRecord] = []
    updated_ids: list[str] = []
    for record in records.values():
        previous = existing.get(record.id)
        if previous is None:
            outcome.created += 1
            changed.append(record)
        elif previous[0] != record.content_hash or previous[1]:
            outcome.updated += 1
            changed.append(record)
            updated_ids.append(record.id)
        else:
            outcome.unchanged += 1
    if changed:
        _write_changed(changed, updated_ids, now)
    _upsert_entities(Tag, [t for r in records.values() for t in r.tags])
    _upsert_entities(Performer, [p for r in records.values() for p in r.performers])
    _upsert_entities(Studio, [r.studio for r in records.values() if r.studio])
    if texts or failed_texts:
        outcome.watermark = _advance_watermark(texts, failed_texts, set(records))
    return outcome


def _write_changed(changed: list[SceneRecord], updated_ids: list[str], now: float) -> None:
    old_files: dict[str, list[tuple[str, str, int | None]]] = {}
    for chunk in _chunks(updated_ids, 500):
        query = SceneFile.select(SceneFile.scene, SceneFile.id, SceneFile.path,
                                 SceneFile.size).where(SceneFile.scene.in_(chunk)).tuples()
        for scene_id, file_id, path, size in query:
            old_files.setdefault(scene_id, []).append((file_id, path, size))
    rows = [{**r.row, "content_hash": r.content_hash, "synced_at": now, "removed": False,
             "removed_at": None} for r in changed]
    preserve = [Scene.title, Scene.details, Scene.date, Scene.rating100, Scene.organized,
                Scene.studio_id, Scene.created_at, Scene.updated_at, Scene.updated_at_epoch,
                Scene.content_hash, Scene.synced_at, Scene.removed, Scene.removed_at]
    for chunk in _chunks(rows):
        Scene.insert_many(chunk).on_conflict(conflict_target=[Scene.id],
                                             preserve=preserve).execute()
    # A scene whose files changed needs its media generated again.
    updated = set(updated_ids)
    regenerate = [r.id for r in changed if r.id in updated
                  and sorted(old_files.get(r.id, [])) != r.files_signature]
    for chunk in _chunks(regenerate, 500):
        Scene.update(generated=False, generated_at=None).where(Scene.id.in_(chunk)).execute()
    ids = [r.id for r in changed]
    for chunk in _chunks(ids, 500):
        for model in (SceneFile, SceneTag, ScenePerformer, SceneMarker):
            model.delete().where(model.scene.in_(chunk)).execute()
    files = [{**f, "scene": r.id} for r in changed for f in r.files]
    tags = [{"scene": r.id, "tag_id": t} for r in changed for t in r.tag_ids]
    performers = [{"scene": r.id, "performer_id": p} for r in changed for p in r.performer_ids]
    markers = [{**m, "scene": r.id} for r in changed for m in r.markers]
    for chunk in _chunks(files):
        SceneFile.insert_many(chunk).on_conflict_replace().execute()
    for chunk in _chunks(tags):
        SceneTag.insert_many(chunk).on_conflict_ignore().execute()
    for chunk in _chunks(performers):
        ScenePerformer.insert_many(chunk).on_conflict_ignore().execute()
    for chunk in _chunks(markers):
        SceneMarker.insert_many(chunk).on_conflict_replace().execute()


def mark_removed(seen: set[str], now: float) -> int:
    """After a full resync: scenes Stash no longer has are marked removed (writer thread)."""
    present = [row[0] for row in
               Scene.select(Scene.id).where(Scene.removed == False).tuples()]  # noqa: E712 - peewee SQL
    gone = [scene_id for scene_id in present if scene_id not in seen]
    for chunk in _chunks(gone, 500):
        Scene.update(removed=True, removed_at=now).where(Scene.id.in_(chunk)).execute()
    return len(gone)


def store_entities(model: Any, items: list[dict[str, Any]], alias_key: str) -> int:
    rows = [{"id": str(i["id"]), "name": str(i["name"]),
             "aliases": list(i.get(alias_key) or [])} for i in items]
    for chunk in _chunks(rows):
        model.insert_many(chunk).on_conflict(
            conflict_target=[model.id], preserve=[model.name, model.aliases]).execute()
    return len(rows)


def delete_entities_except(model: Any, seen: set[str]) -> int:
    gone = [row[0] for row in model.select(model.id).tuples() if row[0] not in seen]
    for chunk in _chunks(gone, 500):
        model.delete().where(model.id.in_(chunk)).execute()
    return len(gone)


# --- what the daemon asks ------------------------------------------------------------------------


async def _scenes_in_second(stash: StashClient, text: str) -> list[dict[str, Any]]:
    scenes: list[dict[str, Any]] = []
    after = 0
    while True:
        _count, page = await stash.find_scenes(in_second(text, after), per_page=PAGE_SIZE,
                                               sort="id")
        scenes.extend(page)
        if len(page) < PAGE_SIZE:
            return scenes
        after = int(page[-1]["id"])


async def count_pending_scenes(services: Services) -> int:
    """Scenes Stash changed since the last sync: a ``per_page: 0`` count of scenes newer
    than the watermark, plus scenes of the watermark's own second that are new or differ
    from the local copy (edits in the same second as the last stored one)."""
    stash = services.stash()
    mark = await services.store.read(read_watermark)
    if mark.updated_at is None:
        return await stash.count_scenes(None)
    newer = await stash.count_scenes(newer_than(mark.updated_at))
    same_second = await _scenes_in_second(stash, mark.updated_at)
    if not same_second:
        return newer

    def differing() -> int:
        ids = [str(s.get("id")) for s in same_second]
        local = dict(Scene.select(Scene.id, Scene.content_hash).where(
            Scene.id.in_(ids) & (Scene.removed == False)).tuples())  # noqa: E712 - peewee SQL
        count = 0
        for raw in same_second:
            scene_id = str(raw.get("id"))
            if mark.failed.get(scene_id) == raw.get("updated_at"):
                continue  # already tried; it failed and is reported in that job's result
            if local.get(scene_id) != scene_content_hash(raw):
                count += 1
        return count

    return newer + await services.store.read(differing)


# --- the job -------------------------------------------------------------------------------------


class _SceneSync:
    """One run of the SYNC job's scene paging (see the module docstring)."""

    def __init__(self, ctx: JobContext, stash: StashClient, per_page: int) -> None:
        self.ctx = ctx
        self.stash = stash
        self.per_page = per_page
        self.started = time.time()
        self.created = self.updated = self.unchanged = 0
        self.failed: dict[str, str] = {}
        self.done = 0
        self.total = 0
        self.seen: set[str] = set()
        self.smallest_offset: timedelta | None = None
        self.watermark: str | None = None

    def _report(self) -> None:
        self.total = max(self.total, self.done)
        percent = 100.0 * self.done / self.total if self.total else 100.0
        self.ctx.progress(percent, f"Synced {self.done}/{self.total} scenes")

    async def _fetch(self, scene_filter: dict[str, Any] | None,
                     sort: str = "updated_at") -> tuple[int, list[dict[str, Any]]]:
        return await self.stash.find_scenes(scene_filter, page=1, per_page=self.per_page,
                                            sort=sort, direction="ASC")

    async def _store(self, scenes: list[dict[str, Any]]) -> None:
        if not scenes:
            return
        now = time.time()
        outcome = await self.ctx.services.store.write(lambda: store_scenes(scenes, now))
        self.created += outcome.created
        self.updated += outcome.updated
        self.unchanged += outcome.unchanged
        self.failed.update(outcome.failed)
        self.seen.update(str(s.get("id")) for s in scenes)
        self.done += len(scenes)
        if outcome.watermark is not None:
            self.watermark = outcome.watermark
        if outcome.smallest_offset is not None and (
                self.smallest_offset is None or outcome.smallest_offset < self.smallest_offset):
            self.smallest_offset = outcome.smallest_offset
        self._report()

    async def _store_second(self, text: str) -> None:
        """Every scene of one second, by id: for a second holding a whole page or more."""
        after = 0
        while True:
            _count, page = await self._fetch(in_second(text, after), sort="id")
            await self._store(page)
            self.ctx.check_cancelled()
            if len(page) < self.per_page:
                return
            after = int(page[-1]["id"])

    async def run(self, start: dict[str, Any] | None) -> None:
        """Page from ``start`` (a filter, None = everything) to the end of Stash's list."""
        fetch: asyncio.Future | None = asyncio.ensure_future(self._fetch(start))
        try:
            while fetch is not None:
                count, page = await fetch
                fetch = None
                self.total = max(self.total, self.done + count)
                if len(page) < self.per_page:
                    await self._store(page)
                    break
                last = page[-1].get("updated_at")
                if not isinstance(last, str) or not last:
                    raise StashMalformedAnswer(
                        f"Stash sent scene {page[-1].get('id')} without updated_at")
                head = [s for s in page if s.get("updated_at") != last]
                if head:
                    # The last second may continue on the next page: start there next time,
                    # and fetch it while this page is written.
                    fetch = asyncio.ensure_future(self._fetch(at_or_after(last)))
                    await self._store(head)
                else:
                    await self._store_second(last)
                    fetch = asyncio.ensure_future(self._fetch(newer_than(last)))
                self.ctx.check_cancelled()
        finally:
            if fetch is not None and not fetch.done():
                fetch.cancel()
                with contextlib.suppress(BaseException):
                    await fetch


async def _sync_entities(ctx: JobContext, stash: StashClient, full: bool) -> dict[str, int]:
    kinds = (("tags", Tag, stash.find_tags, "aliases"),
             ("performers", Performer, stash.find_performers, "alias_list"),
             ("studios", Studio, stash.find_studios, "aliases"))
    counts: dict[str, int] = {}
    for name, model, find, alias_key in kinds:
        ctx.progress(None, f"Syncing {name} from Stash")
        seen: set[str] = set()
        page = 1
        while True:
            total, items = await find(page=page, per_page=ENTITY_PAGE_SIZE)
            await ctx.services.store.write(
                lambda items=items, model=model, alias_key=alias_key:
                store_entities(model, items, alias_key))
            seen.update(str(i["id"]) for i in items)
            ctx.check_cancelled()
            if len(items) < ENTITY_PAGE_SIZE or page * ENTITY_PAGE_SIZE >= total:
                break
            page += 1
        if full and len(seen) >= total:
            await ctx.services.store.write(
                lambda model=model, seen=seen: delete_entities_except(model, seen))
        counts[name] = len(seen)
    return counts


@job_type(JobType.SYNC, exclusive=True, resumable=True,
          description="Sync scenes, tags, performers and studios from Stash")
async def sync_job(ctx: JobContext) -> dict[str, Any]:
    started = time.monotonic()
    full = bool(ctx.metadata.get("full_resync"))
    per_page = int(ctx.metadata.get("page_size") or PAGE_SIZE)
    stash = ctx.services.stash()
    entities = await _sync_entities(ctx, stash, full)
    mark = await ctx.services.store.read(read_watermark)
    run = _SceneSync(ctx, stash, per_page)
    ctx.progress(0.0, "Fetching scenes from Stash")
    if full or mark.updated_at is None:
        await run.run(None)
    else:
        await run.run(at_or_after(mark.updated_at))
        before = stash_offset(mark.updated_at)
        if (before is not None and run.smallest_offset is not None
                and run.smallest_offset < before):
            # The server's clock fell back (DST): edits in the repeated hour sort before
            # the old watermark. Read again from that far back.
            drop = (before - run.smallest_offset).total_seconds()
            since = shift_stash_time(mark.updated_at, -(drop + 1))
            if since is not None:
                ctx.log.info("Stash's UTC offset went back by %g s; re-reading from %s",
                             drop, since)
                await run.run(at_or_after(since))
    removed = 0
    if full:
        now = time.time()
        seen = run.seen
        removed = await ctx.services.store.write(lambda: mark_removed(seen, now))
    synced = run.created + run.updated
    result = {
        "synced": synced, "created": run.created, "updated": run.updated,
        "unchanged": run.unchanged, "removed": removed, "failed": len(run.failed),
        "duration": round(time.monotonic() - started, 3), "full_resync": full,
        "watermark": run.watermark or mark.updated_at, "entities": entities,
    }
    if run.failed:
        result["failed_scenes"] = dict(list(run.failed.items())[:50])
    ctx.progress(100.0, f"Synced {run.done}/{max(run.total, run.done)} scenes "
                        f"({synced} new or changed)")
    return result

"""SYNC: bring Stash's scenes, tags, performers and studios into the local copy.

Metadata: ``{"full_resync": true}`` pages through every scene and marks the ones
Stash no longer has as removed; without it the sync is incremental. This module
fetches; ``stashdesk.jobs.sync_scenes`` shapes and stores each page.

The watermark
    is the newest ``updated_at`` *text* actually stored (Setting ``sync.watermark``),
    never the local clock. Stash writes timestamps as RFC3339 text in its own zone,
    to the second, and compares a filter value with that text as strings, so the
    watermark is sent back exactly as Stash wrote it and no zone is ever assumed.
    An incremental sync starts *at* the watermark's second (``> W OR = W``), so an
    edit made in the same second as the last stored one is caught; ``content_hash``
    tells such re-read scenes apart from edited ones. The watermark advances with
    each stored page, inside the page's transaction, so a cancelled, failed or
    killed sync keeps what it stored and the next one resumes there.

A settled watermark
    is one whose second was read whole after that second had ended on Stash's
    clock: nothing can be written into it any more, so the idle check is one
    ``per_page: 0`` count of scenes newer than it, and the next sync starts after
    it instead of re-reading it (12,743 scenes of one bulk-import second cost 62
    requests per check before). Stash's clock is read from the ``Date`` header of
    its answers (Go writes it from the clock that stamps ``updated_at``): a read
    sent after an answer dated ``SETTLE_SECONDS`` past the watermark's second
    happened after that second was over. The margin covers a proxy whose clock
    differs a little; without ``Date`` headers nothing settles and every check
    re-reads the second, as it always did.

Paging
    is keyset paging over ``updated_at`` ascending, never offsets: a scene edited
    during the sync moves to the end and is read again later, a deleted one just
    disappears, and nothing shifts under the cursor. Each page is taken up to (not
    including) its last second, and the next page starts at that second, so the
    order Stash uses to break ties inside one second does not matter. A second
    holding a whole page (a bulk edit) is read separately, by id.

Writes
    run on the store's writer thread, one transaction per page (``store.write``);
    shaping and hashing happen there too, off the event loop, while the next page
    is already being fetched.

A DST fall-back repeats an hour of local wall time: scenes edited in the repeated
hour carry *smaller* strings than a watermark written before the change. When a
sync stores a scene whose offset is smaller than the watermark's, it sweeps again
from the watermark minus that difference, so those edits are not lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from stashdesk.analysis.provenance import save_vr_tag
from stashdesk.clients.errors import StashGraphQLError, StashMalformedAnswer
from stashdesk.jobs.base import JobContext, JobType, job_type
from stashdesk.jobs.sync_scenes import (
    PageOutcome,
    at_or_after,
    in_second,
    newer_than,
    scene_content_hash,
    shape_page,
    shift_stash_time,
    stash_epoch,
    stash_offset,
    store_shaped_page,
)
from stashdesk.store.scenes import (
    delete_named_entities_except,
    mark_scenes_removed_except,
    read_json_setting,
    scene_hashes,
    store_named_entities,
    write_json_setting,
)

if TYPE_CHECKING:
    from stashdesk.app import Services
    from stashdesk.clients.stash import StashClient

__all__ = [
    "at_or_after",
    "count_pending_scenes",
    "in_second",
    "newer_than",
    "read_watermark",
    "shift_stash_time",
    "stash_offset",
    "sync_job",
]

WATERMARK_KEY = "sync.watermark"
PAGE_SIZE = 250
ENTITY_PAGE_SIZE = 1000
SETTLE_SECONDS = 5.0


# --- the watermark ------------------------------------------------------------------------------


@dataclass
class Watermark:
    """The newest updated_at text stored, scenes of that second that failed to store,
    and whether that second was read whole after it ended (see the module docstring)."""

    updated_at: str | None = None
    failed: dict[str, str] = field(default_factory=dict)  # scene id -> its updated_at
    settled: bool = False

    def as_value(self) -> dict[str, Any]:
        return {"updated_at": self.updated_at, "failed": self.failed, "settled": self.settled}

    def start_filter(self) -> dict[str, Any] | None:
        """Where an incremental sync starts: after a settled second, else at it."""
        if self.updated_at is None:
            return None
        if self.settled and not self.failed:
            return newer_than(self.updated_at)
        return at_or_after(self.updated_at)


def read_watermark() -> Watermark:
    """Blocking read of the stored watermark (run it through ``store.read``)."""
    value = read_json_setting(WATERMARK_KEY)
    value = value if isinstance(value, dict) else {}
    return Watermark(
        value.get("updated_at"), dict(value.get("failed") or {}), bool(value.get("settled"))
    )


def second_is_over(text: str, server_clock: float | None) -> bool:
    """Whether an answer dated ``server_clock`` shows Stash's clock past ``text``'s second."""
    epoch = stash_epoch(text)
    return server_clock is not None and epoch is not None and server_clock >= epoch + SETTLE_SECONDS


def _advance_watermark(
    stored: list[str], failed: dict[str, str], succeeded: set[str], read_since: float | None
) -> str:
    """Move the watermark to the newest text of this page (string order, as Stash compares).

    ``read_since`` is Stash's clock before the page was asked for, when the page holds
    its newest second whole (None otherwise)."""
    mark = read_watermark()
    newest = max([*stored, *failed.values()])
    if mark.updated_at is None or newest > mark.updated_at:
        mark = Watermark(newest)
    if newest == mark.updated_at:
        for scene_id in succeeded:
            mark.failed.pop(scene_id, None)
        mark.failed.update({i: t for i, t in failed.items() if t == newest})
        mark.settled = mark.settled or second_is_over(newest, read_since)
    write_json_setting(WATERMARK_KEY, mark.as_value())
    return mark.updated_at or newest


def _settle_watermark(text: str) -> None:
    mark = read_watermark()
    if mark.updated_at == text and not mark.settled:
        mark.settled = True
        write_json_setting(WATERMARK_KEY, mark.as_value())


@dataclass
class _Stored(PageOutcome):
    watermark: str | None = None


def store_scenes(
    raws: list[dict[str, Any]], now: float, read_since: float | None = None
) -> _Stored:
    """Shape and upsert one page of scenes and advance the watermark (writer thread)."""
    page = shape_page(raws)
    outcome = _Stored(**vars(store_shaped_page(page, now)))
    if page.texts or page.failed_texts:
        outcome.watermark = _advance_watermark(
            list(page.texts.values()), page.failed_texts, set(page.texts), read_since
        )
    return outcome


# --- what the daemon asks ------------------------------------------------------------------------


async def _scenes_in_second(stash: StashClient, text: str) -> list[dict[str, Any]]:
    scenes: list[dict[str, Any]] = []
    after = 0
    while True:
        _count, page = await stash.find_scenes(
            in_second(text, after), per_page=PAGE_SIZE, sort="id"
        )
        scenes.extend(page)
        if len(page) < PAGE_SIZE:
            return scenes
        after = int(page[-1]["id"])


async def count_pending_scenes(services: Services) -> int:
    """Scenes Stash changed since the last sync: a ``per_page: 0`` count of scenes newer
    than the watermark, plus (until the watermark is settled) scenes of the watermark's
    own second that are new or differ from the local copy."""
    stash = services.stash()
    mark = await services.store.read(read_watermark)
    if mark.updated_at is None:
        return await stash.count_scenes(None)
    newer = await stash.count_scenes(newer_than(mark.updated_at))
    if mark.settled:
        return newer
    text = mark.updated_at
    read_since = stash.server_clock
    same_second = await _scenes_in_second(stash, text)

    def differing() -> int:
        local = scene_hashes([str(s.get("id")) for s in same_second])
        count = 0
        for raw in same_second:
            scene_id = str(raw.get("id"))
            if mark.failed.get(scene_id) == raw.get("updated_at"):
                continue  # already tried; it failed and is reported in that job's result
            stored = local.get(scene_id)
            if stored is None or stored[1] or stored[0] != scene_content_hash(raw):
                count += 1
        return count

    pending = await services.store.read(differing)
    if pending == 0 and not mark.failed and second_is_over(text, read_since):
        await services.store.write(lambda: _settle_watermark(text))
    return newer + pending


# --- the job -------------------------------------------------------------------------------------


_Page = tuple[int, list[dict[str, Any]], float | None]  # count, scenes, Stash's clock before


class _SceneSync:
    """One run of the SYNC job's scene paging (see the module docstring)."""

    def __init__(self, ctx: JobContext, stash: StashClient, per_page: int) -> None:
        self.ctx = ctx
        self.stash = stash
        self.per_page = per_page
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

    async def _fetch(self, scene_filter: dict[str, Any] | None, sort: str = "updated_at") -> _Page:
        read_since = self.stash.server_clock
        count, scenes = await self.stash.find_scenes(
            scene_filter, page=1, per_page=self.per_page, sort=sort, direction="ASC"
        )
        return count, scenes, read_since

    async def _store(self, scenes: list[dict[str, Any]], read_since: float | None) -> None:
        if not scenes:
            return
        now = time.time()
        outcome = await self.ctx.services.store.write(lambda: store_scenes(scenes, now, read_since))
        self.created += outcome.created
        self.updated += outcome.updated
        self.unchanged += outcome.unchanged
        self.failed.update(outcome.failed)
        self.seen.update(str(s.get("id")) for s in scenes)
        self.done += len(scenes)
        if outcome.watermark is not None:
            self.watermark = outcome.watermark
        if outcome.smallest_offset is not None and (
            self.smallest_offset is None or outcome.smallest_offset < self.smallest_offset
        ):
            self.smallest_offset = outcome.smallest_offset
        self._report()

    async def _store_second(self, text: str) -> None:
        """Every scene of one second, by id: for a second holding a whole page or more.
        The second is whole only with the last page, read since the first was asked for."""
        after = 0
        first_read_since: float | None = None
        while True:
            _count, page, read_since = await self._fetch(in_second(text, after), sort="id")
            if after == 0:
                first_read_since = read_since
            last = len(page) < self.per_page
            await self._store(page, first_read_since if last else None)
            self.ctx.check_cancelled()
            if last:
                if not page and second_is_over(text, first_read_since):
                    # the second held a whole number of pages: it is whole all the same
                    await self.ctx.services.store.write(lambda: _settle_watermark(text))
                return
            after = int(page[-1]["id"])

    async def run(self, start: dict[str, Any] | None) -> None:
        """Page from ``start`` (a filter, None = everything) to the end of Stash's list."""
        fetch: asyncio.Future[_Page] | None = asyncio.ensure_future(self._fetch(start))
        try:
            while fetch is not None:
                count, page, read_since = await fetch
                fetch = None
                self.total = max(self.total, self.done + count)
                if len(page) < self.per_page:
                    await self._store(page, read_since)
                    break
                last = page[-1].get("updated_at")
                if not isinstance(last, str) or not last:
                    raise StashMalformedAnswer(
                        f"Stash sent scene {page[-1].get('id')} without updated_at"
                    )
                head = [s for s in page if s.get("updated_at") != last]
                if head:
                    # The last second may continue on the next page: start there next time,
                    # and fetch it while this page is written.
                    fetch = asyncio.ensure_future(self._fetch(at_or_after(last)))
                    await self._store(head, read_since)
                else:
                    await self._store_second(last)
                    fetch = asyncio.ensure_future(self._fetch(newer_than(last)))
                self.ctx.check_cancelled()
        finally:
            if fetch is not None and not fetch.done():
                fetch.cancel()
                with contextlib.suppress(BaseException):
                    await fetch


def _entity_rows(items: list[dict[str, Any]], alias_key: str) -> list[tuple[str, str, str]]:
    # the aliases column is a JSONField: written as it writes JSON
    return [
        (
            str(i["id"]),
            str(i["name"]),
            json.dumps(list(i.get(alias_key) or []), separators=(",", ":"), sort_keys=True),
        )
        for i in items
    ]


async def _sync_entities(ctx: JobContext, stash: StashClient, full: bool) -> dict[str, int]:
    kinds = (
        ("tags", "tag", stash.find_tags, "aliases"),
        ("performers", "performer", stash.find_performers, "alias_list"),
        ("studios", "studio", stash.find_studios, "aliases"),
    )
    counts: dict[str, int] = {}
    for name, kind, find, alias_key in kinds:
        ctx.progress(None, f"Syncing {name} from Stash")
        seen: set[str] = set()
        page = 1
        while True:
            total, items = await find(page=page, per_page=ENTITY_PAGE_SIZE)
            rows = _entity_rows(items, alias_key)
            await ctx.services.store.write(partial(store_named_entities, kind, rows))
            seen.update(row[0] for row in rows)
            ctx.check_cancelled()
            if len(items) < ENTITY_PAGE_SIZE or page * ENTITY_PAGE_SIZE >= total:
                break
            page += 1
        if full and len(seen) >= total:
            await ctx.services.store.write(partial(delete_named_entities_except, kind, seen))
        counts[name] = len(seen)
    return counts


async def _sync_vr_tag(ctx: JobContext, stash: StashClient) -> str | None:
    """Copy Stash's VR tag setting (Settings > Interface), which decides ``vr_video``."""
    try:
        ui = await stash.ui_configuration()
    except StashGraphQLError as exc:  # an older Stash, or a restricted key: not fatal
        ctx.log.warning("could not read Stash's UI configuration (VR tag): %s", exc)
        return None
    name = ui.get("vrTag") if isinstance(ui.get("vrTag"), str) else None
    await ctx.services.store.write(lambda: save_vr_tag(name))
    return name


@job_type(
    JobType.SYNC,
    exclusive=True,
    resumable=True,
    description="Sync scenes, tags, performers and studios from Stash",
)
async def sync_job(ctx: JobContext) -> dict[str, Any]:
    started = time.monotonic()
    full = bool(ctx.metadata.get("full_resync"))
    per_page = int(ctx.metadata.get("page_size") or PAGE_SIZE)
    stash = ctx.services.stash()
    entities = await _sync_entities(ctx, stash, full)
    vr_tag = await _sync_vr_tag(ctx, stash)
    mark = await ctx.services.store.read(read_watermark)
    run = _SceneSync(ctx, stash, per_page)
    ctx.progress(0.0, "Fetching scenes from Stash")
    if full or mark.updated_at is None:
        await run.run(None)
    else:
        await run.run(mark.start_filter())
        before = stash_offset(mark.updated_at)
        if before is not None and run.smallest_offset is not None and run.smallest_offset < before:
            # The server's clock fell back (DST): edits in the repeated hour sort before
            # the old watermark. Read again from that far back.
            drop = (before - run.smallest_offset).total_seconds()
            since = shift_stash_time(mark.updated_at, -(drop + 1))
            if since is not None:
                ctx.log.info(
                    "Stash's UTC offset went back by %g s; re-reading from %s", drop, since
                )
                await run.run(at_or_after(since))
    removed = 0
    if full:
        now = time.time()
        seen = run.seen
        removed = await ctx.services.store.write(lambda: mark_scenes_removed_except(seen, now))
    synced = run.created + run.updated
    result: dict[str, Any] = {
        "synced": synced,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "removed": removed,
        "failed": len(run.failed),
        "duration": round(time.monotonic() - started, 3),
        "full_resync": full,
        "watermark": run.watermark or mark.updated_at,
        "entities": entities,
        "vr_tag": vr_tag,
    }
    if run.failed:
        result["failed_scenes"] = dict(list(run.failed.items())[:50])
    ctx.progress(
        100.0, f"Synced {run.done}/{max(run.total, run.done)} scenes ({synced} new or changed)"
    )
    return result

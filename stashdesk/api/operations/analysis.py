"""AI tagging: the tag mapping, per-tag rules, "analyse again", the review screen's plan
view and covers, and the video-tag servers."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from stashdesk.analysis import review as review_store
from stashdesk.analysis import tag_mapping, tag_rules
from stashdesk.analysis.plans import PlanError
from stashdesk.api.operations.common import OperationsBase, check_id
from stashdesk.engine_client.errors import BadRequest, NotFound

MAX_COVER_BYTES = 5_000_000

T = TypeVar("T")


def _names(values: Any, what: str) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    if not isinstance(values, list) or not all(isinstance(v, (str, int)) for v in values):
        raise BadRequest(f"{what} must be a list")
    return [str(v).strip() for v in values]


class AnalysisOperations(OperationsBase):
    """Operations on analysis (see the module docstring)."""

    async def _mapping_call(self, fn: Callable[[], T], *, write: bool = True) -> T:
        try:
            return await (self.store.write(fn) if write else self.store.read(fn))
        except (tag_mapping.MappingError, tag_rules.RuleError) as exc:
            raise BadRequest(str(exc)) from None

    # --- the tag mapping ------------------------------------------------------------------

    async def list_tag_mappings(self) -> list[dict[str, Any]]:
        """AI tag -> Stash tag (or ignore), by AI tag."""
        return await self._mapping_call(tag_mapping.list_mappings, write=False)

    async def set_tag_mapping(self, ai_tag: str, stash_tag: str) -> dict[str, Any]:
        return await self._mapping_call(lambda: tag_mapping.set_mapping(ai_tag, stash_tag))

    async def ignore_ai_tag(self, ai_tag: str) -> dict[str, Any]:
        """Never propose ``ai_tag`` (nor its markers)."""
        return await self._mapping_call(lambda: tag_mapping.ignore_tag(ai_tag))

    async def remove_tag_mapping(self, ai_tag: str) -> dict[str, Any]:
        if not await self._mapping_call(lambda: tag_mapping.remove_mapping(ai_tag)):
            raise NotFound(f"no mapping for {ai_tag!r}")
        return {"ai_tag": ai_tag, "removed": True}

    async def export_tag_mappings(self) -> dict[str, Any]:
        """The mapping as CSV text (``ai_tag,stash_tag,ignore``)."""
        return {"csv": await self._mapping_call(tag_mapping.export_mappings_csv, write=False)}

    async def import_tag_mappings(self, csv: str, replace: bool = False) -> dict[str, Any]:
        """Add (``replace``: and keep only) the mappings of CSV text; all or nothing.
        Also reads the AI Tagger's tag_mappings.csv and the AI Overhaul's tag_settings.csv."""
        if not isinstance(csv, str) or not isinstance(replace, bool):
            raise BadRequest("csv must be text and replace true or false")
        return await self._mapping_call(
            lambda: tag_mapping.import_mappings_csv(csv, replace=replace)
        )

    # --- per-tag rules --------------------------------------------------------------------

    async def list_tag_rules(self) -> dict[str, Any]:
        """The default rule, each tag's rule and the fields a rule has."""
        return await self._mapping_call(tag_rules.list_rules, write=False)

    async def set_tag_rule(
        self, ai_tag: str | None = None, fields: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Change fields of ``ai_tag``'s rule (None: the default rule); a field set to
        None falls back again."""
        if not isinstance(fields, dict) or not fields:
            raise BadRequest("fields must be an object of rule fields")
        return await self._mapping_call(lambda: tag_rules.set_rule(ai_tag, **fields))

    async def remove_tag_rule(self, ai_tag: str | None = None) -> dict[str, Any]:
        removed = await self._mapping_call(lambda: tag_rules.remove_rule(ai_tag))
        return {"ai_tag": ai_tag, "removed": removed}

    # --- analysing again, servers -----------------------------------------------------------

    async def analyse_again(
        self, scene_ids: Any, requested_by: str | None = None
    ) -> dict[str, Any]:
        """Analyse these scenes again (the running daemon takes them, else a job; with no
        engine running, the request is kept for the daemon's next pass)."""
        from stashdesk.analysis.provenance import request_reanalysis
        from stashdesk.daemons.video_analysis import analyse_again

        ids = _names(scene_ids, "scene_ids")
        if not ids:
            raise BadRequest("give the scenes to analyse again (their Stash ids)")
        who = requested_by or "api"
        if not self.live:  # recorded: the daemon takes them when an engine runs it
            recorded = await self.store.write(lambda: request_reanalysis(ids, who))
            return {**recorded, "job_id": None, "daemon": False}
        return await analyse_again(self.services, ids, requested_by=who)

    async def video_servers(self) -> dict[str, Any]:
        """The video-tag servers: slots in use, set aside or not, model identity."""
        from stashdesk.analysis.server_pool import pool_for

        return pool_for(self.services).status()

    # --- the review screen ------------------------------------------------------------------

    async def plan_review(
        self, plan_id: int, *, scene_ids: Any = None, offset: int = 0, limit: int | None = 50
    ) -> dict[str, Any]:
        """A plan by scene, with each scene's title, studio, duration, tags and cover URL,
        its changes (markers with their span and Stash link) and what rules left out."""
        plan_id = check_id(plan_id, "plan")
        wanted = _names(scene_ids, "scene_ids") or None
        stash_url = self.services.settings.get("stash.url")
        from stashdesk.analysis.covers import cover_dir

        folder = cover_dir(self.services)
        try:
            return await self.store.read(
                lambda: review_store.plan_review(
                    plan_id,
                    stash_url=stash_url,
                    covers_dir=folder,
                    scene_ids=wanted,
                    offset=offset,
                    limit=limit,
                )
            )
        except PlanError as exc:
            raise NotFound(str(exc)) from None

    async def scene_cover(self, scene_id: str) -> dict[str, Any]:
        """A scene's cover from Stash (cached by the engine), base64 in ``data``."""
        from stashdesk.analysis.covers import scene_cover

        found = await scene_cover(self.services, str(scene_id))
        path = found.get("path")
        if not path:
            return {"scene_id": str(scene_id), "data": None, "error": found.get("error")}
        content = await asyncio.to_thread(Path(path).read_bytes)
        if len(content) > MAX_COVER_BYTES:
            return {"scene_id": str(scene_id), "data": None, "error": "the cover is too large"}
        return {
            "scene_id": str(scene_id),
            "error": None,
            "data": base64.b64encode(content).decode("ascii"),
        }

"""Analysis plans: listing, one plan with its changes, review, edits, cancel, apply."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from stashdesk.analysis import plans
from stashdesk.analysis.detectors import FIELDS
from stashdesk.api.operations.common import (
    OperationsBase,
    check_id,
    check_limit,
    with_iso_times,
)
from stashdesk.engine_client.errors import (
    BadRequest,
    Conflict,
    NotFound,
)
from stashdesk.events import PlanChanged
from stashdesk.jobs.base import JobType
from stashdesk.store import jobs as job_store

T = TypeVar("T")


class PlanOperations(OperationsBase):
    """Operations on plan (see the module docstring)."""

    async def list_plans(self, status: str | None = None) -> list[dict[str, Any]]:
        if status is not None and status not in plans.PLAN_STATUSES:
            raise BadRequest(
                f"unknown plan status {status!r} (known: {', '.join(plans.PLAN_STATUSES)})"
            )
        rows = await self.store.read(lambda: plans.list_plans(status))
        return [with_iso_times(plans.plan_as_json(plan, counts)) for plan, counts in rows]

    async def get_plan(
        self, plan_id: int, *, offset: int = 0, limit: int | None = None
    ) -> dict[str, Any]:
        """A plan with ``change_list`` (its changes, by scene) and ``apply_jobs``."""
        plan_id = check_id(plan_id, "plan")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise BadRequest(f"offset must be a whole number of 0 or more, not {offset!r}")
        if limit is not None:
            limit = check_limit(limit, maximum=100_000)

        def read() -> dict[str, Any]:
            plan = plans.get_plan(plan_id)
            counts = plans.change_counts([plan.id]).get(plan.id, {})
            item = with_iso_times(plans.plan_as_json(plan, counts))
            item["change_list"] = [
                {
                    **with_iso_times(plans.change_as_json(change)),
                    "scene_title": title,
                    "scene_path": path,
                }
                for change, title, path in plans.plan_changes(plan.id, offset, limit)
            ]
            item["offset"] = offset
            item["apply_jobs"] = [
                {"id": job_id, "status": status}
                for job_id, status in job_store.jobs_with_metadata(
                    JobType.APPLY_PLAN, "plan_id", plan.id
                )
            ]
            return item

        return await self._plan_call(read, read_only=True)

    async def _plan_call(self, fn: Callable[[], T], *, read_only: bool = False) -> T:
        try:
            return await (self.store.read(fn) if read_only else self.store.write(fn))
        except plans.PlanStateError as exc:
            raise Conflict(str(exc)) from None
        except plans.PlanError as exc:
            raise NotFound(str(exc)) from None

    @staticmethod
    def _selector(
        change_ids: Any, field: Any, min_confidence: Any, scene_ids: Any = None, tag: Any = None
    ) -> plans.ChangeSelector:
        ids = [] if change_ids is None else change_ids
        if not isinstance(ids, list):
            raise BadRequest("change_ids must be a list of change ids")
        ids = [check_id(c, "change") for c in ids]
        if field is not None and field not in FIELDS:
            raise BadRequest(f"unknown field {field!r} (known: {', '.join(FIELDS)})")
        if min_confidence is not None:
            if (
                isinstance(min_confidence, bool)
                or not isinstance(min_confidence, (int, float))
                or not 0.0 <= min_confidence <= 1.0
            ):
                raise BadRequest(f"min_confidence must be between 0 and 1, not {min_confidence!r}")
            min_confidence = float(min_confidence)
        scenes = [] if scene_ids is None else scene_ids
        if not isinstance(scenes, list) or not all(isinstance(i, (str, int)) for i in scenes):
            raise BadRequest("scene_ids must be a list of scene ids")
        if tag is not None and (not isinstance(tag, str) or not tag.strip()):
            raise BadRequest("tag must be a tag name")
        return plans.ChangeSelector(
            tuple(ids), field, min_confidence, tuple(str(i) for i in scenes), tag
        )

    async def review_plan(
        self,
        plan_id: int,
        verdict: str,
        *,
        change_ids: Any = None,
        field: Any = None,
        min_confidence: Any = None,
        scene_ids: Any = None,
        tag: Any = None,
    ) -> dict[str, Any]:
        """approve | reject the selected changes (selectors combine with AND: change ids,
        field, minimum confidence, scenes, an AI tag's tag and marker changes)."""
        plan_id = check_id(plan_id, "plan")
        operations = {"approve": plans.approve_changes, "reject": plans.reject_changes}
        if verdict not in operations:
            raise BadRequest(f"a review is approve or reject, not {verdict!r}")
        selector = self._selector(change_ids, field, min_confidence, scene_ids, tag)
        count = await self._plan_call(lambda: operations[verdict](plan_id, selector))
        status = (await self.store.read(lambda: plans.get_plan(plan_id))).status
        self.bus.publish(PlanChanged(plan_id=plan_id, status=status))
        return {"plan_id": plan_id, "verdict": verdict, "count": count, "status": status}

    async def edit_change(
        self, plan_id: int, change_id: int, proposed_value: Any
    ) -> dict[str, Any]:
        plan_id, change_id = check_id(plan_id, "plan"), check_id(change_id, "change")
        change = await self._plan_call(
            lambda: plans.edit_proposed_value(change_id, proposed_value, plan_id)
        )
        self.bus.publish(PlanChanged(plan_id=plan_id))
        return with_iso_times(plans.change_as_json(change))

    async def cancel_plan(self, plan_id: int) -> dict[str, Any]:
        plan_id = check_id(plan_id, "plan")
        plan = await self._plan_call(lambda: plans.cancel_plan(plan_id))
        self.bus.publish(PlanChanged(plan_id=plan_id, status=plan.status))
        return {"plan_id": plan.id, "status": plan.status}

    async def apply_plan(
        self,
        plan_id: int,
        *,
        change_ids: Any = None,
        auto_approve: bool = False,
        created_by: str | None = None,
    ) -> dict[str, Any]:
        """Check the plan can be applied, then launch its APPLY_PLAN job."""
        plan_id = check_id(plan_id, "plan")
        selector = self._selector(change_ids, None, None)
        if not isinstance(auto_approve, bool):
            raise BadRequest("auto_approve must be true or false")

        def check() -> None:
            plans.finalise_orphaned_plans()  # a plan whose analysis was killed can be applied
            plan = plans.get_plan(plan_id)
            if plan.status not in plans.OPEN_PLAN_STATUSES:
                why = (
                    "it is still being built by its analysis job"
                    if plan.status == "pending"
                    else f"it is {plan.status}"
                )
                raise plans.PlanStateError(f"plan {plan_id} cannot be applied: {why}")
            plans.check_change_ids(plan_id, selector.change_ids)
            if not plans.changes_to_apply(plan_id, selector.change_ids, auto_approve):
                hint = "" if auto_approve else " (approve some first, or use --auto-approve)"
                raise plans.PlanStateError(f"plan {plan_id} has no changes to apply{hint}")

        await self._plan_call(check)
        metadata: dict[str, Any] = {"plan_id": plan_id, "auto_approve": auto_approve}
        if selector.change_ids:
            metadata["change_ids"] = list(selector.change_ids)
        self._need_engine(f"Applying plan {plan_id}")
        info = await self.services.runner.submit(
            JobType.APPLY_PLAN, metadata, created_by=created_by or "api"
        )
        return {"job_id": info.id, "status": info.status, "engine": "running", "metadata": metadata}

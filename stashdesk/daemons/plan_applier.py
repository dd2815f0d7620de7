"""Auto Plan Applier: apply the approved changes of draft and reviewing plans.

Each pass reads the plans afresh, so changes approved after a plan was first
seen are applied on a later pass. Plans whose name starts with one of
``plan_prefix_filter`` are considered (an empty list means every plan); a plan is
applied when it has approved changes (approved or pending with
``auto_approve_all_changes``), by one APPLY_PLAN job at a time.

It leaves alone a plan some APPLY_PLAN job is already applying, and the plans the
Auto Video Analysis daemon applies itself (while it runs with
``auto_apply_plans``), so the two never fight over a plan.

A plan whose apply job failed (Stash unreachable...) is retried after a back-off
(``job_interval_seconds`` doubling, at most an hour); the failure shows in the
status (with the failed job), in the daemon's log and in the job itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, ClassVar

from stashdesk.analysis.plans import (
    ANALYSIS_DAEMON,
    count_to_apply,
    finalise_orphaned_plans,
    open_plans,
)
from stashdesk.daemons.base import MAX_INTERVAL_SECONDS, BaseDaemon, Rest
from stashdesk.daemons.manager import register_daemon
from stashdesk.jobs.apply_plan import applying_plans
from stashdesk.jobs.base import JobInfo, JobStatus, JobType
from stashdesk.options import Option, list_of_strings

MAX_RETRY_DELAY = 3600.0


@dataclass
class _Failure:
    count: int
    retry_at: float


@dataclass(frozen=True)
class _PlanView:
    id: int
    name: str
    owner: str | None


@register_daemon
class PlanApplierDaemon(BaseDaemon):
    name = "plan-applier"
    display_order = 3
    display_name = "Auto Plan Applier"
    description = "Applies the approved changes of draft and reviewing plans to Stash."
    wake_on_jobs = ("ANALYSIS",)  # a finished analysis leaves a plan to apply
    uses_settings = ("stash.",)
    config_options: ClassVar[list[Option]] = [
        Option(
            "job_interval_seconds",
            "int",
            60,
            "Seconds between checks for plans to apply.",
            minimum=1,
            maximum=MAX_INTERVAL_SECONDS,
        ),
        Option(
            "plan_prefix_filter",
            "list",
            [],
            "Only plans whose name starts with one of these (empty: every plan).",
            validator=list_of_strings("plan_prefix_filter"),
        ),
        Option(
            "auto_approve_all_changes",
            "bool",
            False,
            "Apply pending changes too, not only approved ones.",
        ),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures: dict[int, _Failure] = {}

    async def run_pass(self) -> Rest | None:
        await self.update_status("Checking for plans to apply")
        store = self.services.store
        await store.write(finalise_orphaned_plans)
        resumed = await self.find_own_active_job(JobType.APPLY_PLAN)
        if resumed is not None:  # StashDesk restarted while it ran: wait, do not relaunch
            plan_id: Any = resumed.metadata.get("plan_id")  # JSON from the job's row
            outcome = await self.wait_for_job(resumed, f"Waiting for plan {plan_id} to complete")
            await self._record_outcome(int(plan_id), outcome)
        plans = await store.read(
            lambda: [
                _PlanView(p.id, p.name, (p.metadata or {}).get("created_by")) for p in open_plans()
            ]
        )
        await self.update_status(f"Found {len(plans)} plans in DRAFT/REVIEWING status")
        prefixes = list(self.config["plan_prefix_filter"])
        if prefixes:
            await self.update_status(
                f"Filtering {len(plans)} plans by prefix: {', '.join(prefixes)}"
            )
            plans = [p for p in plans if any(p.name.startswith(x) for x in prefixes)]
        auto_approve = bool(self.config["auto_approve_all_changes"])
        ids = [p.id for p in plans]
        counts = await store.read(lambda: count_to_apply(ids, auto_approve))
        applied = 0
        for plan in plans:
            if not counts.get(plan.id) or self._leave_alone(plan):
                continue
            await self.update_status(f"Processing plan: {plan.name}")
            await self.update_status(f"Plan {plan.id} has {counts[plan.id]} changes to apply")
            job = await self.launch_job(
                JobType.APPLY_PLAN,
                {"plan_id": plan.id, "auto_approve": auto_approve},
                f"Applying plan {plan.id}: {plan.name}",
            )
            outcome = await self.wait_for_job(job, f"Waiting for plan {plan.id} to complete")
            if await self._record_outcome(plan.id, outcome):
                applied += 1
        if applied:
            return None  # look again at once: more may have been approved meanwhile
        waiting = [pid for pid, f in self.failures.items() if f.retry_at > time.time()]
        if waiting:
            return Rest(
                self.interval,
                f"No plans to process ({len(waiting)} waiting to retry after a failed apply)",
            )
        return Rest(self.interval, "No plans to process")

    def _leave_alone(self, plan: _PlanView) -> bool:
        if plan.id in applying_plans(self.runner.active_jobs()):
            return True
        failure = self.failures.get(plan.id)
        if failure is not None and time.time() < failure.retry_at:
            return True
        if plan.owner == ANALYSIS_DAEMON:
            handle = self.services.manager.handles.get(ANALYSIS_DAEMON)
            if handle is not None and handle.running and handle.config.get("auto_apply_plans"):
                return True  # that daemon applies its own plans
        return False

    async def _record_outcome(self, plan_id: int, outcome: JobInfo) -> bool:
        """Remember a failed apply for the back-off; True when the job completed."""
        if outcome.status == JobStatus.COMPLETED:
            self.failures.pop(plan_id, None)
            return True
        previous = self.failures.get(plan_id)
        count = previous.count + 1 if previous else 1
        delay = min(MAX_RETRY_DELAY, self.interval * 2 ** (count - 1))
        self.failures[plan_id] = _Failure(count, time.time() + delay)
        reason = outcome.error or outcome.status
        self.log(
            "WARNING",
            f"Applying plan {plan_id} {outcome.status} (attempt {count}): "
            f"{reason}; retrying in {delay:g} seconds",
        )
        await self.update_status(
            f"Applying plan {plan_id} {outcome.status}: {reason} - retrying in {delay:g} seconds",
            job_id=outcome.id,
            job_type=outcome.type,
        )
        return False

"""Auto Video Analysis: send synced scenes to the video-tag servers, batch by batch.

Each pass: find the scenes of the local copy that need video analysis (see
:mod:`stashdesk.analysis.tracking`: never analysed - every synced scene, or with
``analysis.select`` "tagged" only those tagged AI_TagMe -, errored and due for a
retry, produced by another model or other settings than now, or requested),
split them into batches of ``batch_size``, run one ANALYSIS job per batch and wait
for it; meanwhile the status says which servers are busy ("Waiting for video
analysis to complete - analysing 4 scenes on 2 servers"). With
``auto_apply_plans`` each finished plan is applied (its pending changes
approved) by an APPLY_PLAN job this daemon waits for; without it, plans are left
for review and the Auto Plan Applier.

It never analyses a scene twice at once: scenes of every active ANALYSIS job (its
own, or one started by hand) are left out. ANALYSIS jobs are resumable, so one cut
off by a restart continues with its unanalysed scenes in the same plan; after a
restart the daemon waits for its own resumed job instead of launching the work
again. Its own plans that were never applied (the apply failed, or StashDesk
stopped in between) are applied on a later pass.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar

from stashdesk.analysis.detectors import DETECTORS
from stashdesk.analysis.plans import (
    ANALYSIS_DAEMON,
    count_to_apply,
    finalise_orphaned_plans,
    open_plans,
)
from stashdesk.analysis.provenance import (
    load_current_producer,
    request_reanalysis,
    save_server_models,
)
from stashdesk.analysis.server_pool import pool_for
from stashdesk.analysis.tracking import scenes_needing_analysis
from stashdesk.clients.errors import ServiceError
from stashdesk.daemons.base import MAX_INTERVAL_SECONDS, BaseDaemon, Rest
from stashdesk.daemons.manager import register_daemon
from stashdesk.jobs.apply_plan import applying_plans
from stashdesk.jobs.base import JobInfo, JobStatus, JobType
from stashdesk.options import Option, OptionError

if TYPE_CHECKING:
    from stashdesk.app import Services

PLAN_PREFIX = "Auto Video Analysis"


def _detectors_validator(value: list[Any]) -> None:
    if not value or not all(isinstance(d, str) and d in DETECTORS for d in value):
        raise OptionError(
            f"detectors must be a non-empty list of {', '.join(DETECTORS)} "
            f'(e.g. ["video_tags"]), not {value!r}'
        )


class AnalysisJobFailed(ServiceError):
    """An ANALYSIS job failed; the message is the job's own (e.g. server unreachable)."""


def active_analysis_scenes(jobs: list[JobInfo]) -> set[str]:
    """Scenes some pending or running ANALYSIS job will analyse."""
    scenes: set[str] = set()
    for job in jobs:
        if job.type == JobType.ANALYSIS and not job.finished:
            scenes.update(str(s) for s in job.metadata.get("scene_ids") or [])
    return scenes


@register_daemon
class VideoAnalysisDaemon(BaseDaemon):
    name = ANALYSIS_DAEMON
    display_order = 1
    display_name = "Auto Video Analysis"
    description = (
        "Sends synced scenes to the AI video-tag server in batches and builds "
        "plans of tags and markers from the answers."
    )
    wake_on_jobs = ("SYNC",)  # newly synced scenes need analysing
    uses_settings = ("analysis.", "stash.")
    config_options: ClassVar[list[Option]] = [
        Option(
            "job_interval_seconds",
            "int",
            600,
            "Seconds between checks for scenes to analyse.",
            minimum=1,
            maximum=MAX_INTERVAL_SECONDS,
        ),
        Option("batch_size", "int", 50, "Scenes per analysis job.", minimum=1, maximum=1000),
        Option(
            "detectors",
            "list",
            ["video_tags"],
            "Detectors to run: video_tags, path.",
            validator=_detectors_validator,
        ),
        Option(
            "auto_apply_plans",
            "bool",
            True,
            "Approve and apply each finished analysis "
            "plan; off leaves plans for review and the Auto Plan Applier.",
        ),
    ]

    async def run_pass(self) -> Rest | None:
        await self.update_status("Checking for scenes needing video analysis")
        store = self.services.store
        await store.write(finalise_orphaned_plans)
        await self._finish_previous_work()
        if "video_tags" in self.config["detectors"] and self.services.settings.get(
            "analysis.reanalyse_on_change"
        ):
            await self._learn_models()
        pending = await self._scenes_needing_analysis()
        if not pending:
            return Rest(self.interval, "No scenes to analyze")
        await self.update_status(f"Found {len(pending)} scenes needing analysis")
        if "video_tags" in self.config["detectors"]:
            # No reachable server fails this pass (status, log, back-off) rather than a
            # job per batch that could not analyse anything.
            await self._check_servers()
        size = int(self.config["batch_size"])
        batches = [pending[i : i + size] for i in range(0, len(pending), size)]
        for number, batch in enumerate(batches, 1):
            await self.update_status(
                f"Processing batch {number} of {len(batches)} ({len(batch)} scenes)"
            )
            # Scenes may have been taken by another job since the count (e.g. by hand).
            busy = active_analysis_scenes(self.runner.active_jobs())
            batch = [s for s in batch if s not in busy]
            if not batch:
                continue
            job = await self.launch_job(
                JobType.ANALYSIS,
                {
                    "scene_ids": batch,
                    "detectors": list(self.config["detectors"]),
                    "plan_name": f"{PLAN_PREFIX} - {datetime.now():%Y-%m-%d %H:%M:%S}",
                    "only_unanalysed": True,
                },
                f"Analyzing video tags for {len(batch)} scenes",
            )
            outcome = await self.wait_for_job(
                job,
                "Waiting for video analysis to complete",
                detail=pool_for(self.services).activity,
            )
            rest = await self._after_analysis(outcome)
            if rest is not None:
                return rest
        return None  # look again at once: scenes may have been synced meanwhile

    # --- steps -----------------------------------------------------------------------------

    async def _finish_previous_work(self) -> None:
        """After a restart: wait for this daemon's resumed jobs, apply its leftover plans."""
        analysis = await self.find_own_active_job(JobType.ANALYSIS)
        if analysis is not None:
            outcome = await self.wait_for_job(
                analysis,
                "Waiting for video analysis to complete",
                detail=pool_for(self.services).activity,
            )
            await self._after_analysis(outcome)
        applying = await self.find_own_active_job(JobType.APPLY_PLAN)
        if applying is not None:
            plan_id = applying.metadata.get("plan_id")
            await self._report_apply(
                await self.wait_for_job(applying, f"Applying analysis plan {plan_id}"), plan_id
            )
        if self.config["auto_apply_plans"]:
            for plan_id in await self._own_unapplied_plans():
                await self._apply(plan_id)

    async def _learn_models(self) -> None:
        """Which models the servers run now: a change makes analysed scenes due again."""
        pool = pool_for(self.services)
        for url, models in (await pool.probe_models()).items():
            changed = await self.services.store.write(
                partial(save_server_models, url, models, source="probe")
            )
            if changed:
                self.log(
                    "INFO",
                    f"The video-tag server at {url} runs other models now; "
                    f"scenes it analysed before are analysed again",
                )

    async def _check_servers(self) -> None:
        """Reach the servers; those that cannot be reached are set aside (and logged)."""
        reachable = await pool_for(self.services).check()
        servers = pool_for(self.services).servers()
        if len(reachable) < len(servers):
            down = [f"{s.spec.url} ({s.reason})" for s in servers if s not in reachable]
            self.log(
                "WARNING",
                f"{len(down)} of {len(servers)} video-tag servers cannot be "
                f"reached and are set aside: {'; '.join(down)}",
            )

    async def _scenes_needing_analysis(self) -> list[str]:
        settings = self.services.settings
        detectors = list(self.config["detectors"])
        retry_after = float(settings.get("analysis.retry_after_hours")) * 3600
        max_attempts = int(settings.get("analysis.max_attempts"))
        select = str(settings.get("analysis.select"))
        busy = active_analysis_scenes(self.runner.active_jobs())
        urls = [s.spec.url for s in pool_for(self.services).servers()]
        reanalyse = bool(settings.get("analysis.reanalyse_on_change"))

        def find() -> list[str]:
            current = load_current_producer(settings, urls) if reanalyse else None
            return scenes_needing_analysis(
                detectors,
                retry_after=retry_after,
                max_attempts=max_attempts,
                exclude=busy,
                select=select,
                current=current,
            )

        return await self.services.store.read(find)

    async def _after_analysis(self, outcome: JobInfo) -> Rest | None:
        result: dict[str, Any] = outcome.result if isinstance(outcome.result, dict) else {}
        plan_id = result.get("plan_id") or outcome.metadata.get("plan_id")
        if plan_id is not None and self.config["auto_apply_plans"]:
            await self._apply(int(plan_id))
        if outcome.status == JobStatus.FAILED:
            raise AnalysisJobFailed(f"Video analysis job {outcome.id} failed: {outcome.error}")
        if outcome.status != JobStatus.COMPLETED:
            self.log(
                "WARNING",
                f"Video analysis job {outcome.id} ended {outcome.status}: "
                f"{outcome.error or 'no reason given'}",
            )
            return Rest(self.interval, f"Video analysis {outcome.status}")
        return None

    async def _own_unapplied_plans(self) -> list[int]:
        busy = applying_plans(self.runner.active_jobs())
        name = self.name

        def find() -> list[int]:
            own = [
                p.id
                for p in open_plans()
                if (p.metadata or {}).get("created_by") == name and p.id not in busy
            ]
            counts = count_to_apply(own, auto_approve=True)
            return [pid for pid in own if counts.get(pid)]

        return await self.services.store.read(find)

    async def _apply(self, plan_id: int) -> None:
        if plan_id in applying_plans(self.runner.active_jobs()):
            return
        counts = await self.services.store.read(
            lambda: count_to_apply([plan_id], auto_approve=True)
        )
        if not counts.get(plan_id):
            return
        message = f"Applying analysis plan {plan_id}"
        job = await self.launch_job(
            JobType.APPLY_PLAN, {"plan_id": plan_id, "auto_approve": True}, message
        )
        await self._report_apply(await self.wait_for_job(job, message), plan_id)

    async def _report_apply(self, outcome: JobInfo, plan_id: Any) -> None:
        result = outcome.result if isinstance(outcome.result, dict) else {}
        if outcome.status == JobStatus.COMPLETED:
            self.log(
                "INFO",
                f"Plan {plan_id}: {result.get('applied', 0)} applied, "
                f"{result.get('skipped', 0)} skipped, "
                f"{result.get('failed', 0)} failed",
            )
        else:
            self.log(
                "WARNING",
                f"Applying analysis plan {plan_id} {outcome.status}: "
                f"{outcome.error or 'no reason given'}; it is tried again on "
                f"a later pass",
            )


async def analyse_again(
    services: Services, scene_ids: list[str], *, requested_by: str | None = None
) -> dict[str, Any]:
    """Analyse these scenes again ("Analyse again", ``analysis run --scene ID``).

    The request is recorded (it survives a restart and is settled once the scene has
    been analysed after it); a running Auto Video Analysis is woken to take it, else
    an ANALYSIS job with the daemon's detectors is launched for the scenes now.
    Returns {"requested", "unknown" (not in the local copy), "job_id" (of the job
    launched, or None), "daemon" (True when the daemon takes them)}.
    """
    recorded = await services.store.write(lambda: request_reanalysis(scene_ids, requested_by))
    handle = services.manager.handles.get(VideoAnalysisDaemon.name)
    instance = handle.instance if handle is not None and handle.running else None
    result = {**recorded, "job_id": None, "daemon": instance is not None}
    if not recorded["requested"]:
        return result
    if instance is not None:
        instance.wake_up()
        return result
    config = VideoAnalysisDaemon.validate_config(handle.config if handle is not None else {})
    job = await services.runner.submit(
        JobType.ANALYSIS,
        {
            "scene_ids": recorded["requested"],
            "detectors": list(config["detectors"]),
            "plan_name": f"Analysis - {datetime.now():%Y-%m-%d %H:%M:%S}",
            "only_unanalysed": True,
        },
        created_by=requested_by,
    )
    return {**result, "job_id": job.id}

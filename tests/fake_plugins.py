"""Daemon and job types used only by the engine's own tests.

Importing this module registers them (tests also load it in a headless process
through STASHDESK_PLUGINS=tests.fake_plugins).
"""

from __future__ import annotations

import asyncio
from typing import Any

from stashdesk.daemons.base import BaseDaemon, Rest
from stashdesk.daemons.manager import register_daemon
from stashdesk.jobs.base import JobContext, JobFailed, job_type
from stashdesk.options import Option

# --- jobs --------------------------------------------------------------------------------


@job_type("TEST_STEPS", description="counts to metadata.steps, one step per metadata.delay")
async def steps_job(ctx: JobContext) -> dict[str, Any]:
    steps = int(ctx.metadata.get("steps", 3))
    delay = float(ctx.metadata.get("delay", 0.01))
    for step in range(1, steps + 1):
        ctx.check_cancelled()
        await asyncio.sleep(delay)
        ctx.progress(100.0 * step / steps, f"Step {step}/{steps}")
    if ctx.metadata.get("warn"):
        ctx.log.warning("%s", ctx.metadata["warn"])
    if ctx.metadata.get("fail"):
        raise JobFailed(str(ctx.metadata["fail"]))
    return {"steps": steps, "resumed": ctx.resumed}


@job_type("TEST_EXCLUSIVE", exclusive=True)
async def exclusive_job(ctx: JobContext) -> dict[str, Any]:
    return await steps_job(ctx)


@job_type("TEST_STUBBORN", description="ignores cancellation until stopped hard")
async def stubborn_job(ctx: JobContext) -> dict[str, Any]:
    await asyncio.sleep(3600)
    return {}


@job_type("TEST_RESUMABLE", resumable=True, exclusive=True)
async def resumable_job(ctx: JobContext) -> dict[str, Any]:
    if not ctx.resumed:
        await ctx.save_metadata(external_id="ext-1")
    else:
        assert ctx.metadata.get("external_id") == "ext-1"
    while not ctx.metadata.get("finish_now"):
        ctx.check_cancelled()
        await asyncio.sleep(0.05)
        if ctx.resumed:
            break
    return {"resumed": ctx.resumed, "external_id": ctx.metadata.get("external_id")}


# --- daemons -------------------------------------------------------------------------------


@register_daemon
class TickDaemon(BaseDaemon):
    """Checks, finds work every other pass, launches a TEST_STEPS job, waits, sleeps."""

    name = "test-tick"
    display_name = "Test Tick"
    description = "A daemon for the engine's tests."
    wake_on_jobs = ("TEST_EXCLUSIVE",)
    config_options = [
        Option("job_interval_seconds", "float", 0.2, "Pause between passes.", minimum=0.01),
        Option(
            "job_steps", "int", 0, "Steps of the job launched each pass (0: no job).", minimum=0
        ),
        Option("fail_passes", "int", 0, "How many passes raise an error first.", minimum=0),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.passes = 0

    async def run_pass(self) -> Rest:
        self.passes += 1
        await self.update_status("Checking for test work")
        if self.passes <= self.config["fail_passes"]:
            raise RuntimeError(f"test failure {self.passes}")
        steps = self.config["job_steps"]
        if steps:
            job = await self.launch_job(
                "TEST_STEPS", {"steps": steps, "delay": 0.02}, f"Running {steps} test steps"
            )
            outcome = await self.wait_for_job(job, "Waiting for test steps to complete")
            await self.update_status(f"Test steps {outcome.status}")
        return Rest(self.interval, "No test work")


@register_daemon
class CrashingDaemon(BaseDaemon):
    """Its loop itself crashes (not a pass): the manager must restart it."""

    name = "test-crash"
    display_name = "Test Crash"
    config_options = [
        Option("job_interval_seconds", "float", 0.1, "Pause between passes.", minimum=0.01),
        Option("crashes", "int", 1, "How many starts crash before it runs.", minimum=0),
    ]
    starts = 0

    async def run(self) -> None:
        type(self).starts += 1
        await self.update_status("Starting")
        if type(self).starts <= self.config["crashes"]:
            raise RuntimeError(f"crash number {type(self).starts}")
        await super().run()

    async def run_pass(self) -> Rest:
        await self.update_status("Checking for crash work")
        return Rest(self.interval, "Nothing to crash on")

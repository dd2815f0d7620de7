"""Screenshots of every page for the README, with realistic demo data.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out docs/screenshots]

Runs a real engine on a temporary data directory. The five daemons are demo
stand-ins with the real daemons' names, titles and options (when those are
installed) whose passes are scripted: no Stash, qBittorrent or video-tag server
is needed. History, jobs and plans are written into the database first, so the
pages look like a library after a few days. Rerun it whenever the window
changes; it overwrites the PNGs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("STASHDESK_NO_KEYRING", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import qasync  # noqa: E402
from PySide6.QtWidgets import QApplication, QWidget  # noqa: E402

from stashdesk.app import Engine, load_plugins  # noqa: E402
from stashdesk.daemons.base import BaseDaemon, Rest  # noqa: E402
from stashdesk.daemons.manager import DAEMON_TYPES  # noqa: E402
from stashdesk.engine_client.local import LocalClient  # noqa: E402
from stashdesk.jobs.base import JobContext, job_type  # noqa: E402
from stashdesk.options import Option  # noqa: E402
from stashdesk.store.models import (  # noqa: E402
    DaemonJobAction,
    DaemonLog,
    DaemonStatus,
    Job,
    Plan,
    PlanChange,
    Scene,
    SceneFile,
)
from stashdesk.ui.theme import apply_theme  # noqa: E402
from stashdesk.ui.window import MainWindow  # noqa: E402

random.seed(7)
NOW = time.time()
FOREVER = 10**6

DEMO = {
    "video-analysis": (
        "Auto Video Analysis",
        (
            "Sends synced scenes to the AI video-tag server "
            "in batches and proposes tags and markers for review."
        ),
        600,
    ),
    "stash-sync": (
        "Auto Stash Sync",
        ("Copies new and changed scenes from Stash into StashDesk's library."),
        300,
    ),
    "plan-applier": (
        "Auto Plan Applier",
        ("Applies approved changes of analysis plans to Stash, one plan at a time."),
        60,
    ),
    "download-processor": (
        "Download Processor",
        ("Hard-links finished qBittorrent downloads into the library and asks Stash to scan them."),
        300,
    ),
    "stash-generation": (
        "Auto Stash Generation",
        (
            "Has Stash generate previews and sprites "
            "for scenes that lack them, when nothing else runs."
        ),
        3600,
    ),
}

SCENES = [
    ("101", "Sunset Over Lisbon", "/library/travel/2024/sunset-over-lisbon.mp4"),
    ("102", "Morning Yoga Flow", "/library/fitness/morning-yoga-flow.mkv"),
    ("103", "Coastal Road Trip, Part 2", "/library/travel/2024/coastal-road-trip-2.mp4"),
    ("104", "Studio Session #14", "/library/music/studio-session-14.mp4"),
    ("105", "Night Market Walk", "/library/travel/2023/night-market-walk.mp4"),
    ("106", "Cooking: Fresh Pasta", "/library/food/fresh-pasta.mp4"),
    ("107", "Trail Run in the Alps", "/library/outdoor/trail-run-alps.mkv"),
    ("108", "Harbour Timelapse", "/library/travel/2024/harbour-timelapse.mp4"),
]


# --- demo jobs and daemons ---------------------------------------------------------------


async def _demo_job(ctx: JobContext) -> dict[str, Any]:
    hold = float(ctx.metadata.get("hold_at", 100))
    steps = int(ctx.metadata.get("steps", 10))
    for step in range(1, steps + 1):
        percent = 100.0 * step / steps
        if percent > hold:
            await asyncio.sleep(FOREVER)
        ctx.progress(percent, ctx.metadata.get("message", "Working") + f" ({step}/{steps})")
        await asyncio.sleep(float(ctx.metadata.get("delay", 0.01)))
    return dict(ctx.metadata.get("result", {"done": steps}))


def _register_demo_jobs() -> None:
    for kind in (
        "SYNC",
        "ANALYSIS",
        "APPLY_PLAN",
        "STASH_SCAN",
        "STASH_GENERATE",
        "PROCESS_DOWNLOADS",
    ):
        job_type(kind, description="demo")(_demo_job)


class _Demo(BaseDaemon):
    async def run_pass(self) -> Rest:
        await self.update_status("Checking for work")
        return Rest(self.interval, "Nothing to do")


class VideoAnalysisDemo(_Demo):
    async def run_pass(self) -> Rest:
        await self.update_status("Checking for scenes needing video analysis")
        await self.update_status("Found 388 scenes needing analysis")
        job = await self.launch_job(
            "ANALYSIS",
            {
                "scenes": 50,
                "steps": 50,
                "hold_at": 42,
                "delay": 0.005,
                "message": "Analysing scene",
            },
            "Analyzing video tags for 50 scenes",
        )
        await self.update_status(
            "Processing batch 3 of 8 (50 scenes)", job_id=job.id, job_type=job.type
        )
        await asyncio.sleep(FOREVER)
        return Rest(self.interval, "No scenes to analyze")


class StashSyncDemo(_Demo):
    async def run_pass(self) -> Rest:
        await self.update_status("Checking for scenes to sync from Stash")
        job = await self.launch_job(
            "SYNC", {"steps": 4, "result": {"scenes_synced": 37}}, "Syncing 37 scenes from Stash"
        )
        await self.wait_for_job(job, "Waiting for sync to complete")
        await self.update_status("Sync completed for 37 scenes")
        return Rest(self.interval, "No pending scenes")


class PlanApplierDemo(_Demo):
    async def run_pass(self) -> Rest:
        await self.update_status("Checking for plans to apply")
        await self.update_status(
            "Found 2 plans in DRAFT/REVIEWING status; checking plan 12 "
            "\u201cAuto Video Analysis - 2024-05-01 10:00\u201d for approved "
            "changes"
        )
        await asyncio.sleep(FOREVER)
        return Rest(self.interval, "No plans to process")


class DownloadProcessorDemo(_Demo):
    async def run(self) -> None:
        await self.update_status("Checking qBittorrent for new downloads")
        raise ConnectionError(
            "qBittorrent unreachable at http://localhost:8080: connection "
            "refused - check qbittorrent.url and that its Web UI is enabled"
        )


DEMO_CLASSES = {
    "video-analysis": VideoAnalysisDemo,
    "stash-sync": StashSyncDemo,
    "plan-applier": PlanApplierDemo,
    "download-processor": DownloadProcessorDemo,
    "stash-generation": _Demo,
}


def _register_demo_daemons() -> None:
    load_plugins()  # the real daemons, when installed, lend their names and options
    real = {name: DAEMON_TYPES.get(name) for name in DEMO}
    DAEMON_TYPES.clear()
    for name, (title, description, interval) in DEMO.items():
        source = real.get(name)
        options = (
            list(source.config_options)
            if source is not None
            else [
                Option(
                    "job_interval_seconds", "int", interval, "Seconds between checks.", minimum=10
                ),
                Option("batch_size", "int", 50, "Scenes per batch.", minimum=1, maximum=500),
            ][: 2 if name == "video-analysis" else 1]
        )
        DAEMON_TYPES[name] = type(
            DEMO_CLASSES[name].__name__,
            (DEMO_CLASSES[name],),
            {
                "name": name,
                "display_name": getattr(source, "display_name", "") or title,
                "description": getattr(source, "description", "") or description,
                "config_options": options,
            },
        )


# --- demo history ------------------------------------------------------------------------


def _seed_database() -> None:
    rows, statuses, actions, logs = [], [], [], []
    kinds = [
        ("SYNC", "stash-sync", "Synced {n} scenes"),
        ("ANALYSIS", "video-analysis", "Analysed {n} scenes"),
        ("APPLY_PLAN", "plan-applier", "Applied {n} changes"),
        ("PROCESS_DOWNLOADS", "download-processor", "Placed {n} files"),
        ("STASH_SCAN", "download-processor", "Stash scan finished"),
        ("STASH_GENERATE", "stash-generation", "Generated previews for {n} scenes"),
    ]
    for i in range(60):
        kind, daemon, message = kinds[i % len(kinds)]
        created = NOW - 3 * 86400 + i * 4100 + random.random() * 600
        status = random.choices(["completed", "failed", "cancelled"], [0.85, 0.1, 0.05])[0]
        n = random.randint(3, 120)
        error = None
        if status == "failed":
            error = random.choice(
                [
                    "Stash unreachable at http://localhost:9999: connection refused",
                    (
                        "The video-tag server failed on /library/travel/2023/night-market-walk.mp4 "
                        "(HTTP 500): out of memory"
                    ),
                ]
            )
        took = random.uniform(4, 900)
        job_id = str(uuid.uuid4())
        rows.append(
            {
                "id": job_id,
                "type": kind,
                "status": status,
                "progress": 100.0 if status == "completed" else random.uniform(5, 90),
                "message": message.format(n=n)
                if status == "completed"
                else ("Cancelled by user" if status == "cancelled" else "Failed"),
                "metadata": {"demo": True},
                "result": {"count": n},
                "error": error,
                "created_by": daemon if i % 7 else "user",
                "created_at": created,
                "started_at": created + 1,
                "finished_at": created + 1 + took,
            }
        )
        actions.append(
            {
                "daemon": daemon,
                "job_id": job_id,
                "action": "LAUNCHED",
                "reason": message.format(n=n).replace("ed ", "ing ", 1),
                "at": created,
            }
        )
        actions.append(
            {
                "daemon": daemon,
                "job_id": job_id,
                "action": {"completed": "FINISHED", "cancelled": "CANCELLED"}.get(status, "FAILED"),
                "reason": error or f"count={n}",
                "at": created + took,
            }
        )
        statuses.append(
            {"daemon": daemon, "message": f"Checking for work ({i})", "at": created - 2}
        )
        if error:
            logs.append(
                {"daemon": daemon, "level": "ERROR", "message": error, "at": created + took}
            )
    for i in range(40):
        at = NOW - 3600 + i * 80
        logs.append(
            {
                "daemon": "video-analysis",
                "level": random.choice(["INFO", "INFO", "INFO", "DEBUG", "WARNING"]),
                "message": random.choice(
                    [
                        "Sent /library/travel/2024/sunset-over-lisbon.mp4 to the video-tag server",
                        "Scene 103: 7 tags, 4 markers above the 0.30 threshold",
                        "The video-tag server answered in 41.2 s",
                        "Scene 105 skipped: analysed 2 h ago",
                        "Retrying scene 106 in 24 h after: HTTP 500 out of memory",
                    ]
                ),
                "at": at,
            }
        )
    Job.insert_many(rows).execute()
    DaemonStatus.insert_many(statuses).execute()
    DaemonJobAction.insert_many(actions).execute()
    DaemonLog.insert_many(logs).execute()

    for scene_id, title, path in SCENES:
        Scene.insert(id=scene_id, title=title, updated_at="2024-05-01T10:00:00Z").execute()
        SceneFile.insert(id=f"f{scene_id}", scene=scene_id, path=path, size=10**9).execute()
    analysis_job = next(
        r["id"] for r in rows if r["type"] == "ANALYSIS" and r["status"] == "completed"
    )
    plans = [
        ("Auto Video Analysis - 2024-05-01 10:00", "reviewing", analysis_job),
        ("Auto Video Analysis - 2024-04-30 22:00", "draft", None),
        ("Path tags - travel folder", "applied", None),
    ]
    tags = [
        "Beach_AI",
        "Sunset_AI",
        "Outdoor_AI",
        "Crowd_AI",
        "Kitchen_AI",
        "Mountain_AI",
        "Boat_AI",
        "Night_AI",
    ]
    for p, (name, status, job_id) in enumerate(plans):
        created = NOW - (p + 1) * 43200
        plan_id = Plan.insert(
            name=name, status=status, job_id=job_id, created_at=created, updated_at=created
        ).execute()
        changes = []
        for scene_id, _title, _path in SCENES[: 8 - p * 2]:
            for tag in random.sample(tags, 3):
                changes.append(("tags", "add", None, tag, random.uniform(0.31, 0.99)))
            changes.append(("tags", "remove", None, "AI_TagMe", 1.0))
            start = random.randint(5, 600)
            changes.append(
                (
                    "markers",
                    "add",
                    None,
                    {"title": random.choice(tags), "seconds": start, "end_seconds": start + 30},
                    0.8,
                )
            )
            if scene_id in ("104", "106"):
                changes.append(("studio", "set", None, "Home Studio", 0.66))
            for field, action, current, proposed, confidence in changes:
                change_status = "pending"
                if status == "applied":
                    change_status = "applied"
                elif status == "reviewing":
                    change_status = (
                        "approved"
                        if confidence > 0.8
                        else "rejected"
                        if confidence < 0.4
                        else "pending"
                    )
                PlanChange.insert(
                    plan=plan_id,
                    scene_id=scene_id,
                    field=field,
                    action=action,
                    current_value=current,
                    proposed_value=proposed,
                    confidence=round(confidence, 2),
                    status=change_status,
                    created_at=created,
                ).execute()
            changes = []


# --- taking the pictures -----------------------------------------------------------------


async def _settle(seconds: float = 0.4) -> None:
    await asyncio.sleep(seconds)
    QApplication.processEvents()


def _save(widget: QWidget, path: Path) -> None:
    widget.grab().save(str(path))
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


async def take(out: Path) -> None:
    _register_demo_daemons()  # imports the real modules first: the demo jobs replace theirs
    _register_demo_jobs()
    data_dir = Path(tempfile.mkdtemp(prefix="stashdesk-shots-"))
    engine = Engine(data_dir, use_keyring=False)
    services = await engine.start(auto_start=False, control=False)
    store = services.store
    await store.write(_seed_database)
    settings = {
        "stash.url": "http://stash.lan:9999",
        "stash.api_key": "demo-key",
        "qbittorrent.url": "http://seedbox.lan:8080",
        "daemons.restart_backoff_initial": 600,
        "downloads.destination": "/library/incoming",
    }
    for key, value in settings.items():
        await store.write(lambda k=key, v=value: services.settings.set(k, v))
    manager = services.manager
    for name in ("video-analysis", "stash-sync", "plan-applier", "stash-generation"):
        await manager.set_enabled(name, name != "stash-generation", auto_start=True)

    client = LocalClient.of(engine)
    await client.start()
    window = MainWindow(client, data_dir=data_dir, tray_available=False)
    window.resize(1280, 860)
    window.show()
    try:
        for name in ("video-analysis", "stash-sync", "plan-applier", "download-processor"):
            await manager.start(name)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            sync = manager.handle("stash-sync").instance
            analysis = window.card("video-analysis")
            if (
                sync
                and sync.phase == "sleeping"
                and analysis.job_progress
                and analysis.job_progress >= 40
                and manager.handle("download-processor").state == "error"
            ):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(3.2)  # ages read "updated 3 s ago"
        window.daemons_page.tick()
        await _settle()
        _save(window, out / "daemons.png")

        details = window.open_daemon_details("video-analysis", "log")
        details.resize(900, 620)
        await _settle(0.8)
        _save(details, out / "daemon-details.png")
        details.show_tab("config")
        await _settle()
        _save(details, out / "daemon-config.png")
        details.close()

        window.show_page("jobs")
        await _settle(0.8)
        jobs = window.jobs_page
        running = next(
            r for r in range(jobs.model.rowCount()) if jobs.model.row_at(r).status == "running"
        )
        jobs.table.selectRow(running)
        await _settle()
        _save(window, out / "jobs.png")

        analysis_job = window.card("video-analysis").shown_job_id
        dialog = window.open_job(analysis_job)
        await _settle(0.6)
        _save(dialog, out / "job-details.png")
        dialog.close()

        window.open_plan(1)  # the first plan seeded, under review: its changes by scene
        await _settle(1.2)
        _save(window, out / "plans.png")

        window.show_page("history")
        await _settle(1.0)
        _save(window, out / "history.png")

        window.show_page("health")  # the demo's Stash and qBittorrent are not there
        window.health_page.refresh()
        deadline = time.monotonic() + 30
        while not (window.health_page.rows and window.health_page.check_now.isEnabled()):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        await _settle()
        _save(window, out / "health.png")

        dialog = window.open_settings("Stash")
        await _settle()
        from tests.standins.stash_server import StashStandin

        server = StashStandin()
        server.api_key = "demo-key"
        server.start()
        try:
            dialog.editor("stash.url").set_text(server.url)
            finished: list[str] = []
            dialog.check_finished.connect(finished.append)
            dialog.test_connection("Stash")
            while not finished:  # noqa: ASYNC110 - the signal fills the list
                await asyncio.sleep(0.05)
            await _settle()
            _save(dialog, out / "settings.png")
        finally:
            server.stop()
        dialog.close()
    finally:
        window.shutdown()
        await client.close()
        await engine.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Screenshots of every StashDesk page")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    loop.run_until_complete(take(args.out.resolve()))
    loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The job details dialog: a job read through the client, written as labelled rows;
live progress, Cancel while the job is active, its daemon and its plan."""

from __future__ import annotations

import time
import uuid

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocumentFragment
from PySide6.QtWidgets import QLabel

from stashdesk.store.models import Job, Plan
from tests.engine_fixtures import wait_until


async def test_job_details_show_metadata_result_error_and_the_daemon(gui):
    good = await gui.services.runner.submit(
        "TEST_STEPS", {"steps": 2, "delay": 0.01}, created_by="test-tick"
    )
    bad = await gui.services.runner.submit("TEST_STEPS", {"steps": 1, "fail": "disk full"})
    await gui.services.runner.wait(good.id)
    await gui.services.runner.wait(bad.id)

    dialog = gui.window.open_job(good.id)
    await wait_until(lambda: dialog.ended)
    assert "Steps: 2" in dialog.metadata_lines
    assert "Steps: 2" in dialog.result_lines
    assert "completed" in dialog.fields["status"].text()
    assert "Test Tick" in dialog.fields["launched"].text()
    assert not dialog.error.isVisibleTo(dialog)
    assert not dialog.cancel_button.isVisibleTo(dialog)
    dialog._link_activated("daemon:test-tick")
    assert gui.window.daemon_dialogs["test-tick"].isVisible()

    failed = gui.window.open_job(bad.id)
    await wait_until(lambda: failed.job is not None)
    assert failed.error.isVisibleTo(failed)
    assert failed.error.text() == "disk full"
    assert gui.window.open_job(bad.id) is failed  # one dialog per job


async def test_an_analysis_job_links_to_its_plan(gui):
    job_id = str(uuid.uuid4())
    now = time.time()

    def write() -> int:
        Job.insert(
            id=job_id,
            type="ANALYSIS",
            status="completed",
            progress=100.0,
            created_at=now,
            started_at=now,
            finished_at=now + 1,
            result={"scenes": 3},
        ).execute()
        return Plan.insert(
            name="Auto Video Analysis - 2024-05-01",
            status="draft",
            job_id=job_id,
            created_at=now,
            updated_at=now,
        ).execute()

    plan_id = await gui.services.store.write(write)
    dialog = gui.window.open_job(job_id)
    await wait_until(lambda: dialog.plan is not None, message="the plan link")
    assert dialog.plan["id"] == plan_id
    assert f"#{plan_id} Auto Video Analysis" in dialog.fields["plan"].text()
    dialog._link_activated(f"plan:{plan_id}")
    plans = gui.window.plans_page
    assert gui.window.stack.currentWidget() is plans
    await wait_until(lambda: plans.plan is not None and plans.plan.id == plan_id)


def _shown(label: QLabel) -> str:
    if label.textFormat() == Qt.TextFormat.PlainText:
        return label.text()
    return QTextDocumentFragment.fromHtml(label.text()).toPlainText()  # links, colour


def _texts(dialog) -> list[str]:
    """Every text the dialog shows (as read on screen): its labels and the failed items."""
    texts = [_shown(label) for label in dialog.findChildren(QLabel) if label.isVisibleTo(dialog)]
    return texts + [dialog.failed.item(i).text() for i in range(dialog.failed.count())]


async def test_a_jobs_details_are_readable_rows_not_a_json_dump(gui):
    job_id = str(uuid.uuid4())
    now = time.time()
    metadata = {
        "download_dir": "/downloads/done",
        "dry_run": False,
        "hashes": ["abc1", "def2"],
        "options": {"move": True, "keep_days": 3},
    }
    result = {
        "torrents_processed": 3,
        "failed": 1,
        "duration": 75.0,
        "failures": [{"hash": "def2", "name": "Some.Torrent", "reason": "disk full"}],
        "finished_at": now + 75,
    }

    def write() -> None:
        Job.insert(
            id=job_id,
            type="TEST_STEPS",
            status="failed",
            progress=60.0,
            message="3 torrents processed, 1 failed",
            created_by="test-tick",
            created_at=now,
            started_at=now,
            finished_at=now + 75,
            metadata=metadata,
            result=result,
            error="1 torrent could not be moved",
        ).execute()

    await gui.services.store.write(write)
    dialog = gui.window.open_job(job_id[:8])  # a unique prefix is enough
    await wait_until(lambda: dialog.job is not None, message="the job loaded")

    f = dialog.fields
    assert f["id"].text() == job_id
    assert f["type"].text() == "Test steps (TEST_STEPS)"  # by name, the type beside it
    assert "failed" in f["status"].text()
    assert "Test Tick" in f["launched"].text()
    assert f["took"].text() == "1 min 15 s"
    assert f["progress"].text() == "60 %"
    assert f["message"].text() == "3 torrents processed, 1 failed"
    assert f["error"].text() == "1 torrent could not be moved"
    assert dialog.error.isVisibleTo(dialog)
    assert f["started"].text() and f["finished"].text() != "not yet"
    assert dialog.metadata_lines == [
        "Download dir: /downloads/done",
        "Dry run: No",
        "Hashes: abc1, def2",
        "Options: Keep days: 3; Move: Yes",
    ]  # (the engine keeps the keys sorted)
    assert dialog.result_lines[:3] == [
        "Duration: 1 min 15 s",
        "Failed: 1",
        "Failures: 1 item (listed below)",
    ]
    assert dialog.result_lines[3].startswith("Finished at: 20")  # a date, not a number
    assert dialog.result_lines[4] == "Torrents processed: 3"
    assert dialog.failed.isVisibleTo(dialog)
    assert [dialog.failed.item(i).text() for i in range(dialog.failed.count())] == [
        "Some.Torrent (Hash def2): disk full"
    ]
    # The rows are on screen as labels (not only computed), and nothing shown is JSON.
    shown = _texts(dialog)
    assert "Torrents processed:" in shown and "3" in shown and "Options:" in shown
    assert not [text for text in shown if "{" in text or '"' in text or "[" in text]
    assert not dialog.cancel_button.isVisibleTo(dialog)  # it has ended
    # The JSON stays one click away, behind "Raw".
    assert not dialog.raw.isVisibleTo(dialog)
    dialog.raw_button.click()
    assert dialog.raw.isVisibleTo(dialog) and '"torrents_processed": 3' in dialog.raw.toPlainText()


async def test_cancel_is_offered_only_while_the_job_is_active(gui):
    info = await gui.services.runner.submit("TEST_STEPS", {"steps": 2000, "delay": 0.01})
    dialog = gui.window.open_job(info.id)
    await wait_until(
        lambda: dialog.job is not None and dialog.cancel_button.isVisibleTo(dialog),
        message="Cancel offered",
    )
    assert dialog.result_lines == [] and "nothing yet" in _texts(dialog)
    await wait_until(
        lambda: dialog.fields["progress"].text() not in ("0 %", ""), message="live progress"
    )
    assert dialog.fields["message"].text().startswith("Step ")
    dialog.cancel_button.click()
    await wait_until(lambda: dialog.job["status"] == "cancelled", message="cancelled")
    assert not dialog.cancel_button.isVisibleTo(dialog)
    assert "cancelled" in dialog.fields["status"].text()
    assert (await gui.services.runner.get(info.id)).status == "cancelled"


async def test_a_job_that_cannot_be_loaded_is_a_sentence(gui):
    dialog = gui.window.open_job("0000ffff")
    await wait_until(lambda: dialog.load_error is not None, message="the failure")
    assert dialog.heading.text() == "Could not load this job"
    assert dialog.error.isVisibleTo(dialog)
    text = dialog.error.text()
    assert text.startswith("Could not load the job: no job") and "Traceback" not in text
    assert not dialog.cancel_button.isVisibleTo(dialog)

"""The self-check hooks, the PySide6 check and the formatting helpers."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel

from stashdesk.ui import humanize, pyside_check
from stashdesk.ui.selfcheck_support import check_status_reaches_card, check_window


async def test_check_status_reaches_card_on_a_running_window(gui):
    result = await check_status_reaches_card(gui.window, gui.client)
    assert result.ok, result.detail
    assert 0 < result.latency < 0.1
    assert gui.window.card("test-tick").status_text().startswith("Self-check ")


def test_check_window_runs_engine_and_window_and_reports(tmp_path, qapp):
    result = check_window(tmp_path / "data")
    assert result.ok, result.detail
    assert result.latency is not None and result.latency < 0.5
    assert "reached the test-tick card" in result.detail
    assert not (tmp_path / "data" / "engine.json").exists()  # no control socket, stopped


def test_installed_pyside_keeps_its_references(qapp):
    pyside_check.check_pyside()  # raises on an affected PySide6
    assert pyside_check.lost_references() == {"None": 0, "True": 0}
    label = QLabel()
    emitter = _Emitter()
    emitter.fired.connect(lambda _value: None)
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for i in range(5_000):  # an affected PySide6 aborts Python 3.11 within these
        label.setText(str(i))
        emitter.fired.emit(i)
    assert sys.getrefcount(None) >= none_before - 10
    assert sys.getrefcount(True) >= true_before - 10


class _Emitter(QObject):
    fired = Signal(int)


def test_humanize():
    assert humanize.age(0.4) == "just now"
    assert humanize.age(3.9) == "3 s ago"
    assert humanize.age(125) == "2 min ago"
    assert humanize.age(3 * 3600 + 5 * 60) == "3 h 5 min ago"
    assert humanize.age(2 * 86400) == "2 days ago"
    assert humanize.countdown(272) == "in 4 min 32 s"
    assert humanize.countdown(0.2) == "now"
    assert humanize.duration(0.45) == "0.5 s"
    assert humanize.duration(3725) == "1 h 02 min"
    assert humanize.plan_value(["a_AI", "b_AI"]) == "a_AI, b_AI"
    assert (
        humanize.plan_value({"title": "Beach_AI", "seconds": 62, "end_seconds": 75.5})
        == "Beach_AI @ 1:02–1:15"
    )
    assert humanize.plan_value(None) == "—"
    assert humanize.count(100_000, "job") == "100,000 jobs"

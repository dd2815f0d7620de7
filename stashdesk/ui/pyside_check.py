"""Refuse a PySide6 that loses references to ``None`` and ``True``.

PySide6 6.12.0 returns ``None`` from void methods (``setText``, ``QTimer.start``)
and ``True`` from ``SignalInstance.emit`` without taking a reference. On Python
3.11 the interpreter aborts after a few thousand such calls ("Fatal Python
error: bool_dealloc"), i.e. within seconds of a busy window. pyproject.toml
excludes that release; this check catches an environment that has it anyway,
and says what to install instead of crashing later.
"""

from __future__ import annotations

import sys

import PySide6
from PySide6.QtCore import QObject, Signal

PYSIDE_VERSION: str = PySide6.__version__  # named by the self-check too
PROBE_CALLS = 16


class _Probe(QObject):
    ping = Signal()


def lost_references() -> dict[str, int]:
    """How many references a few void calls and emits took from None and True."""
    probe = _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for i in range(PROBE_CALLS):
        probe.setObjectName(f"probe-{i}")  # returns None
        probe.ping.emit()  # returns True
    lost = {
        "None": none_before - sys.getrefcount(None),
        "True": true_before - sys.getrefcount(True),
    }
    probe.deleteLater()
    return lost


def check_pyside() -> None:
    """Raise RuntimeError naming the remedy when the installed PySide6 is affected."""
    if sys.version_info >= (3, 12):
        return  # None and True are immortal there
    if max(lost_references().values()) >= PROBE_CALLS:
        raise RuntimeError(
            f"PySide6 {PYSIDE_VERSION} loses references to None/True and would crash "
            f"Python {sys.version_info.major}.{sys.version_info.minor}; install another "
            f"release: pip install 'PySide6-Essentials<6.12'"
        )

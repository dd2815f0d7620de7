"""Work-arounds for bugs of the installed PySide6, applied once when ``stashdesk.ui``
is imported, and only when the bug is actually present.

``SignalInstance.emit`` in PySide6 6.12 returns ``True`` without taking a new
reference to it. Each ``signal.emit(...)`` from Python therefore takes one
reference away from ``True``; on Python 3.11 (where ``True`` is not immortal)
the count reaches zero after some thousands of emits and the interpreter aborts
with "Fatal Python error: bool_dealloc". The window emits on every status flush,
and qasync emits on every ``call_soon_threadsafe`` (each finished database
write), so a running StashDesk would crash within minutes. The probe below
emits a few times and, if references disappear, wraps ``emit`` to give back
the reference it took. On a fixed PySide6 the probe finds nothing and nothing
is changed.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

from PySide6.QtCore import QObject, Signal, SignalInstance

PROBE_EMITS = 8
_installed = False


class _Probe(QObject):
    ping = Signal()


def emit_loses_a_reference() -> bool:
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(PROBE_EMITS):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    probe.deleteLater()
    return lost >= PROBE_EMITS


def install() -> bool:
    """Patch ``SignalInstance.emit`` if it loses references; returns whether it did."""
    global _installed
    if _installed:
        return True
    if not emit_loses_a_reference():
        return False
    original = SignalInstance.emit
    incref = ctypes.pythonapi.Py_IncRef
    incref.argtypes = [ctypes.py_object]
    incref.restype = None

    def emit(self: SignalInstance, *args: Any) -> Any:
        result = original(self, *args)
        incref(result)  # the reference emit() should have taken
        return result

    SignalInstance.emit = emit  # type: ignore[method-assign]
    _installed = True
    return True

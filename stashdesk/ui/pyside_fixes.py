"""A work-around for a reference-counting bug of the installed PySide6, applied once
when ``stashdesk.ui`` is imported, and only when the bug is present.

PySide6 6.12.0 (as installed here) returns ``None`` from every method that
returns nothing (``setText``, ``setVisible``, ``QTimer.start``...) and ``True``
from ``SignalInstance.emit`` without taking a new reference. Each such call
takes one reference away from the singleton. On Python 3.11, where ``None`` and
``True`` are ordinary objects, the count reaches zero after some tens of
thousands of calls and the interpreter aborts ("Fatal Python error:
none_dealloc" / "bool_dealloc"). A window repainting cards thirty times a
second would crash within the hour.

Python 3.12 made these singletons immortal: their count never moves. The fix
does the same by hand on 3.11: when a probe shows references disappearing, it
adds a very large number to the reference counts of ``None``, ``True`` and
``False``, so lost references can never bring them to zero. Nothing else is
changed, and on an unaffected PySide6 (or Python 3.12+) nothing is done.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

PROBE_CALLS = 16
BOOST = 1 << 56  # far more than any process could lose, far below overflow
_installed = False


class _Probe(QObject):
    ping = Signal()


def lost_references() -> dict[str, int]:
    """How many references a few void calls and emits took from None and True."""
    probe = _Probe()
    none_before, true_before = sys.getrefcount(None), sys.getrefcount(True)
    for i in range(PROBE_CALLS):
        probe.setObjectName(f"probe-{i}")  # returns None
        probe.ping.emit()  # returns True
    lost = {"None": none_before - sys.getrefcount(None),
            "True": true_before - sys.getrefcount(True)}
    probe.deleteLater()
    return lost


def install() -> bool:
    """Make None, True and False immortal if PySide6 loses references to them."""
    global _installed
    if _installed:
        return True
    if sys.version_info >= (3, 12):
        return False  # already immortal
    lost = lost_references()
    if max(lost.values()) < PROBE_CALLS:
        return False
    for singleton in (None, True, False):
        ctypes.c_ssize_t.from_address(id(singleton)).value += BOOST
    _installed = True
    return True

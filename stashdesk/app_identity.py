"""How the operating system names StashDesk's process.

On Windows, a process without an explicit AppUserModelID is grouped on the
taskbar, and its notifications are labelled, as its executable's host ("Python"
from source). Setting the ID before the first window or tray icon exists makes
both say StashDesk. Qt-free; a no-op elsewhere.
"""

from __future__ import annotations

import sys

APP_USER_MODEL_ID = "StashDesk.StashDesk"


def set_app_user_model_id() -> bool:
    """Call before the QApplication exists; True when the ID was set (Windows only)."""
    if sys.platform == "win32":
        import ctypes

        try:
            shell32 = ctypes.windll.shell32
            result = shell32.SetCurrentProcessExplicitAppUserModelID(APP_USER_MODEL_ID)
        except (AttributeError, OSError):  # Windows older than 7, or no shell32
            return False
        return bool(result == 0)  # S_OK
    return False

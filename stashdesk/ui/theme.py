"""The look: resources (icons, style sheet), extra rules for the window, colours.

Files come from ``resources/``, found by ``stashdesk.resources_path`` (a source
checkout, a PyInstaller bundle, or ``$STASHDESK_RESOURCES_DIR``).
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import QApplication, QWidget

from stashdesk.resources_path import APP_ICON_SIZES, TRAY_ICON_SIZES, resources_dir

# Colours shared by painted widgets (the style sheet holds the rest).
GREEN = QColor("#16a34a")
INDIGO = QColor("#4338ca")
SLATE = QColor("#94a3b8")
RED = QColor("#dc2626")
AMBER = QColor("#d97706")
MUTED = QColor("#64748b")
TEXT = QColor("#1f2937")

STATUS_COLOURS = {
    "pending": QColor("#64748b"),
    "running": QColor("#4338ca"),
    "cancelling": QColor("#d97706"),
    "completed": QColor("#15803d"),
    "applied": QColor("#15803d"),
    "approved": QColor("#0f766e"),
    "failed": QColor("#b91c1c"),
    "errored": QColor("#b91c1c"),
    "rejected": QColor("#b91c1c"),
    "cancelled": QColor("#64748b"),
    "interrupted": QColor("#b45309"),
    "skipped": QColor("#b45309"),
    "draft": QColor("#475569"),
    "reviewing": QColor("#4338ca"),
}

# Rules for widgets the shared sheet does not know (sidebar, page headers, banners).
EXTRA_STYLE = """
QListWidget#sidebar {
    background: #ffffff;
    border: none;
    border-right: 1px solid #e4e8ef;
    padding: 10px 8px;
    font-size: 13px;
}
QListWidget#sidebar::item {
    padding: 9px 12px;
    border-radius: 6px;
    margin: 1px 0;
    color: #334155;
}
QListWidget#sidebar::item:hover { background: #f1f4f9; }
QListWidget#sidebar::item:selected { background: #e0e7ff; color: #312893; font-weight: 600; }
QLabel[role="page-title"] { font-size: 20px; font-weight: 700; color: #111827; }
QLabel[role="card-title"] { font-size: 14px; font-weight: 700; color: #111827; }
QLabel[role="section"] { font-size: 13px; font-weight: 700; color: #334155; }
QLabel[role="status"] { font-size: 13px; color: #1f2937; }
QLabel[role="mono"] { font-family: monospace; }
QFrame[banner="info"] {
    background: #eef2ff; border: 1px solid #c7d2fe; border-radius: 8px;
}
QFrame[banner="warning"] {
    background: #fffbeb; border: 1px solid #fde68a; border-radius: 8px;
}
QFrame[banner="error"] {
    background: #fef2f2; border: 1px solid #fecaca; border-radius: 8px;
}
QLineEdit[invalid="true"] { border: 1px solid #dc2626; background: #fffafa; }
QLabel[ok="true"] { color: #15803d; }
QLabel[ok="false"] { color: #b91c1c; }
QScrollArea#cards, QWidget#cardsHost { background: transparent; border: none; }
QScrollArea[flat="true"] { background: transparent; border: none; }
QScrollArea[flat="true"] > QWidget { background: transparent; }
QScrollArea[flat="true"] > QWidget > QWidget { background: transparent; }
"""


def icon(name: str) -> QIcon:
    """An icon from resources/icons: ``app``, ``tray-idle``, ``tray-working``, ``tray-error``."""
    folder = resources_dir() / "icons"
    result = QIcon()
    if name == "app":
        for size in APP_ICON_SIZES:
            path = folder / f"stashdesk-{size}.png"
            if path.exists():
                result.addFile(str(path))
        return result
    for size in TRAY_ICON_SIZES:
        path = folder / f"{name}-{size}.png"
        if path.exists():
            result.addFile(str(path))
    return result


def style_sheet() -> str:
    path = resources_dir() / "style.qss"
    base = path.read_text(encoding="utf-8") if path.exists() else ""
    return base + EXTRA_STYLE


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setStyleSheet(style_sheet())
    app.setWindowIcon(icon("app"))


def set_property(widget: QWidget, name: str, value: object) -> None:
    """Set a dynamic property the style sheet matches on, and re-polish if it changed."""
    if widget.property(name) == value:
        return
    widget.setProperty(name, value)
    style = widget.style()
    style.unpolish(widget)
    style.polish(widget)

"""Can Qt load StashDesk's resources? The Qt half of ``stashdesk --self-check``.

A frozen build can hold every file and still fail to show them: without the
``imageformats`` plugins the SVG and ICO icons load as nothing, without the
``iconengines`` SVG plugin an SVG QIcon is empty, and Qt only says so in a
warning. Each function here loads the real thing and returns
``(ok, detail)``; they need a QApplication (the window check makes one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from PySide6 import __version__ as PYSIDE_VERSION
from PySide6.QtCore import QLibraryInfo, QtMsgType, qInstallMessageHandler, qVersion
from PySide6.QtGui import QIcon, QImageReader
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QPushButton,
    QStyleFactory,
    QVBoxLayout,
    QWidget,
)

from stashdesk.resources_path import (
    APP_ICON_SIZES,
    TRAY_ICON_SIZES,
    TRAY_STATES,
    resource_path,
)
from stashdesk.ui import theme

# Image formats StashDesk's resources use, and the plugin that reads each.
IMAGE_FORMATS = {"png": "built in", "svg": "imageformats/qsvg", "ico": "imageformats/qico"}
Result = tuple[bool, str]


def _app() -> QApplication:
    app = QApplication.instance()
    if not isinstance(app, QApplication):
        raise RuntimeError("not run: no QApplication (the window check did not start Qt)")
    return app


def missing_platform_plugin() -> str | None:
    """Before a QApplication exists: why Qt would not find the chosen platform plugin.

    Qt aborts the process (no exception) when it cannot load the platform plugin,
    so the self-check looks for the file first. None when one is there (or when
    Qt picks its default platform itself).
    """
    wanted = [
        name.split(":")[0].strip() for name in os.environ.get("QT_QPA_PLATFORM", "").split(";")
    ]
    wanted = [name for name in wanted if name]
    if not wanted:
        return None
    folders = [Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)) / "platforms"]
    folders += [
        Path(p) / "platforms" for p in os.environ.get("QT_PLUGIN_PATH", "").split(os.pathsep) if p
    ]
    present = {f.name.lower() for folder in folders if folder.is_dir() for f in folder.iterdir()}
    for name in wanted:
        stems = (f"q{name}.dll", f"libq{name}.so", f"libq{name}.dylib")
        if any(stem in present for stem in stems):
            return None
    return (
        f"no Qt platform plugin for QT_QPA_PLATFORM={os.environ['QT_QPA_PLATFORM']} in "
        f"{', '.join(str(f) for f in folders)} (found: {', '.join(sorted(present)) or 'none'})"
    )


def check_qt_platform() -> Result:
    """The platform plugin in use, and where Qt looks for plugins."""
    app = _app()
    plugins = QLibraryInfo.path(QLibraryInfo.LibraryPath.PluginsPath)
    return True, (
        f"Qt {qVersion()} (PySide6 {PYSIDE_VERSION}) on the {app.platformName()} "
        f"platform; plugins from {plugins}"
    )


def check_image_formats() -> Result:
    _app()
    supported = {bytes(f.data()).decode().lower() for f in QImageReader.supportedImageFormats()}
    missing = [
        f"{name} ({plugin})" for name, plugin in IMAGE_FORMATS.items() if name not in supported
    ]
    if missing:
        return False, f"Qt cannot read {', '.join(missing)}: the plugin is missing"
    return True, f"Qt reads {', '.join(IMAGE_FORMATS)} ({len(supported)} formats in all)"


def _svg_problem(path: Path) -> str | None:
    """Render through the iconengines SVG plugin, as QIcon(svg) does for scalable icons."""
    if not path.is_file():
        return f"{path.name} is missing"
    if QIcon(str(path)).pixmap(48, 48).isNull():
        return f"{path.name} does not render (iconengines/qsvgicon plugin missing?)"
    return None


def _missing_sizes(icon: QIcon, sizes: tuple[int, ...]) -> list[int]:
    have = {s.width() for s in icon.availableSizes()}
    return [size for size in sizes if size not in have]


def check_app_icon() -> Result:
    _app()
    problems = []
    icon = theme.icon("app")
    if icon.isNull():
        problems.append("the PNG icon set is empty")
    elif missing := _missing_sizes(icon, APP_ICON_SIZES):
        problems.append(f"no {', '.join(map(str, missing))} px PNG")
    ico = QImageReader(str(resource_path("icons", "stashdesk.ico")))
    ico_images = ico.imageCount() if ico.canRead() else 0
    if ico_images == 0:
        problems.append(f"stashdesk.ico unreadable ({ico.errorString()})")
    if svg_problem := _svg_problem(resource_path("icons", "stashdesk.svg")):
        problems.append(svg_problem)
    if problems:
        return False, "; ".join(problems)
    return True, (
        f"{len(APP_ICON_SIZES)} PNG sizes, an ICO with {ico_images} images and the SVG load"
    )


def check_tray_icons() -> Result:
    _app()
    problems = []
    for state in TRAY_STATES:
        icon = theme.icon(f"tray-{state}")
        if icon.isNull():
            problems.append(f"tray-{state}: no PNG loads")
        elif missing := _missing_sizes(icon, TRAY_ICON_SIZES):
            problems.append(f"tray-{state}: no {', '.join(map(str, missing))} px PNG")
        if svg_problem := _svg_problem(resource_path("icons", f"tray-{state}.svg")):
            problems.append(svg_problem)
    if problems:
        return False, "; ".join(problems)
    return (
        True,
        f"{', '.join(TRAY_STATES)} load (PNG {'/'.join(map(str, TRAY_ICON_SIZES))} px and SVG)",
    )


@contextmanager
def _qt_warnings() -> Iterator[list[str]]:
    caught: list[str] = []

    def handler(kind: QtMsgType, _context: object, message: str) -> None:
        if kind in (QtMsgType.QtWarningMsg, QtMsgType.QtCriticalMsg):
            caught.append(message)

    previous = qInstallMessageHandler(handler)
    try:
        yield caught
    finally:
        qInstallMessageHandler(previous)


def check_style_sheet() -> Result:
    """The sheet is read, applied, and parses (Qt only warns when it does not)."""
    app = _app()
    path = resource_path("style.qss")
    base = path.read_text(encoding="utf-8")
    if not base.strip():
        return False, f"{path} is empty"
    sheet = theme.style_sheet()
    with _qt_warnings() as warnings:
        theme.apply_theme(app)
        probe = QWidget()  # the sheet is parsed when a widget is polished
        column = QVBoxLayout(probe)
        for widget in (QLabel("probe"), QPushButton("probe")):
            column.addWidget(widget)
            widget.ensurePolished()
        probe.ensurePolished()
        probe.deleteLater()
    problems = [w for w in warnings if "style" in w.lower()]
    if app.styleSheet() != sheet:
        problems.append("the application did not take the style sheet")
    styles = list(QStyleFactory.keys())  # a list of names, not a dict
    if "fusion" not in (name.lower() for name in styles):
        problems.append(f"Qt has no Fusion style (styles: {', '.join(styles)})")
    if problems:
        return False, "; ".join(problems)
    return True, f"{path.name} ({len(base.splitlines())} lines) applied with the Fusion style"


CHECKS = {
    "Qt": check_qt_platform,
    "image formats": check_image_formats,
    "app icon": check_app_icon,
    "tray icons": check_tray_icons,
    "style sheet": check_style_sheet,
}

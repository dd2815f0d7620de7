"""A stand-in for QSystemTrayIcon: the one thing these tests cannot have for real
(the offscreen platform has no tray). It records what the app asks of it."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal


class FakeTray(QObject):
    activated = Signal(object)
    messageClicked = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.icon: Any = None
        self.icons_set: list[Any] = []
        self.tooltip = ""
        self.menu: Any = None
        self.visible = False
        self.messages: list[tuple[str, str, Any]] = []

    def setIcon(self, icon: Any) -> None:
        self.icon = icon
        self.icons_set.append(icon)

    def setToolTip(self, text: str) -> None:
        self.tooltip = text

    def toolTip(self) -> str:
        return self.tooltip

    def setContextMenu(self, menu: Any) -> None:
        self.menu = menu

    def contextMenu(self) -> Any:
        return self.menu

    def show(self) -> None:
        self.visible = True

    def hide(self) -> None:
        self.visible = False

    def isVisible(self) -> bool:
        return self.visible

    def showMessage(self, title: str, message: str, icon: Any = None, msecs: int = 10000) -> None:
        self.messages.append((title, message, icon))

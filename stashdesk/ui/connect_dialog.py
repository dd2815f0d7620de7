""" "Connect to engine...": choose the engine the window shows, this computer's own or one
on another machine (saved connections first), as a remote desktop client would."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from stashdesk.ui.widgets import muted, section

THIS_COMPUTER = "This computer"


class ConnectDialog(QDialog):
    """Signals:
        chosen(object, str): the engine URL (None: this computer) and the key typed
            (empty: the one kept for it, or ask).

    Attributes:
        saved: the list of engines (this computer first, then the saved connections).
    """

    chosen = Signal(object, str)

    def __init__(
        self, saved_urls: list[str], current: str | None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Connect to engine")
        layout = QVBoxLayout(self)
        layout.addWidget(section("Engines"))
        self.saved = QListWidget()
        for url in [None, *saved_urls]:
            item = QListWidgetItem(THIS_COMPUTER if url is None else url)
            item.setData(Qt.ItemDataRole.UserRole, url)
            if url == current:
                item.setText(item.text() + "  (shown now)")
            self.saved.addItem(item)
        self.saved.currentItemChanged.connect(self._picked)
        self.saved.itemDoubleClicked.connect(lambda _i: self.connect_now())
        layout.addWidget(self.saved)
        form = QFormLayout()
        self.url = QLineEdit()
        self.url.setPlaceholderText("https://server:8765 (see `stashdesk api info` there)")
        self.key = QLineEdit()
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("kept from last time, or `stashdesk api key` there")
        form.addRow("Engine URL", self.url)
        form.addRow("API key", self.key)
        layout.addLayout(form)
        layout.addWidget(muted("The daemons of the engine you leave keep running.", wrap=True))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.connect_button = buttons.addButton("Connect", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self.connect_now)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _picked(self, item: QListWidgetItem | None) -> None:
        url = item.data(Qt.ItemDataRole.UserRole) if item is not None else None
        self.url.setText(url or "")
        self.url.setEnabled(url is not None or item is None)
        self.key.setEnabled(url is not None or item is None)

    def connect_now(self) -> None:
        item = self.saved.currentItem()
        local = item is not None and item.data(Qt.ItemDataRole.UserRole) is None
        url = None if local else self.url.text().strip() or None
        if url is None and not local:
            self.url.setFocus()
            return
        self.chosen.emit(url, self.key.text().strip())
        self.accept()

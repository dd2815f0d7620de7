"""A daemon's live log as text: a level filter, search, pause without loss, export."""

from __future__ import annotations

from collections import deque
from pathlib import Path

from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from stashdesk.events import LOG_LEVELS
from stashdesk.ui import humanize
from stashdesk.ui.widgets import muted

LOG_LINES_KEPT = 20000


def format_log_line(at: float, level: str, message: str) -> str:
    return f"{humanize.timestamp(at, now=at)}  {level:<7}  {message}"


class LogView(QWidget):
    """The live log: level filter ("this level and above"), search, pause, export.

    Attributes:
        entries: every line kept (at, level, message), oldest first.
        paused_buffer: lines that arrived while paused, shown on resume.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entries: deque[tuple[float, str, str]] = deque(maxlen=LOG_LINES_KEPT)
        self.paused_buffer: list[tuple[float, str, str]] = []
        layout = QVBoxLayout(self)
        bar = QHBoxLayout()
        self.level = QComboBox()
        for level in LOG_LEVELS:
            self.level.addItem(f"{level.capitalize()} and above", level)
        self.level.setCurrentIndex(LOG_LEVELS.index("INFO"))
        self.level.currentIndexChanged.connect(self.refilter)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search the log")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.refilter)
        self.pause = QPushButton("Pause")
        self.pause.setCheckable(True)
        self.pause.toggled.connect(self._pause_toggled)
        self.export = QPushButton("Export…")
        self.export.clicked.connect(self._export)
        bar.addWidget(self.level)
        bar.addWidget(self.search, 1)
        bar.addWidget(self.pause)
        bar.addWidget(self.export)
        layout.addLayout(bar)
        self.buffered = muted()
        layout.addWidget(self.buffered)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setProperty("role", "mono")
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setMaximumBlockCount(LOG_LINES_KEPT)
        layout.addWidget(self.text, 1)
        self._dialog: QFileDialog | None = None
        self._update_buffered()

    @property
    def paused(self) -> bool:
        return self.pause.isChecked()

    def passes(self, level: str, message: str) -> bool:
        minimum = LOG_LEVELS.index(self.level.currentData())
        rank = LOG_LEVELS.index(level) if level in LOG_LEVELS else len(LOG_LEVELS)
        needle = self.search.text().strip().lower()
        return rank >= minimum and (not needle or needle in message.lower())

    def visible_lines(self) -> list[str]:
        return [format_log_line(*e) for e in self.entries if self.passes(e[1], e[2])]

    def set_entries(self, entries: list[tuple[float, str, str]]) -> None:
        self.entries.clear()
        self.entries.extend(entries)
        self.refilter()

    def add(self, entries: list[tuple[float, str, str]]) -> None:
        if self.paused:
            self.paused_buffer.extend(entries)
            self._update_buffered()
            return
        self._append(entries)

    def _append(self, entries: list[tuple[float, str, str]]) -> None:
        self.entries.extend(entries)
        lines = [format_log_line(*e) for e in entries if self.passes(e[1], e[2])]
        if lines:
            scrollbar = self.text.verticalScrollBar()
            at_end = scrollbar.value() >= scrollbar.maximum() - 2
            self.text.appendPlainText("\n".join(lines))
            if at_end:
                scrollbar.setValue(scrollbar.maximum())

    def refilter(self) -> None:
        self.text.setPlainText("\n".join(self.visible_lines()))
        self.text.verticalScrollBar().setValue(self.text.verticalScrollBar().maximum())

    def _pause_toggled(self, paused: bool) -> None:
        self.pause.setText("Resume" if paused else "Pause")
        if not paused and self.paused_buffer:
            buffered, self.paused_buffer = self.paused_buffer, []
            self._append(buffered)
        self._update_buffered()

    def _update_buffered(self) -> None:
        n = len(self.paused_buffer)
        self.buffered.setText(
            f"Paused: {humanize.count(n, 'new line')} held back; Resume shows them."
            if self.paused
            else ""
        )
        self.buffered.setVisible(self.paused)

    def _export(self) -> None:
        dialog = QFileDialog(self, "Export the log")
        dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
        dialog.setDefaultSuffix("log")
        dialog.selectFile("stashdesk-daemon.log")
        dialog.fileSelected.connect(self.export_to)
        self._dialog = dialog
        dialog.open()

    def export_to(self, path: str) -> int:
        """Write the lines shown (level and search applied); returns how many."""
        lines = self.visible_lines()
        Path(path).write_text("\n".join(lines) + ("\n" if lines else ""), encoding="utf-8")
        return len(lines)

"""Small widgets shared by the pages: the pulse, the switch, badges, banners, tables."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from PySide6.QtCore import (
    QAbstractTableModel,
    QModelIndex,
    QPersistentModelIndex,
    QRectF,
    QSize,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor, QPainter, QPaintEvent
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractItemView,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTableView,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from stashdesk.ui import theme


class PulseDot(QWidget):
    """A dot that pulses while its daemon works and rests while it sleeps.

    Modes: ``working`` (green, pulsing), ``waiting`` (indigo, pulsing: a job of
    the daemon runs), ``sleeping`` (slate, still), ``None`` (hidden).

    Attributes:
        mode: the current mode.
    """

    COLOURS: ClassVar[dict[str, QColor]] = {
        "working": theme.GREEN,
        "waiting": theme.INDIGO,
        "sleeping": theme.SLATE,
    }
    PERIOD = 1.4  # seconds per pulse

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode: str | None = None
        self.setFixedSize(18, 18)
        self._timer = QTimer(self)
        self._timer.setInterval(50)
        self._timer.timeout.connect(self.update)
        self.setVisible(False)

    def colour(self) -> QColor:
        return QColor(self.COLOURS.get(self.mode or "", theme.SLATE))

    def set_mode(self, mode: str | None) -> None:
        if mode == self.mode:
            return
        self.mode = mode
        self.setVisible(mode is not None)
        self.setToolTip(
            {
                "working": "Working",
                "waiting": "Waiting for its job",
                "sleeping": "Sleeping until the next check",
            }.get(mode or "", "")
        )
        if mode in ("working", "waiting"):
            self._timer.start()
        else:
            self._timer.stop()
        self.update()

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        colour = self.colour()
        centre = QRectF(self.rect()).center()
        if self._timer.isActive():
            phase = (time.monotonic() % self.PERIOD) / self.PERIOD
            halo = QColor(colour)
            halo.setAlphaF(0.35 * (1 - phase))
            radius = 4.5 + 4.0 * phase
            painter.setBrush(halo)
            painter.drawEllipse(centre, radius, radius)
        painter.setBrush(colour)
        painter.drawEllipse(centre, 4.5, 4.5)


class ToggleSwitch(QAbstractButton):
    """A checkable on/off switch (a pill with a knob)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setCheckable(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(36, 20)

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        track = QRectF(1, 2, self.width() - 2, self.height() - 4)
        on = self.isChecked()
        colour = QColor("#4338ca") if on else QColor("#cbd5e1")
        if not self.isEnabled():
            colour.setAlphaF(0.5)
        painter.setBrush(colour)
        painter.drawRoundedRect(track, track.height() / 2, track.height() / 2)
        knob = track.height() - 4
        x = track.right() - knob - 2 if on else track.left() + 2
        painter.setBrush(QColor("#ffffff"))
        painter.drawEllipse(QRectF(x, track.top() + 2, knob, knob))


def badge(text: str, kind: str) -> QLabel:
    """A state pill: kind is running, stopped or error (see the style sheet)."""
    label = QLabel(text)
    label.setProperty("badge", kind)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    return label


def set_badge(label: QLabel, text: str, kind: str) -> None:
    label.setText(text)
    theme.set_property(label, "badge", kind)


def tag(text: str) -> QLabel:
    label = QLabel(text)
    label.setProperty("tag", "job")
    return label


def muted(text: str = "", *, wrap: bool = False) -> QLabel:
    label = QLabel(text)
    label.setProperty("muted", True)
    label.setWordWrap(wrap)
    return label


def role_label(text: str, role: str) -> QLabel:
    """A label the style sheet styles by its ``role`` (page-title, section)."""
    label = QLabel(text)
    label.setProperty("role", role)
    return label


def page_title(text: str) -> QLabel:
    return role_label(text, "page-title")


PAGE_SPACING = 12  # between the parts of a page, and inside its header


class PageHeader(QWidget):
    """The head of a page: its title, a muted line under it, and its actions on the right
    (buttons, filters), aligned with the bottom of the line.

    Attributes:
        title: the title label.
        subtitle: the muted line (pages keep their summary there).
    """

    def __init__(
        self,
        title: str,
        subtitle: str = "",
        *,
        wrap: bool = False,
        actions: Iterable[QWidget] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._row = QHBoxLayout(self)
        self._row.setContentsMargins(0, 0, 0, 0)
        self._row.setSpacing(PAGE_SPACING)
        titles = QVBoxLayout()
        self.title = page_title(title)
        self.subtitle = muted(subtitle, wrap=wrap)
        titles.addWidget(self.title)
        titles.addWidget(self.subtitle)
        self._row.addLayout(titles, 1)
        for widget in actions:
            self.add_action(widget)

    def add_action(self, widget: QWidget) -> None:
        """Put ``widget`` after the actions already there."""
        self._row.addWidget(widget, 0, Qt.AlignmentFlag.AlignBottom)


def page_layout(page: QWidget, header: PageHeader) -> QVBoxLayout:
    """The column of a page: its header on top, then what the caller adds."""
    layout = QVBoxLayout(page)
    layout.setContentsMargins(24, 20, 24, 12)
    layout.setSpacing(PAGE_SPACING)
    layout.addWidget(header)
    return layout


def section(text: str) -> QLabel:
    return role_label(text, "section")


def editor_section(widget: QWidget, title: str, intro: str) -> QVBoxLayout:
    """The column of a settings editor (notification targets, tag mapping): a section
    title and a sentence saying what it is for, then what the caller adds."""
    column = QVBoxLayout(widget)
    column.setContentsMargins(0, 12, 0, 0)
    column.addWidget(section(title))
    column.addWidget(muted(intro, wrap=True))
    return column


def editor_table(headers: Sequence[str], *, stretch: int | None = None) -> QTableWidget:
    """The read-only, row-selecting table of a settings editor; ``stretch``: the column
    that takes the spare width (None: all share it)."""
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    if stretch is None:
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    else:
        table.horizontalHeader().setSectionResizeMode(stretch, QHeaderView.ResizeMode.Stretch)
    table.setMinimumHeight(140)
    return table


def button(
    text: str, *, primary: bool = False, danger: bool = False, tooltip: str = ""
) -> QPushButton:
    result = QPushButton(text)
    if primary:
        result.setProperty("primary", True)
    if danger:
        result.setProperty("danger", True)
    if tooltip:
        result.setToolTip(tooltip)
    return result


def ask(
    parent: QWidget,
    title: str,
    text: str,
    answers: Sequence[tuple[str, QMessageBox.ButtonRole]],
    answered: Callable[[int | None], None],
) -> QMessageBox:
    """Open a question with one button per answer (the first is the default) and call
    ``answered`` with the index of the one pressed (None: none of them).

    Opened, not exec(): the engine keeps running while the question waits."""
    box = QMessageBox(
        QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, parent
    )
    buttons = [box.addButton(label, role) for label, role in answers]
    box.setDefaultButton(buttons[0])

    def finished(_result: int) -> None:
        clicked = box.clickedButton()
        answered(next((i for i, b in enumerate(buttons) if b is clicked), None))

    box.finished.connect(finished)
    box.open()
    return box


class Banner(QFrame):
    """A coloured box with a sentence (info, warning or error) and an optional button.

    Signals:
        action_clicked(): the button was pressed.
    """

    action_clicked = Signal()

    def __init__(
        self,
        kind: str = "info",
        text: str = "",
        action: str | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setProperty("banner", kind)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        self.label = QLabel(text)
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label, 1)
        self.button: QPushButton | None = None
        if action:
            self.button = QPushButton(action)
            self.button.clicked.connect(self.action_clicked)
            layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignTop)

    def set_kind(self, kind: str) -> None:
        theme.set_property(self, "banner", kind)

    def set_action(self, text: str | None) -> None:
        """Show the button with ``text``, or hide it (None)."""
        if self.button is None:
            return
        self.button.setVisible(bool(text))
        if text:
            self.button.setText(text)

    def set_text(self, text: str) -> None:
        self.label.setText(text)


def flat_scroll(content: QWidget) -> QScrollArea:
    """A frameless scroll area that shows the dialog's background, around ``content``."""
    scroll = QScrollArea()
    scroll.setProperty("flat", True)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QScrollArea.Shape.NoFrame)
    scroll.setWidget(content)
    return scroll


class ColumnsModel(QAbstractTableModel):
    """A read-only table model with fixed ``COLUMNS``; subclasses count the rows
    (``row_count``), give the one at a number (``row_at``) and say what a ``cell`` of
    it shows for a role (None: nothing)."""

    COLUMNS: ClassVar[tuple[str, ...]] = ()

    def row_count(self) -> int:
        raise NotImplementedError

    def row_at(self, row: int) -> Any:
        raise NotImplementedError

    def cell(self, row: Any, column: int, role: int) -> Any:
        raise NotImplementedError

    def data(
        self,
        index: QModelIndex | QPersistentModelIndex,
        role: int = Qt.ItemDataRole.DisplayRole,
    ) -> Any:
        if not index.isValid():
            return None
        return self.cell(self.row_at(index.row()), index.column(), role)

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.row_count()

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.COLUMNS[section]
        return None


class RowsModel(ColumnsModel):
    """A ColumnsModel over a list of rows replaced as a whole (``set_rows``)."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.rows: list[Any] = []

    def set_rows(self, rows: list[Any]) -> None:
        self.beginResetModel()
        self.rows = rows
        self.endResetModel()

    def row_count(self) -> int:
        return len(self.rows)

    def row_at(self, row: int) -> Any:
        return self.rows[row]


def data_table(model: QAbstractTableModel, *, row_height: int = 28) -> QTableView:
    """A read-only, row-selecting table in the app's look."""
    table = QTableView()
    table.setModel(model)
    table.setAlternatingRowColors(True)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.verticalHeader().setVisible(False)
    table.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    table.verticalHeader().setDefaultSectionSize(row_height)
    table.horizontalHeader().setHighlightSections(False)
    return table

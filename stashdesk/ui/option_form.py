"""A form built from declared ``Option``s: the daemon configuration tab and the
settings dialog are both made of these.

Each option gets an editor that fits its type (a check box for a switch, a
list for choices, a password field for a secret, a line for the rest), its
description under it, and an error line. Values are checked with
``Option.validate`` as they are typed and again before anything is saved, so
the form never hands on a value the engine would refuse.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from stashdesk.options import Option, OptionError
from stashdesk.ui import theme
from stashdesk.ui.widgets import muted


def value_to_text(option: Option, value: Any) -> str:
    """How a value is written in its editor."""
    if value is None:
        return ""
    if option.type == "list":
        items = list(value)
        if all(isinstance(v, str) and "," not in v for v in items):
            return ", ".join(items)
        return json.dumps(items, ensure_ascii=False)
    if option.type == "dict":
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if option.type == "float" and isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def text_to_value(option: Option, text: str) -> Any:
    """The editor's text as the option would take it (validation follows)."""
    if option.type == "list":
        stripped = text.strip()
        if stripped.startswith("["):
            return option.parse(stripped)
        return [part.strip() for part in stripped.split(",") if part.strip()]
    if option.type == "dict":
        return option.parse(text.strip() or "{}")
    return text


WORDS = {"url": "URL", "api": "API", "id": "ID", "ai": "AI"}


def title_of(option: Option) -> str:
    """The option's title with acronyms written as such ("Api key" -> "API key")."""
    if option.label:
        return option.label
    words = option.title.split(" ")
    return " ".join(WORDS.get(w.lower(), w) for w in words)


class OptionEditor:
    """The widgets of one option: its editor, description and error line."""

    def __init__(self, option: Option, on_change: Any) -> None:
        self.option = option
        self.container = QWidget()
        column = QVBoxLayout(self.container)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        self.check: QCheckBox | None = None
        self.combo: QComboBox | None = None
        self.line: QLineEdit | None = None
        if option.type == "bool":
            self.check = QCheckBox()
            self.check.toggled.connect(on_change)
            row.addWidget(self.check)
            row.addStretch(1)
        elif option.choices:
            self.combo = QComboBox()
            for choice in option.choices:
                self.combo.addItem(str(choice), choice)
            self.combo.currentIndexChanged.connect(on_change)
            row.addWidget(self.combo)
            row.addStretch(1)
        else:
            self.line = QLineEdit()
            self.line.setObjectName(f"edit-{option.key}")
            self.line.textEdited.connect(on_change)
            if option.secret:
                self.line.setEchoMode(QLineEdit.EchoMode.Password)
                self.line.setPlaceholderText("(not set)")
                reveal = QAction("Show", self.line)
                reveal.setCheckable(True)
                reveal.setToolTip("Show or hide the value")
                reveal.toggled.connect(
                    lambda on: self.line.setEchoMode(
                        QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password
                    )
                )
                self.line.addAction(reveal, QLineEdit.ActionPosition.TrailingPosition)
            elif option.type == "list":
                self.line.setPlaceholderText("comma-separated, or a JSON list")
            elif option.type == "url" and option.default:
                self.line.setPlaceholderText(str(option.default))
            row.addWidget(self.line, 1)
            if option.type == "path":
                browse = QPushButton("Browse…")
                browse.clicked.connect(self._browse)
                row.addWidget(browse)
        column.addLayout(row)
        if option.description:
            description = muted(option.description, wrap=True)
            column.addWidget(description)
        self.error = QLabel()
        self.error.setProperty("error", True)
        self.error.setWordWrap(True)
        self.error.setVisible(False)
        column.addWidget(self.error)
        self._dialog: QFileDialog | None = None
        # An address never set shows as its placeholder, not as a value that looks
        # configured; left empty it stays the default.
        self.unset = False

    @property
    def widget(self) -> QWidget:
        return self.check or self.combo or self.line  # type: ignore[return-value]

    def set_value(self, value: Any, *, is_set: bool = True) -> None:
        self.unset = not is_set and self.option.type == "url" and self.line is not None
        if self.unset:
            assert self.line is not None
            self.line.setText("")
        elif self.check is not None:
            self.check.blockSignals(True)
            self.check.setChecked(bool(value))
            self.check.blockSignals(False)
        elif self.combo is not None:
            index = self.combo.findData(value)
            self.combo.blockSignals(True)
            self.combo.setCurrentIndex(max(0, index))
            self.combo.blockSignals(False)
        elif self.line is not None:
            self.line.setText(value_to_text(self.option, value))
        self.show_error(None)

    def raw(self) -> Any:
        if self.check is not None:
            return self.check.isChecked()
        if self.combo is not None:
            return self.combo.currentData()
        assert self.line is not None
        if self.unset and not self.line.text().strip():
            return self.option.default
        return text_to_value(self.option, self.line.text())

    def set_text(self, text: str) -> None:
        """Type ``text`` into a line editor (tests, the self-check)."""
        assert self.line is not None, f"{self.option.key} is not edited as text"
        self.line.setText(text)
        self.line.textEdited.emit(text)

    def validated(self) -> Any:
        """The value, checked by its option; raises OptionError."""
        return self.option.validate(self.raw())

    def show_error(self, message: str | None) -> None:
        self.error.setText(message or "")
        self.error.setVisible(bool(message))
        if self.line is not None:
            theme.set_property(self.line, "invalid", bool(message))

    def _browse(self) -> None:
        # open() rather than exec(): no nested event loop under the engine's tasks.
        dialog = QFileDialog(self.container, f"Choose {self.option.title.lower()}")
        dialog.setFileMode(QFileDialog.FileMode.Directory)
        dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
        if self.line is not None and self.line.text():
            dialog.setDirectory(self.line.text())
        dialog.fileSelected.connect(lambda path: self.set_text(path))
        self._dialog = dialog
        dialog.open()


class OptionForm(QWidget):
    """A form over ``options`` holding ``values``.

    Signals:
        edited(): any value was changed by the user.

    Attributes:
        editors: OptionEditor by option key.
        initial: the values the form was (last) loaded with.
    """

    edited = Signal()

    def __init__(
        self, options: list[Option], values: dict[str, Any], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.options = list(options)
        self.editors: dict[str, OptionEditor] = {}
        self.initial: dict[str, Any] = {}
        form = QFormLayout(self)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignTop)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(12)
        form.setHorizontalSpacing(16)
        for option in self.options:
            editor = OptionEditor(option, lambda *_a, key=option.key: self._changed(key))
            self.editors[option.key] = editor
            label = QLabel(title_of(option) + ("  ⟳" if option.restart_required else ""))
            label.setToolTip(
                option.key + ("\nTakes effect after a restart" if option.restart_required else "")
            )
            form.addRow(label, editor.container)
        self.set_values(values)

    def set_values(self, values: dict[str, Any], unset: Any = ()) -> None:
        """Load ``values``; keys in ``unset`` were never set (they show their default as
        a placeholder where the editor has one)."""
        unset = set(unset)
        for option in self.options:
            value = values.get(option.key, option.default)
            self.initial[option.key] = value
            self.editors[option.key].set_value(value, is_set=option.key not in unset)

    def dirty(self) -> bool:
        """Whether anything differs from what was loaded (an invalid value counts)."""
        for key, editor in self.editors.items():
            try:
                if editor.validated() != self.initial.get(key):
                    return True
            except OptionError:
                return True
        return False

    def _changed(self, key: str) -> None:
        editor = self.editors[key]
        try:
            editor.validated()
        except OptionError as exc:
            editor.show_error(str(exc))
        else:
            editor.show_error(None)
        self.edited.emit()

    def validate(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(every valid value by key, every error message by key); shows the errors."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for key, editor in self.editors.items():
            try:
                values[key] = editor.validated()
            except OptionError as exc:
                errors[key] = str(exc)
                editor.show_error(str(exc))
            else:
                editor.show_error(None)
        return values, errors

    def changes(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(the valid values that differ from ``initial``, every error message)."""
        values, errors = self.validate()
        changed = {k: v for k, v in values.items() if v != self.initial.get(k)}
        return changed, errors

    def restart_required(self, keys: Any) -> list[Option]:
        return [o for o in self.options if o.key in set(keys) and o.restart_required]

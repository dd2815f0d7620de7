"""Settings > Analysis: the tag mapping, AI tag -> Stash tag (or ignored), editable and
importable/exportable as CSV (the AI Tagger's and the AI Overhaul's files too), all
through the engine API - the same table as ``stashdesk analysis map``."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QTableWidgetItem,
    QWidget,
)

from stashdesk.engine_client.errors import ClientError
from stashdesk.ui.context import UiContext
from stashdesk.ui.widgets import button, editor_section, editor_table

IGNORED = "(ignored)"


class TagMappingEditor(QWidget):
    """Attributes:
    mappings: the rows shown (``ai_tag``, ``stash_tag``, ``ignore``).
    ai_tag, stash_tag: the fields a new or changed mapping is typed in.
    report: the last outcome, as a sentence.
    """

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.mappings: list[dict[str, Any]] = []
        self._file_dialog: QFileDialog | None = None
        column = editor_section(
            self,
            "Tag mapping",
            "With the map tag policy, an AI tag becomes the Stash tag it is "
            "mapped to; an ignored one is never proposed.",
        )
        self.table = editor_table(("AI tag", "Stash tag"))
        self.table.itemSelectionChanged.connect(self._picked)
        column.addWidget(self.table)
        row = QHBoxLayout()
        self.ai_tag = QLineEdit()
        self.ai_tag.setPlaceholderText("AI tag")
        self.stash_tag = QLineEdit()
        self.stash_tag.setPlaceholderText("Stash tag")
        self.map_button = button("Map")
        self.ignore_button = button("Ignore")
        self.remove_button = button("Remove", danger=True)
        self.import_button = button("Import CSV…")
        self.export_button = button("Export CSV…")
        self.map_button.clicked.connect(self.map_tag)
        self.ignore_button.clicked.connect(self.ignore_tag)
        self.remove_button.clicked.connect(self.remove_tag)
        self.import_button.clicked.connect(lambda: self._choose_file(save=False))
        self.export_button.clicked.connect(lambda: self._choose_file(save=True))
        for widget in (
            self.ai_tag,
            self.stash_tag,
            self.map_button,
            self.ignore_button,
            self.remove_button,
            self.import_button,
            self.export_button,
        ):
            row.addWidget(widget)
        column.addLayout(row)
        self.report = QLabel()
        self.report.setWordWrap(True)
        column.addWidget(self.report)
        self.load()

    def load(self) -> None:
        self.ctx.tasks.spawn(
            self.ctx.client.ops.list_tag_mappings(), "Loading the tag mapping", self.show_mappings
        )

    def show_mappings(self, mappings: list[dict[str, Any]]) -> None:
        self.mappings = mappings
        self.table.setRowCount(len(mappings))
        for number, mapping in enumerate(mappings):
            self.table.setItem(number, 0, QTableWidgetItem(mapping["ai_tag"]))
            self.table.setItem(
                number,
                1,
                QTableWidgetItem(
                    IGNORED if mapping.get("ignore") else mapping.get("stash_tag") or ""
                ),
            )

    def _picked(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            mapping = self.mappings[rows[0].row()]
            self.ai_tag.setText(mapping["ai_tag"])
            self.stash_tag.setText("" if mapping.get("ignore") else mapping.get("stash_tag") or "")

    def _run(self, call: Any, done: str) -> None:
        async def run() -> None:
            try:
                await call
            except ClientError as exc:
                self.report.setText(f"Not changed: {exc}")
                return
            self.report.setText(done)
            self.show_mappings(await self.ctx.client.ops.list_tag_mappings())

        self.ctx.tasks.spawn(run(), "Changing the tag mapping")

    def map_tag(self) -> None:
        ai, stash = self.ai_tag.text().strip(), self.stash_tag.text().strip()
        self._run(self.ctx.client.ops.set_tag_mapping(ai, stash), f"{ai} -> {stash}")

    def ignore_tag(self) -> None:
        ai = self.ai_tag.text().strip()
        self._run(self.ctx.client.ops.ignore_ai_tag(ai), f"{ai} is ignored")

    def remove_tag(self) -> None:
        ai = self.ai_tag.text().strip()
        self._run(self.ctx.client.ops.remove_tag_mapping(ai), f"{ai} is no longer mapped")

    # --- CSV -------------------------------------------------------------------------------------

    def _choose_file(self, save: bool) -> QFileDialog:
        # open() rather than exec(): no nested event loop under the engine's tasks.
        dialog = QFileDialog(
            self,
            "Export the tag mapping" if save else "Import a tag mapping",
            "",
            "CSV files (*.csv);;All files (*)",
        )
        dialog.setAcceptMode(
            QFileDialog.AcceptMode.AcceptSave if save else QFileDialog.AcceptMode.AcceptOpen
        )
        dialog.fileSelected.connect(self.export_to if save else self.import_from)
        self._file_dialog = dialog
        dialog.open()
        return dialog

    def export_to(self, path: str) -> None:
        async def run() -> None:
            text = (await self.ctx.client.ops.export_tag_mappings())["csv"]
            await asyncio.to_thread(Path(path).write_text, text, encoding="utf-8")
            self.report.setText(f"Exported {len(self.mappings):,} mappings to {path}")

        self.ctx.tasks.spawn(run(), "Exporting the tag mapping")

    def import_from(self, path: str) -> None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.report.setText(f"Could not read {path}: {exc}")
            return
        self._run(self.ctx.client.ops.import_tag_mappings(text), f"Imported {path}")

"""The Health page, as Sonarr's System > Health: every check the engine runs, failing
ones first, each with its remedy and a button to the setting concerned.

The engine runs the checks at start-up, every few hours and after a setting
changes (``HealthChecked`` events bring the new results); "Check now" asks for a
fresh run. The same checks are ``stashdesk health [--json]``.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from stashdesk.timestamps import from_iso
from stashdesk.ui import humanize
from stashdesk.ui.context import UiContext
from stashdesk.ui.daemon_health import fix_label, settings_group
from stashdesk.ui.widgets import Banner, PageHeader, button, flat_scroll, page_layout

MARKS = {True: ("✔", "#15803d"), False: ("✘", "#b91c1c"), None: ("–", "#64748b")}


NAMES = {
    "qbittorrent": "qBittorrent",
    "ffprobe": "ffprobe",
    "video": "Video-tag",
    "tag": "",
    "stash": "Stash",
}


def check_title(check: str) -> str:
    """ "qbittorrent_login" -> "qBittorrent login" (check names are identifiers)."""
    words = [NAMES.get(word, word) for word in check.split("_")]
    text = " ".join(word for word in words if word)
    return text if text[:1] in "qf" else text[:1].upper() + text[1:]


def remedy_text(check: dict[str, Any]) -> str | None:
    """The remedy, unless the message already says what to do (service errors do)."""
    remedy, setting = check.get("remedy"), check.get("setting")
    if not remedy or (setting and setting in str(check.get("message"))):
        return None
    return str(remedy)


class HealthPage(QWidget):
    """Attributes:
    checks: the results shown (``check``, ``ok``, ``message``, ``remedy``,
        ``setting``), failing first.
    rows: one widget per check, by check name.
    checked_at: when the engine ran them (POSIX seconds, None before any run).
    """

    def __init__(self, ctx: UiContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.checks: list[dict[str, Any]] = []
        self.rows: dict[str, Banner | QLabel] = {}
        self.checked_at: float | None = None

        self.check_now = button("Check now", primary=True)
        self.check_now.clicked.connect(self.refresh)
        self.header = PageHeader("Health", "Not checked yet", actions=(self.check_now,))
        self.summary = self.header.subtitle
        layout = page_layout(self, self.header)

        self.host = QWidget()
        self.list = QVBoxLayout(self.host)
        self.list.setContentsMargins(0, 0, 0, 0)
        self.list.setSpacing(8)
        self.list.addStretch(1)
        layout.addWidget(flat_scroll(self.host), 1)

        ctx.bridge.health_checked.connect(self._on_checked)
        ctx.bridge.connection_changed.connect(
            lambda event: self.load() if event.connected and event.resynced else None
        )
        self._loaded = False

    def showEvent(self, event: QShowEvent) -> None:
        # Loaded when first shown: the first answer may run the checks (network calls),
        # which nobody should wait for unless they look at this page.
        super().showEvent(event)
        if not self._loaded:
            self._loaded = True
            self.load()

    def _on_checked(self, event: Any) -> None:
        self.checked_at = event.at
        self.show_checks(list(event.checks))

    def load(self, refresh: bool = False) -> None:
        """Ask the engine for the last results (``refresh``: run the checks now)."""
        self.check_now.setEnabled(False)
        if refresh:
            self.summary.setText("Checking…")

        def done(answer: dict[str, Any]) -> None:
            self.checked_at = from_iso(answer.get("checked_at"))
            self.show_checks(answer["checks"])

        task = self.ctx.tasks.spawn(
            self.ctx.client.ops.health(refresh=refresh), "Running the health checks", done
        )
        task.add_done_callback(lambda _t: self.check_now.setEnabled(True))

    def refresh(self) -> None:
        self._loaded = True
        self.load(refresh=True)

    def show_checks(self, checks: list[dict[str, Any]]) -> None:
        order = {False: 0, None: 1, True: 2}
        self.checks = sorted(checks, key=lambda c: order.get(c.get("ok"), 1))
        for widget in self.rows.values():
            widget.deleteLater()
        self.rows.clear()
        for position, check in enumerate(self.checks):
            row = self._row(check)
            self.rows[check["check"]] = row
            self.list.insertWidget(position, row)
        failing = sum(1 for c in self.checks if c.get("ok") is False)
        text = (
            f"{humanize.count(failing, 'check')} failing"
            if failing
            else f"All {humanize.count(len(self.checks), 'check')} pass"
        )
        if self.checked_at is not None:
            text += f" · checked {humanize.timestamp(self.checked_at)}"
        self.summary.setText(text)

    def _row(self, check: dict[str, Any]) -> Banner | QLabel:
        ok = check.get("ok")
        if ok is False:
            box = Banner("error", action="Fix")
            mark, colour = MARKS[False]
            text = f"{mark} {check_title(check['check'])}: {check['message']}"
            remedy = remedy_text(check)
            if remedy:
                text += f"\n{remedy}"
            box.set_text(text)
            box.label.setTextFormat(Qt.TextFormat.PlainText)
            setting = check.get("setting")
            box.set_action(fix_label(setting))
            box.action_clicked.connect(
                lambda s=setting, t=text: self.ctx.nav.open_settings(settings_group(s), t)
            )
            return box
        mark, colour = MARKS.get(ok, MARKS[None])
        label = QLabel(
            f'<span style="color:{colour}"><b>{mark}</b></span> '
            f"<b>{check_title(check['check'])}</b>: {check['message']}"
        )
        label.setWordWrap(True)
        label.setContentsMargins(12, 4, 12, 4)
        return label

    def row_text(self, check: str) -> str:
        """What the row of ``check`` says (tests)."""
        row = self.rows[check]
        return row.label.text() if isinstance(row, Banner) else row.text()

"""The review screen of a plan: its proposed changes grouped by scene.

Each scene is a card with its cover, title, studio and duration, its changes and what
the tag rules left out, and buttons that approve or reject the whole scene or one
tag's changes in it; above the cards, one tag's changes across the plan. The data is
``ops.plan_review`` (scenes a page at a time); the buttons ask the page to call
``ops.review_plan`` with the matching selectors (``scene_ids``, ``tag``).

Covers come from ``ops.scene_cover`` (base64, so a remote engine serves them too),
only for the cards Qt paints (those on screen), once per scene: ``CoverCache`` keeps the
decoded pixmaps for as long as the page lives. Until a cover arrives, or when the
engine has none, the card shows a grey placeholder.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QKeySequence, QPainter, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from stashdesk.engine_client.errors import ClientError
from stashdesk.ui import humanize, theme
from stashdesk.ui.widgets import button, muted

COVER_SIZE = QSize(192, 108)
PLACEHOLDER_GREY = QColor("#d5d9e0")
SCENES_PAGE = 50  # scenes asked for per plan_review call
CHANGES_SHOWN = 12  # per card; the "All changes" tab has every one
Review = Callable[..., None]  # (approve, what, **selectors) -> None


def placeholder(text: str = "") -> QPixmap:
    """A grey cover-sized picture, with ``text`` in its middle."""
    pixmap = QPixmap(COVER_SIZE)
    pixmap.fill(PLACEHOLDER_GREY)
    if text:
        painter = QPainter(pixmap)
        painter.setPen(theme.MUTED)
        painter.drawText(
            QRect(0, 0, COVER_SIZE.width(), COVER_SIZE.height()),
            int(Qt.AlignmentFlag.AlignCenter),
            text,
        )
        painter.end()
    return pixmap


def counts_text(counts: dict[str, int]) -> str:
    return " · ".join(f"{n} {status}" for status, n in counts.items() if n) or "no changes"


class CoverCache(QObject):
    """Scene covers asked of the engine once each, decoded into pixmaps.

    Signals:
        loaded(str): a scene's cover arrived, or the engine said it has none.

    Attributes:
        pixmaps: scene id -> the cover scaled to COVER_SIZE, or None (the engine has none).
        errors: scene id -> why there is no cover (for the placeholder's tooltip).
        fetches: how many covers were asked of the engine (tests check the cache).
    """

    loaded = Signal(str)

    def __init__(
        self, ops: Any, spawn: Callable[[Any, str], None], parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._ops = ops
        self._spawn = spawn
        self.pixmaps: dict[str, QPixmap | None] = {}
        self.errors: dict[str, str] = {}
        self.fetches = 0
        self._asked: set[str] = set()
        self._unreached: set[str] = set()  # asked again after retry_unreached()

    def request(self, scene_id: str) -> None:
        if scene_id in self.pixmaps or scene_id in self._asked or scene_id in self._unreached:
            return
        self._asked.add(scene_id)
        self.fetches += 1
        self._spawn(self._fetch(scene_id), "Loading a scene cover")

    async def _fetch(self, scene_id: str) -> None:
        try:
            result = await self._ops.scene_cover(scene_id)
        except ClientError as exc:
            # Not "no cover": the next reload asks again (not the next paint, which
            # showing the failure itself causes).
            self.errors[scene_id] = str(exc)
            self._unreached.add(scene_id)
            self._asked.discard(scene_id)
            self.loaded.emit(scene_id)
            return
        pixmap: QPixmap | None = None
        if result.get("data"):
            image = QPixmap()
            if image.loadFromData(base64.b64decode(result["data"])):
                pixmap = image.scaled(
                    COVER_SIZE,
                    Qt.AspectRatioMode.KeepAspectRatio,
                    Qt.TransformationMode.SmoothTransformation,
                )
            else:
                self.errors[scene_id] = "the cover is not an image Qt can read"
        else:
            self.errors[scene_id] = result.get("error") or "Stash has no cover for it"
        self.pixmaps[scene_id] = pixmap
        self._asked.discard(scene_id)
        self.loaded.emit(scene_id)

    def retry_unreached(self) -> None:
        """Let the covers the engine could not be asked for be asked for again."""
        self._unreached.clear()


class SceneCard(QFrame):
    """One scene of the plan: cover, title, counts, changes and review buttons.

    Attributes:
        scene_id: the Stash scene id.
        cover: the QLabel holding the cover (or the placeholder).
        approve_scene, reject_scene: the buttons for all the scene's open changes.
        tag_buttons: tag -> (approve, reject) buttons for that tag in this scene.
        current_tags: the line naming the tags the scene has in Stash now.
    """

    def __init__(
        self,
        scene: dict[str, Any],
        review: Review,
        editable: bool,
        want_cover: Callable[[str], None],
        analyse_again: Callable[[str, str], None],
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setProperty("card", True)
        self.scene_id = str(scene["scene_id"])
        self._want_cover = want_cover
        title = scene.get("title") or f"Scene {self.scene_id}"
        self.title = title
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 10, 12, 10)
        row.setSpacing(14)
        self.cover = QLabel()
        self.cover.setFixedSize(COVER_SIZE)
        self.cover.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cover.setPixmap(placeholder("Loading…"))
        row.addWidget(self.cover, 0, Qt.AlignmentFlag.AlignTop)

        column = QVBoxLayout()
        column.setSpacing(4)
        head = QHBoxLayout()
        self.title_label = QLabel(title)
        self.title_label.setProperty("role", "card-title")
        self.title_label.setToolTip(f"Stash scene {self.scene_id}: {scene.get('url') or ''}")
        head.addWidget(self.title_label, 1)
        self.approve_scene = button("Approve scene")
        self.reject_scene = button("Reject scene", danger=True)
        what = f"scene {title}"
        self.approve_scene.clicked.connect(lambda: review(True, what, scene_ids=[self.scene_id]))
        self.reject_scene.clicked.connect(lambda: review(False, what, scene_ids=[self.scene_id]))
        for widget in (self.approve_scene, self.reject_scene):
            widget.setEnabled(editable and bool(scene.get("changes")))
            head.addWidget(widget)
        self.analyse_again = button("Analyse again")
        self.analyse_again.setToolTip("Send this scene to the video-tag server again")
        self.analyse_again.clicked.connect(lambda: analyse_again(self.scene_id, title))
        head.addWidget(self.analyse_again)
        column.addLayout(head)

        facts = [
            scene.get("studio"),
            humanize.duration(scene["duration"]) if scene.get("duration") else None,
            scene.get("file"),
        ]
        if scene.get("removed"):
            facts.insert(0, "no longer in Stash")
        column.addWidget(muted(" · ".join(str(f) for f in facts if f)))
        current = scene.get("tags") or []
        self.current_tags = muted(
            "Tags now: " + (", ".join(current) if current else "none"), wrap=True
        )
        column.addWidget(self.current_tags)
        self.counts = muted(counts_text(scene.get("counts") or {}))
        column.addWidget(self.counts)

        self.tag_buttons: dict[str, tuple[QToolButton, QToolButton]] = {}
        tags = QHBoxLayout()
        tags.setSpacing(6)
        seen: dict[str, str] = {}
        for change in scene.get("changes") or []:
            name = change.get("tag")
            if name and name.casefold() not in seen:
                seen[name.casefold()] = name
        for name in seen.values():
            tags.addWidget(self._tag_chip(name, review, editable))
        tags.addStretch(1)
        column.addLayout(tags)

        changes = scene.get("changes") or []
        grid = QGridLayout()
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(2)
        for number, change in enumerate(changes[:CHANGES_SHOWN]):
            text = change.get("label") or ""
            label = QLabel()
            if change.get("url") and change.get("field") == "markers":
                # a marker's span opens the scene in Stash's web page at that time
                label.setText(
                    f'<a href="{html.escape(change["url"], quote=True)}">{html.escape(text)}</a>'
                )
                label.setOpenExternalLinks(True)
            else:
                label.setTextFormat(Qt.TextFormat.PlainText)
                label.setText(text)
            label.setToolTip(
                f"confidence {float(change.get('confidence') or 0):.2f}"
                + (f"\n{change['url']}" if change.get("url") else "")
            )
            status = QLabel(change["status"])
            colour = theme.STATUS_COLOURS.get(change["status"])
            if colour is not None:
                status.setStyleSheet(f"color: {colour.name()};")
            grid.addWidget(label, number, 0)
            grid.addWidget(muted(f"{float(change.get('confidence') or 0):.2f}"), number, 1)
            grid.addWidget(status, number, 2)
        grid.setColumnStretch(0, 1)
        column.addLayout(grid)
        if len(changes) > CHANGES_SHOWN:
            column.addWidget(muted(f"and {len(changes) - CHANGES_SHOWN:,} more (see All changes)"))
        for note in scene.get("notes") or []:
            column.addWidget(muted(f"Left out: {note['message']}", wrap=True))
        row.addLayout(column, 1)
        self.setMinimumHeight(self.sizeHint().height())  # scrolled to, never squeezed

    def _tag_chip(self, name: str, review: Review, editable: bool) -> QWidget:
        chip = QFrame()
        chip.setObjectName("tagChip")
        chip.setStyleSheet(
            "QFrame#tagChip { background: #eef2ff; border: 1px solid #c7d2fe; "
            "border-radius: 10px; }"
        )
        layout = QHBoxLayout(chip)
        layout.setContentsMargins(6, 0, 2, 0)
        layout.setSpacing(2)
        layout.addWidget(QLabel(name))
        approve, reject = QToolButton(), QToolButton()
        what = f"{name} in {self.title}"
        for widget, text, verdict in ((approve, "✓", True), (reject, "✕", False)):
            widget.setText(text)
            widget.setAutoRaise(True)
            widget.setToolTip(
                f"{'Approve' if verdict else 'Reject'} {name}'s changes in this scene"
            )
            widget.setEnabled(editable)
            widget.clicked.connect(
                lambda _c=False, v=verdict: review(v, what, scene_ids=[self.scene_id], tag=name)
            )
            layout.addWidget(widget)
        self.tag_buttons[name] = (approve, reject)
        return chip

    def paintEvent(self, event: Any) -> None:
        # Qt paints only what is on screen: the first paint is when the cover is wanted
        # (a card scrolled to, not every card of the plan). The cache asks once.
        super().paintEvent(event)
        self._want_cover(self.scene_id)

    def show_cover(self, cache: CoverCache) -> None:
        if self.scene_id not in cache.pixmaps:
            if self.scene_id in cache.errors:  # not reached: say so, ask again later
                self.cover.setPixmap(placeholder("No cover"))
                self.cover.setToolTip(cache.errors[self.scene_id])
            return
        pixmap = cache.pixmaps[self.scene_id]
        self.cover.setPixmap(pixmap if pixmap is not None else placeholder("No cover"))
        self.cover.setToolTip("" if pixmap is not None else cache.errors.get(self.scene_id, ""))


class ReviewView(QWidget):
    """A plan's scenes as cards, with one tag's changes reviewed across the plan.

    Attributes:
        cards: the SceneCard of each scene shown, by scene id (in the engine's order).
        covers: the CoverCache (kept across reloads and plans).
        scene_count: how many scenes the plan has (more than shown: "More scenes").
        plan_id: the plan shown, or None.
    """

    def __init__(
        self,
        ops: Any,
        spawn: Callable[[Any, str], None],
        review: Review,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._ops = ops
        self._spawn = spawn
        self._review = review
        self.plan_id: int | None = None
        self.scene_count = 0
        self.cards: dict[str, SceneCard] = {}
        self._editable = False
        self._wanted = SCENES_PAGE
        self._generation = 0
        self.covers = CoverCache(ops, spawn, self)
        self.covers.loaded.connect(self._cover_loaded)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 6, 0, 0)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Tag"))
        self.tag_filter = QComboBox()
        self.tag_filter.setMinimumWidth(220)
        bar.addWidget(self.tag_filter)
        self.approve_tag = button("Approve tag")
        self.reject_tag = button("Reject tag", danger=True)
        self.approve_tag.clicked.connect(lambda: self._review_tag(True))
        self.reject_tag.clicked.connect(lambda: self._review_tag(False))
        bar.addWidget(self.approve_tag)
        bar.addWidget(self.reject_tag)
        bar.addStretch(1)
        self.scene_summary = muted()
        bar.addWidget(self.scene_summary)
        layout.addLayout(bar)

        self.host = QWidget()
        self.host.setObjectName("cardsHost")
        self.column = QVBoxLayout(self.host)
        self.column.setContentsMargins(0, 0, 8, 0)
        self.column.setSpacing(8)
        self.more = button("More scenes")
        self.more.clicked.connect(self.load_more)
        self.column.addWidget(self.more, 0, Qt.AlignmentFlag.AlignLeft)
        self.column.addStretch(1)
        self.card_scroll = QScrollArea()
        self.card_scroll.setObjectName("cards")
        self.card_scroll.setWidgetResizable(True)
        self.card_scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.card_scroll.setWidget(self.host)
        layout.addWidget(self.card_scroll, 1)
        self._set_buttons()
        self.current: str | None = None  # the scene A/R act on, moved with J/K
        for key, action in (
            ("A", lambda: self._review_current(True)),
            ("R", lambda: self._review_current(False)),
            ("J", lambda: self.move_current(1)),
            ("K", lambda: self.move_current(-1)),
        ):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(action)

    # --- keyboard review -------------------------------------------------------------------------

    def move_current(self, step: int) -> None:
        """J/K: the next or previous scene becomes the one A and R act on."""
        ids = list(self.cards)
        if not ids:
            return
        index = ids.index(self.current) + step if self.current in ids else 0
        self.set_current(ids[max(0, min(len(ids) - 1, index))])

    def set_current(self, scene_id: str | None, *, scroll: bool = True) -> None:
        for card_id, each in self.cards.items():
            theme.set_property(each, "current", card_id == scene_id)
        self.current = scene_id
        card = self.cards.get(scene_id) if scene_id else None
        if card is not None and scroll:
            self.card_scroll.ensureWidgetVisible(card)

    def _review_current(self, approve: bool) -> None:
        card = self.cards.get(self.current) if self.current else None
        if card is not None and self._editable:
            (card.approve_scene if approve else card.reject_scene).click()

    # --- loading ---------------------------------------------------------------------------------

    def load(self, plan_id: int | None, editable: bool) -> None:
        """Show ``plan_id`` (None: nothing); a reload of the same plan keeps as many
        scenes as were shown."""
        if plan_id != self.plan_id:
            self._wanted = SCENES_PAGE
            self.card_scroll.verticalScrollBar().setValue(0)
        self.plan_id, self._editable = plan_id, editable
        self._generation += 1
        self.covers.retry_unreached()
        if plan_id is None:
            self._show({"scenes": [], "tags": [], "scene_count": 0})
            return
        self._spawn(self._fetch(plan_id, self._generation), "Loading the plan's scenes")

    def load_more(self) -> None:
        if self.plan_id is not None:
            self._wanted = len(self.cards) + SCENES_PAGE
            self.load(self.plan_id, self._editable)

    async def _fetch(self, plan_id: int, generation: int) -> None:
        try:
            view = await self._ops.plan_review(plan_id, offset=0, limit=self._wanted)
        except ClientError as exc:
            if generation == self._generation:
                self.scene_summary.setText(f"Could not load the scenes: {exc}")
            return
        if generation == self._generation and plan_id == self.plan_id:
            self._show(view)

    def _show(self, view: dict[str, Any]) -> None:
        for card in self.cards.values():  # out now, not when deleted: no list twice as long
            self.column.removeWidget(card)
            card.hide()
            card.deleteLater()
        self.cards = {}
        for number, scene in enumerate(view["scenes"]):
            card = SceneCard(
                scene, self._review, self._editable, self._card_painted, self._analyse_again
            )
            self.column.insertWidget(number, card)
            self.cards[card.scene_id] = card
            card.show_cover(self.covers)
        self.set_current(
            self.current
            if self.current in self.cards  # a reload keeps
            else next(iter(self.cards), None),
            scroll=False,
        )  # the scroll
        self.scene_count = int(view.get("scene_count") or 0)
        shown = len(self.cards)
        self.scene_summary.setText(
            ""
            if self.plan_id is None
            else f"{humanize.count(self.scene_count, 'scene')}"
            + (f" · {shown:,} shown" if shown < self.scene_count else "")
        )
        self.more.setVisible(shown < self.scene_count)
        current = self.tag_filter.currentData()
        self.tag_filter.clear()
        for item in view.get("tags") or []:
            self.tag_filter.addItem(f"{item['tag']} ({counts_text(item['counts'])})", item["tag"])
        index = self.tag_filter.findData(current)
        self.tag_filter.setCurrentIndex(max(index, 0))
        self._set_buttons()

    def _set_buttons(self) -> None:
        usable = self._editable and self.tag_filter.count() > 0
        self.approve_tag.setEnabled(usable)
        self.reject_tag.setEnabled(usable)

    def _analyse_again(self, scene_id: str, title: str) -> None:
        self._spawn(
            self._ops.analyse_again([scene_id], requested_by="window"),
            f"Asking to analyse {title} again",
        )

    def _review_tag(self, approve: bool) -> None:
        name = self.tag_filter.currentData()
        if name:
            self._review(approve, f"tag {name}", tag=name)

    # --- covers ----------------------------------------------------------------------------------

    def _card_painted(self, scene_id: str) -> None:
        # Right after new cards come, Qt may paint them before the scroll area has grown
        # the list to fit them (all of them crammed into the old height, so all on screen).
        # Wait for that: the cards are repainted where they belong once it has.
        if self.host.height() >= self.host.minimumSizeHint().height():
            self.covers.request(scene_id)

    def _cover_loaded(self, scene_id: str) -> None:
        card = self.cards.get(scene_id)
        if card is not None:
            card.show_cover(self.covers)

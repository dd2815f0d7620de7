"""The Plans page's review screen: a plan by scene, with covers from the engine (Stash
stand-in behind it), and review of a scene, of a tag in a scene, of a tag in the plan."""

from __future__ import annotations

import hashlib
import os
import re

import pytest
from PySide6.QtGui import QColor

from stashdesk.jobs.base import JobStatus
from stashdesk.store.models import PlanChange
from stashdesk.ui.plan_review import COVER_SIZE, PLACEHOLDER_GREY
from tests.analysis_helpers import seed_plan, seed_scene
from tests.engine_fixtures import wait_until

API_KEY = "secret-key-123"
GONE = "9001"  # a scene in the local copy only: Stash has no cover for it


def cover_colour(scene_id: str) -> QColor:
    """The colour of the stand-in's default cover for ``scene_id``."""
    return QColor(*hashlib.sha1(scene_id.encode()).digest()[:3])


def centre_colour(card) -> QColor:
    image = card.cover.pixmap().toImage()
    return image.pixelColor(image.width() // 2, image.height() // 2)


def is_placeholder(card) -> bool:
    pixmap = card.cover.pixmap()
    return pixmap.size() == COVER_SIZE and pixmap.toImage().pixelColor(1, 1) == PLACEHOLDER_GREY


class Library:
    def __init__(self, gui, plan_id: int, first: str, second: str) -> None:
        self.gui, self.plan_id, self.first, self.second = gui, plan_id, first, second

    def statuses(self) -> dict[tuple[str, str], str]:
        """(scene, tag) -> status of each change."""
        rows = PlanChange.select().where(PlanChange.plan == self.plan_id)
        found = {}
        for change in rows:
            value = change.proposed_value
            tag = value["title"] if isinstance(value, dict) else value
            found[(change.scene_id, f"{change.field}:{tag}")] = change.status
        return found


@pytest.fixture
async def library(make_gui, stash_server) -> Library:
    stash_server.api_key = API_KEY
    first = stash_server.add_scene(
        "Breakfast", "/data/videos/breakfast.mp4", duration=600, studio="Acme", tags=["Morning"]
    )
    second = stash_server.add_scene("Swim", "/data/videos/swim.mp4", duration=300)
    gui = await make_gui(settings={"stash.url": stash_server.url, "stash.api_key": API_KEY})
    gui.window.resize(1400, 1500)  # every card on screen (the lazy test makes it small)
    info = await gui.services.runner.submit("SYNC", {"full_resync": True})
    assert (await gui.services.runner.wait(info.id, 20)).status == JobStatus.COMPLETED

    def write() -> int:
        seed_scene(GONE, title="Gone from Stash")
        marker = {"seconds": 10.0, "end_seconds": 20.0}
        return seed_plan(
            "Review me",
            [
                {
                    "scene_id": first,
                    "field": "tags",
                    "proposed_value": "Kitchen_AI",
                    "confidence": 0.9,
                },
                {
                    "scene_id": first,
                    "field": "markers",
                    "confidence": 0.9,
                    "proposed_value": {"title": "Kitchen_AI", **marker},
                },
                {
                    "scene_id": first,
                    "field": "tags",
                    "proposed_value": "Pool_AI",
                    "confidence": 0.7,
                },
                {
                    "scene_id": second,
                    "field": "tags",
                    "proposed_value": "Pool_AI",
                    "confidence": 0.8,
                },
                {
                    "scene_id": second,
                    "field": "markers",
                    "confidence": 0.8,
                    "proposed_value": {"title": "Pool_AI", "seconds": 30.0, "end_seconds": 70.0},
                },
                {"scene_id": GONE, "field": "tags", "proposed_value": "Kitchen_AI"},
            ],
        )

    plan_id = await gui.services.store.write(write)
    return Library(gui, plan_id, first, second)


async def open_review(library: Library):
    window = library.gui.window
    window.open_plan(library.plan_id)
    page = window.plans_page
    view = page.review_view
    await wait_until(
        lambda: not page.busy and view.plan_id == library.plan_id and len(view.cards) == 3,
        message="the scene cards",
    )
    return page, view


async def test_scenes_show_title_facts_changes_and_their_cover(library, stash_server):
    page, view = await open_review(library)
    assert page.tabs.currentWidget() is view  # the review screen comes first
    first, second, gone = (view.cards[s] for s in (library.first, library.second, GONE))
    assert list(view.cards) == [library.first, library.second, GONE]
    assert first.title_label.text() == "Breakfast" and second.title_label.text() == "Swim"
    # (a marker's span is a link: compare the text it shows)
    texts = [
        re.sub(r"<[^>]+>", "", label.text()) for label in first.findChildren(type(first.counts))
    ]
    assert "Acme · 10 min · /data/videos/breakfast.mp4" in texts
    assert first.counts.text() == "3 pending"
    assert first.current_tags.text() == "Tags now: Morning"  # what Stash has already
    assert "Kitchen_AI @ 0:10-0:20" in texts
    assert set(first.tag_buttons) == {"Kitchen_AI", "Pool_AI"}
    assert view.scene_summary.text() == "3 scenes"
    assert [view.tag_filter.itemData(i) for i in range(view.tag_filter.count())] == [
        "Kitchen_AI",
        "Pool_AI",
    ]

    await wait_until(
        lambda: (
            library.second in view.covers.pixmaps
            and library.first in view.covers.pixmaps
            and GONE in view.covers.pixmaps
        ),
        message="the covers",
    )
    assert centre_colour(first) == cover_colour(library.first)
    assert centre_colour(second) == cover_colour(library.second)
    assert centre_colour(first) != centre_colour(second)
    assert is_placeholder(gone) and gone.cover.toolTip()  # the engine says why there is none
    if os.environ.get("PLANS_REVIEW_SCREENSHOT"):
        library.gui.window.grab().save(os.environ["PLANS_REVIEW_SCREENSHOT"])

    # Reloads (plan events, Refresh) keep the covers: asked of the engine once each.
    asked = view.covers.fetches
    downloads = len([r for r in stash_server.requests if "/screenshot" in r.path])
    assert downloads == 3  # Breakfast, Swim, and the one Stash answers 404 for
    page.reload()
    await wait_until(lambda: not page.busy and len(view.cards) == 3, message="the reload")
    assert view.covers.fetches == asked == 3
    assert centre_colour(view.cards[library.first]) == cover_colour(library.first)
    assert len([r for r in stash_server.requests if "/screenshot" in r.path]) == downloads


async def test_covers_are_asked_for_only_when_their_card_is_on_screen(library):
    library.gui.window.resize(1100, 560)
    page, view = await open_review(library)
    view.card_scroll.verticalScrollBar().setValue(0)
    await wait_until(lambda: library.first in view.covers.pixmaps, message="the first cover")
    hidden = [s for s, card in view.cards.items() if card.visibleRegion().isEmpty()]
    assert hidden, "the window should be small enough to hide a card"
    assert not any(s in view.covers.pixmaps for s in hidden)
    assert view.covers.fetches == 3 - len(hidden)
    assert all(is_placeholder(view.cards[s]) for s in hidden)  # grey while not loaded

    bar = view.card_scroll.verticalScrollBar()
    bar.setValue(bar.maximum())
    await wait_until(lambda: GONE in view.covers.pixmaps, message="the cover scrolled to")
    assert view.covers.fetches == len(view.covers.pixmaps) <= 3

    # Reviewing down there reloads the cards, and the list stays where it was.
    bottom = bar.value()
    assert bottom > 0
    view.cards[GONE].approve_scene.click()
    await wait_until(
        lambda: not page.busy and view.cards[GONE].counts.text() == "1 approved",
        message="the scene approved",
    )
    await wait_until(lambda: bar.value() == bottom, message="the scroll position kept")


async def test_approve_a_scene_reject_a_tag_in_a_scene_and_a_tag_in_the_plan(library):
    page, view = await open_review(library)
    first = library.first

    async def settled(expected: dict, what: str) -> None:
        await wait_until(lambda: library.statuses() == expected, message=f"{what} (stored)")
        await wait_until(
            lambda: (
                not page.busy
                and len(view.cards) == 3
                and all(view.cards[s].counts.text() == counts_of(expected, s) for s in view.cards)
            ),
            message=f"{what} (shown)",
        )

    view.cards[first].approve_scene.click()
    expected = {
        (first, "tags:Kitchen_AI"): "approved",
        (first, "markers:Kitchen_AI"): "approved",
        (first, "tags:Pool_AI"): "approved",
        (library.second, "tags:Pool_AI"): "pending",
        (library.second, "markers:Pool_AI"): "pending",
        (GONE, "tags:Kitchen_AI"): "pending",
    }
    await settled(expected, "the scene approved")
    assert view.cards[first].counts.text() == "3 approved"
    assert "Approved 3 changes (scene Breakfast)" in page.message.text()

    _approve, reject = view.cards[library.second].tag_buttons["Pool_AI"]
    reject.click()  # the tag and its marker in Swim; Breakfast's Pool_AI stays approved
    expected.update(
        {
            (library.second, "tags:Pool_AI"): "rejected",
            (library.second, "markers:Pool_AI"): "rejected",
        }
    )
    await settled(expected, "a tag in a scene rejected")

    view.tag_filter.setCurrentIndex(view.tag_filter.findData("Kitchen_AI"))
    view.reject_tag.click()  # Kitchen_AI wherever it is proposed
    expected.update(
        {
            (first, "tags:Kitchen_AI"): "rejected",
            (first, "markers:Kitchen_AI"): "rejected",
            (GONE, "tags:Kitchen_AI"): "rejected",
        }
    )
    await settled(expected, "a tag in the plan rejected")
    assert view.tag_filter.currentData() == "Kitchen_AI"  # the reload kept the choice
    assert "Rejected 3 changes (tag Kitchen_AI)" in page.message.text()


def counts_of(expected: dict, scene_id: str) -> str:
    order = ("pending", "approved", "rejected")
    statuses = [status for (scene, _), status in expected.items() if scene == scene_id]
    return " · ".join(f"{statuses.count(s)} {s}" for s in order if statuses.count(s))


async def test_an_applied_plan_shows_its_scenes_without_review_buttons(library):
    await library.gui.services.store.write(
        lambda: (
            __import__("stashdesk.store.models", fromlist=["Plan"])
            .Plan.update(status="applied")
            .execute()
        )
    )
    page, view = await open_review(library)
    card = view.cards[library.first]
    assert not card.approve_scene.isEnabled() and not card.reject_scene.isEnabled()
    assert not any(b.isEnabled() for pair in card.tag_buttons.values() for b in pair)
    assert not view.approve_tag.isEnabled()


async def test_a_plan_with_many_scenes_shows_them_a_page_at_a_time(library, monkeypatch):
    monkeypatch.setattr("stashdesk.ui.plan_review.SCENES_PAGE", 2)
    page, view = library.gui.window.plans_page, library.gui.window.plans_page.review_view
    library.gui.window.open_plan(library.plan_id)
    await wait_until(lambda: not page.busy and len(view.cards) == 2, message="a page of scenes")
    assert view.scene_summary.text() == "3 scenes · 2 shown" and view.more.isVisibleTo(view)
    view.more.click()
    await wait_until(lambda: not page.busy and len(view.cards) == 3, message="the next page")
    assert list(view.cards) == [library.first, library.second, GONE]
    assert not view.more.isVisibleTo(view) and view.scene_summary.text() == "3 scenes"
    page.reload()  # a reload keeps as many scenes as were shown
    await wait_until(lambda: not page.busy and len(view.cards) == 3, message="the reload")


async def test_keyboard_review_and_a_marker_links_to_its_time_in_stash(library):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QLabel

    page, view = await open_review(library)
    first, second = library.first, library.second
    assert view.current == first  # the first scene to begin with
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_J)
    assert view.current == second and view.cards[second].property("current")
    QTest.keyClick(view, Qt.Key.Key_K)
    QTest.keyClick(view, Qt.Key.Key_J)
    QTest.keyClick(view, Qt.Key.Key_R)  # Swim rejected
    await wait_until(
        lambda: library.statuses()[(second, "tags:Pool_AI")] == "rejected", message="R stored"
    )
    await wait_until(lambda: not page.busy and second in view.cards, message="reloaded")
    assert view.current == second  # the reload keeps the place
    QTest.keyClick(view, Qt.Key.Key_K)
    QTest.keyClick(view, Qt.Key.Key_A)  # Breakfast approved
    await wait_until(
        lambda: library.statuses()[(first, "tags:Kitchen_AI")] == "approved", message="A stored"
    )
    await wait_until(lambda: not page.busy and first in view.cards, message="reloaded")
    links = [
        label.text()
        for label in view.cards[first].findChildren(QLabel)
        if label.text().startswith("<a href=")
    ]
    assert len(links) == 1 and "Kitchen_AI @ 0:10" in links[0]
    assert f"/scenes/{first}?t=10" in links[0]

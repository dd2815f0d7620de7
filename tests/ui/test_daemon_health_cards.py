"""Cards, header and tray never look fine when a daemon is not: a rejected Stash key
turns the card amber with the reason and a button to the setting that fixes it, and
the fix brings it back to green without a restart."""

from __future__ import annotations

import pytest

from stashdesk.jobs import stash_follow
from tests.engine_fixtures import wait_until

SYNC = "stash-sync"


@pytest.fixture(autouse=True)
def fast_polling(monkeypatch) -> None:
    monkeypatch.setattr(stash_follow, "POLL_SECONDS", 0.02)


async def test_a_rejected_key_shows_on_card_header_and_tray_until_fixed(
    make_gui, all_daemons, stash_server
) -> None:
    stash_server.api_key = "the-right-key"
    gui = await make_gui(
        tray=True, settings={"stash.url": stash_server.url, "stash.api_key": "wrong"}
    )
    await gui.services.manager.set_config(SYNC, {"job_interval_seconds": 3600})
    await gui.services.manager.start(SYNC)
    card = gui.window.card(SYNC)
    await wait_until(
        lambda: card.badge_text() == "retrying", timeout=15, message="the card to say retrying"
    )
    assert card.property("health") == "warning"  # the amber accent
    assert card.health_banner.isVisibleTo(card)
    assert "rejected the API key" in card.health_banner.label.text()
    assert card.health_banner.button.text() == "Open Stash settings"
    header = gui.window.daemons_page.summary.text()
    assert header.startswith("1 of ") and header.endswith("· 1 needs attention")
    gui.window.tray.refresh()
    assert gui.window.tray.mode == "error"
    assert "retrying: Stash rejected the API key" in gui.fake_tray.tooltip

    card.health_banner.button.click()
    dialog = gui.window.settings_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.pages.currentIndex() == dialog.groups.index("Stash")
    assert "rejected the API key" in dialog.banner.label.text()  # says why it opened
    await dialog.loading
    dialog.editor("stash.api_key").set_text("the-right-key")
    dialog.save()
    await wait_until(
        lambda: card.badge_text() == "running",
        timeout=10,
        message="the card back to running once the key is fixed",
    )
    assert card.property("health") == ""
    assert not card.health_banner.isVisibleTo(card)
    assert "attention" not in gui.window.daemons_page.summary.text()


async def test_a_crash_is_red_and_counts_as_needing_attention(make_gui) -> None:
    gui = await make_gui(configs={"test-crash": {"crashes": 100, "job_interval_seconds": 30}})
    await gui.services.manager.start("test-crash")
    card = gui.window.card("test-crash")
    await wait_until(lambda: card.badge_text() == "error", timeout=10, message="the crash")
    assert card.property("health") == "error"
    assert "need" in gui.window.daemons_page.summary.text()


async def test_run_now_asks_the_engine_to_check_at_once(make_gui) -> None:
    gui = await make_gui(configs={"test-tick": {"job_interval_seconds": 3600}})
    await gui.services.manager.start("test-tick")
    card = gui.window.card("test-tick")
    await wait_until(lambda: card.phase == "sleeping", timeout=10, message="sleeping")
    first_wake = card.wake_at
    assert card.run_now_button.isEnabled()
    card.run_now_button.click()
    await wait_until(
        lambda: card.wake_at != first_wake, timeout=10, message="a new pass after Run now"
    )

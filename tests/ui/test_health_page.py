"""The Health page: the engine's checks, failing first, with their remedy and a button
to the setting concerned; "Check now" runs them again."""

from __future__ import annotations

from tests.engine_fixtures import wait_until
from tests.ui.addresses import closed_port_url


async def test_failing_checks_come_first_with_a_fix_and_recover_on_check_now(
    make_gui, stash_server, tmp_path
) -> None:
    destination = tmp_path / "library"
    destination.mkdir()
    gui = await make_gui(
        settings={"stash.url": closed_port_url(), "downloads.destination": str(destination)}
    )
    gui.window.show_page("health")
    page = gui.window.health_page
    page.refresh()
    await wait_until(
        lambda: "stash_reachable" in page.rows, timeout=20, message="the health checks on the page"
    )
    first = page.checks[0]
    assert first["check"] == "stash_reachable" and first["ok"] is False
    assert "failing" in page.summary.text()
    row = page.rows["stash_reachable"]
    assert "Stash reachable" in page.row_text("stash_reachable")
    assert row.button.text() == "Open Stash settings"
    assert page.checks[-1]["ok"] is True  # passing checks follow
    assert page.rows["destination_writable"].text().count("✔") == 1

    row.button.click()
    dialog = gui.window.settings_dialog
    assert dialog.isVisible() and dialog.pages.currentIndex() == dialog.groups.index("Stash")

    await gui.client.ops.set_settings({"stash.url": stash_server.url})
    page.refresh()
    await wait_until(
        lambda: "stash_reachable" in page.rows and "✔" in page.row_text("stash_reachable"),
        timeout=20,
        message="Stash reachable once its address is right",
    )
    assert [c["ok"] for c in page.checks if c["check"] == "stash_reachable"] == [True]

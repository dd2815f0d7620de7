"""Settings: built from SETTINGS, validated before saving, and "Test connection"."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit

from stashdesk.settings import SETTINGS, group_of
from stashdesk.store.models import Setting
from tests.engine_fixtures import wait_until
from tests.ui.addresses import closed_port_url


async def opened(gui, group: str | None = None):
    """The Settings dialog, once the engine's values are in it."""
    dialog = gui.window.open_settings(group)
    await dialog.loading
    return dialog


async def test_settings_are_grouped_and_secrets_are_password_fields(gui):
    dialog = await opened(gui)
    assert dialog.groups == [
        "Stash",
        "qBittorrent",
        "Downloads",
        "Analysis",
        "Notifications",
        "Engine API",
        "History",
        "Advanced",
    ]
    for option in SETTINGS:
        editor = dialog.forms[group_of(option.key)].editors[option.key]
        if option.type == "bool":
            assert isinstance(editor.widget, QCheckBox)
        elif option.choices:  # analysis.select, analysis.tag_policy
            assert isinstance(editor.widget, QComboBox)
            assert [editor.widget.itemText(i) for i in range(editor.widget.count())] == list(
                option.choices
            )
        else:
            assert isinstance(editor.widget, QLineEdit)
            echo = editor.widget.echoMode()
            assert (echo == QLineEdit.EchoMode.Password) == option.secret, option.key
    # Never set: the address is a placeholder, not a value that looks configured.
    url = dialog.editor("stash.url").line
    assert url.text() == "" and url.placeholderText() == "http://localhost:9999"
    assert not dialog.dirty()


async def test_closing_with_unsaved_edits_asks_first(gui):
    dialog = await opened(gui, "History")
    dialog.editor("history.retention_days").set_text("45")
    assert dialog.dirty()
    dialog.close()
    box = dialog._asking_to_discard
    assert box is not None and dialog.isVisible()  # still open, asking
    keep = next(b for b in box.buttons() if b.text() == "Keep editing")
    keep.click()
    await wait_until(lambda: dialog._asking_to_discard is None, message="the answer")
    assert dialog.isVisible() and dialog.editor("history.retention_days").line.text() == "45"

    dialog.close()
    box = dialog._asking_to_discard
    next(b for b in box.buttons() if b.text() == "Discard changes").click()
    await wait_until(lambda: not dialog.isVisible(), message="the dialog to close")
    assert dialog.editor("history.retention_days").line.text() == "30"  # thrown away
    assert gui.services.settings.get("history.retention_days") == 30


async def test_nothing_is_saved_while_any_value_is_invalid(gui):
    settings = gui.services.settings
    dialog = await opened(gui)
    dialog.show_group("History")
    dialog.editor("stash.url").set_text("localhost 9999")
    dialog.editor("stash.timeout").set_text("0")
    dialog.editor("history.retention_days").set_text("45")  # valid, but must wait too
    assert "http:// or https://" in dialog.editor("stash.url").error.text()
    dialog.save()
    assert dialog.message.isVisibleTo(dialog)
    assert "Nothing was saved: 2 values to fix in Stash" in dialog.message.label.text()
    assert dialog.pages.currentIndex() == dialog.groups.index("Stash")  # shows the problem
    assert settings.get("history.retention_days") == 30
    assert Setting.get_or_none(Setting.key == "history.retention_days") is None

    dialog.editor("stash.url").set_text("http://stash.lan:9999/")
    dialog.editor("stash.timeout").set_text("12.5")
    dialog.editor("stash.api_key").set_text("s3cret-key")
    dialog.save_button.click()
    await wait_until(lambda: "Saved 4 settings" in dialog.message.label.text(), message="saving")
    assert settings.get("history.retention_days") == 45
    assert settings.get("stash.url") == "http://stash.lan:9999"  # normalised by the option
    assert settings.get("stash.timeout") == 12.5
    assert settings.get("stash.api_key") == "s3cret-key"
    assert Setting.get(Setting.key == "history.retention_days").value == 45
    assert Setting.get_or_none(Setting.key == "stash.api_key") is None  # secrets stored apart


async def test_restart_required_settings_say_so_when_saved(gui):
    dialog = await opened(gui, "Advanced")
    dialog.editor("jobs.max_concurrent").set_text("5")
    dialog.save()
    await wait_until(lambda: "Saved 1 setting" in dialog.message.label.text())
    assert "takes effect after StashDesk restarts" in dialog.message.label.text()


async def test_first_start_opens_the_settings_on_stash_and_says_why(gui):
    assert gui.window.check_first_start()
    dialog = gui.window.settings_dialog
    await dialog.loading
    assert dialog.isVisible()
    assert dialog.pages.currentIndex() == dialog.groups.index("Stash")
    assert dialog.banner.isVisibleTo(dialog)
    assert "does not know where your Stash server is" in dialog.banner.label.text()
    dialog.editor("stash.url").set_text("http://127.0.0.1:9999")
    dialog.save()
    await wait_until(lambda: not dialog.banner.isVisibleTo(dialog), message="the banner gone")
    assert gui.services.settings.stash_configured
    assert not gui.window.check_first_start()


async def _test(dialog, group: str) -> str:
    finished: list[str] = []
    dialog.check_finished.connect(finished.append)
    dialog.test_connection(group)
    await wait_until(lambda: group in finished, timeout=15, message=f"the {group} test")
    return dialog.report_text(group)


async def test_stash_connection_test_reports_each_step(gui, stash_server):
    stash_server.api_key = "right-key"
    dialog = await opened(gui, "Stash")
    dialog.editor("stash.url").set_text(stash_server.url)
    dialog.editor("stash.api_key").set_text("right-key")
    report = await _test(dialog, "Stash")
    assert report.splitlines() == [
        f"✔ Reach Stash: {stash_server.url} answered",
        "✔ Sign in: accepted with the API key",
        f"✔ Read Stash's version: Stash {stash_server.version_info['version']}",
    ]

    dialog.editor("stash.api_key").set_text("wrong-key")
    lines = (await _test(dialog, "Stash")).splitlines()
    assert lines[0].startswith("✔ Reach Stash")
    assert lines[1].startswith("✘ Sign in: Stash rejected the API key (HTTP 401)")
    assert lines[2] == "– Read Stash's version: not tried"

    dialog.editor("stash.api_key").set_text("")
    lines = (await _test(dialog, "Stash")).splitlines()
    assert lines[1].startswith("✘ Sign in: Stash requires an API key")

    closed = closed_port_url()
    dialog.editor("stash.url").set_text(closed)
    lines = (await _test(dialog, "Stash")).splitlines()
    assert lines[0] == f"✘ Reach Stash: Stash unreachable at {closed}: connection refused"
    assert lines[1:] == ["– Sign in: not tried", "– Read Stash's version: not tried"]
    assert gui.services.settings.get("stash.url") == "http://localhost:9999"  # nothing saved


async def test_connection_test_refuses_invalid_values_before_trying(gui):
    dialog = await opened(gui, "Stash")
    dialog.editor("stash.url").set_text("ftp://stash")
    lines = (await _test(dialog, "Stash")).splitlines()
    assert len(lines) == 1 and lines[0].startswith("✘ Check the values: stash.url must be")
    assert "Not tested" in dialog._report_labels["Stash"].text()


async def test_video_tag_connection_test(gui, video_tag_server):
    dialog = await opened(gui, "Analysis")
    dialog.editor("analysis.video_server_url").set_text(video_tag_server.url)
    lines = (await _test(dialog, "Analysis")).splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(
        f"✔ Reach the video-tag server: {video_tag_server.url} answered (HTTP"
    )
    closed = closed_port_url()
    dialog.editor("analysis.video_server_url").set_text(closed)
    lines = (await _test(dialog, "Analysis")).splitlines()
    assert lines == [
        (
            f"✘ Reach the video-tag server: Video-tag server unreachable at {closed}: "
            "connection refused"
        )
    ]


async def test_qbittorrent_connection_test(gui, qbittorrent):
    dialog = await opened(gui, "qBittorrent")
    dialog.editor("qbittorrent.url").set_text(qbittorrent.url)
    dialog.editor("qbittorrent.username").set_text(qbittorrent.username)
    dialog.editor("qbittorrent.password").set_text(qbittorrent.password)
    lines = (await _test(dialog, "qBittorrent")).splitlines()
    assert lines[0] == f"✔ Reach qBittorrent's Web UI: {qbittorrent.url} answered"
    assert lines[1] == f"✔ Log in: logged in as {qbittorrent.username!r}"
    assert lines[2].startswith("✔ Read qBittorrent's version: qBittorrent v")

    dialog.editor("qbittorrent.password").set_text("not-the-password")
    lines = (await _test(dialog, "qBittorrent")).splitlines()
    assert lines[0].startswith("✔ Reach")
    assert lines[1].startswith("✘ Log in: qBittorrent at") and "rejected the login" in lines[1]
    assert lines[2] == "– Read qBittorrent's version: not tried"

    closed = closed_port_url()
    dialog.editor("qbittorrent.url").set_text(closed)
    lines = (await _test(dialog, "qBittorrent")).splitlines()
    assert lines[0].startswith(f"✘ Reach qBittorrent's Web UI: qBittorrent unreachable at {closed}")
    assert lines[1:] == ["– Log in: not tried", "– Read qBittorrent's version: not tried"]

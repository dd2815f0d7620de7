"""Settings > Analysis: the tag mapping edited, exported and imported through the engine."""

from __future__ import annotations

from tests.engine_fixtures import wait_until


async def test_map_ignore_remove_and_a_csv_round_trip(gui, tmp_path) -> None:
    dialog = gui.window.open_settings("Analysis")
    editor = dialog.tag_mapping
    await wait_until(lambda: not gui.window.tasks.tasks, message="the mapping loaded")
    assert editor.table.rowCount() == 0

    editor.ai_tag.setText("Kitchen")
    editor.stash_tag.setText("Kitchen (room)")
    editor.map_tag()
    await wait_until(lambda: editor.table.rowCount() == 1, message="the mapping shown")
    editor.ai_tag.setText("Blurry")
    editor.ignore_tag()
    await wait_until(lambda: editor.table.rowCount() == 2, message="the ignored tag")
    assert [
        (m["ai_tag"], m["stash_tag"], m["ignore"]) for m in await gui.client.ops.list_tag_mappings()
    ] == [("Blurry", None, True), ("Kitchen", "Kitchen (room)", False)]
    assert editor.table.item(0, 1).text() == "(ignored)"

    target = tmp_path / "mapping.csv"
    editor.export_to(str(target))
    await wait_until(target.exists, message="the export")
    exported = target.read_text()
    assert "Kitchen,Kitchen (room)" in exported

    editor.table.selectRow(1)
    assert editor.ai_tag.text() == "Kitchen"
    editor.remove_tag()
    await wait_until(lambda: editor.table.rowCount() == 1, message="removed")
    editor.import_from(str(target))
    await wait_until(lambda: editor.table.rowCount() == 2, message="imported back")
    assert editor.report.text().startswith("Imported ")

    editor.ai_tag.setText("")
    editor.map_tag()
    await wait_until(
        lambda: editor.report.text().startswith("Not changed: "),
        message="an empty tag refused with the engine's reason",
    )

"""The window that cannot start says why in one sentence (and a dialog where someone
can see it), never with a traceback."""

from __future__ import annotations

from stashdesk.ui import main as ui_main


def test_a_data_folder_that_is_a_file_is_refused_with_exit_2(
    tmp_path, qapp, capsys, monkeypatch
) -> None:
    shown: list[str] = []
    monkeypatch.setattr(
        ui_main.QMessageBox,
        "critical",
        staticmethod(lambda _parent, _title, text: shown.append(text)),
    )
    monkeypatch.setattr(ui_main.QApplication, "platformName", staticmethod(lambda: "xcb"))
    blocker = tmp_path / "data"
    blocker.write_text("not a folder")
    assert ui_main.run_gui(blocker) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "Traceback" not in err
    assert len(shown) == 1 and "--data-dir" in shown[0]  # the dialog says what to do

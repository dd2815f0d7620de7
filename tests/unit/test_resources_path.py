"""Finding resources/ from source, from a frozen bundle and from an override; the files."""

from __future__ import annotations

import configparser
import ctypes
import struct
import sys
from pathlib import Path

import pytest

from stashdesk import app_identity, resources_path
from stashdesk.resources_path import (
    ENV_VAR,
    REQUIRED_RESOURCES,
    missing_resources,
    resource_path,
    resources_dir,
)
from tests.cli_helpers import REPO


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def make_resources(folder: Path) -> Path:
    for name in REQUIRED_RESOURCES:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(b"x")
    return folder


def test_from_source_the_checkout_folder_with_every_file():
    assert not resources_path.is_frozen()
    assert resources_dir() == REPO / "resources"
    assert resource_path("icons", "stashdesk.svg") == REPO / "resources/icons/stashdesk.svg"
    assert missing_resources() == []


def test_required_list_matches_the_folder():
    present = {
        p.relative_to(REPO / "resources").as_posix()
        for p in (REPO / "resources").rglob("*")
        if p.is_file()
    }
    assert present - {"README.md"} == set(REQUIRED_RESOURCES)


def test_frozen_uses_the_bundle_data_folder(tmp_path, monkeypatch):
    bundle = tmp_path / "dist" / "stashdesk" / "_internal"
    make_resources(bundle / "resources")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(bundle), raising=False)
    assert resources_path.is_frozen()
    assert resources_dir() == bundle / "resources"
    assert missing_resources() == []


def test_frozen_without_meipass_looks_next_to_the_executable(tmp_path, monkeypatch):
    make_resources(tmp_path / "app" / "resources")
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.delattr(sys, "_MEIPASS", raising=False)
    monkeypatch.setattr(sys, "executable", str(tmp_path / "app" / "stashdesk"))
    assert resources_dir() == tmp_path / "app" / "resources"


def test_the_override_is_used_as_given_even_when_empty(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    assert resources_dir() == tmp_path / "nowhere"
    assert missing_resources() == list(REQUIRED_RESOURCES)
    make_resources(tmp_path / "nowhere")
    assert missing_resources() == []


def test_the_theme_loads_from_the_helper(tmp_path, monkeypatch, qapp):
    from stashdesk.ui import theme

    assert not theme.icon("app").isNull()
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert theme.icon("app").isNull()  # no cached folder: the override takes effect at once
    assert theme.style_sheet() == theme.EXTRA_STYLE


def test_the_windows_icon_holds_seven_sizes():
    data = (REPO / "resources/icons/stashdesk.ico").read_bytes()
    reserved, kind, count = struct.unpack_from("<HHH", data)
    assert (reserved, kind, count) == (0, 1, 7)
    widths = sorted(data[6 + 16 * i] or 256 for i in range(count))
    assert widths == [16, 24, 32, 48, 64, 128, 256]


def test_the_desktop_entry_starts_stashdesk_with_its_icon():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(REPO / "resources/stashdesk.desktop", encoding="utf-8")
    section = entry["Desktop Entry"]
    assert section["Type"] == "Application"
    assert section["Name"] == "StashDesk"
    assert section["Exec"] == "stashdesk"
    assert section["Icon"] == "stashdesk"
    assert section["StartupWMClass"] == "StashDesk"


def test_app_user_model_id_is_left_alone_off_windows():
    assert sys.platform != "win32"
    assert app_identity.set_app_user_model_id() is False


def test_app_user_model_id_is_set_on_windows(monkeypatch):
    calls = []

    class Shell32:
        def SetCurrentProcessExplicitAppUserModelID(self, app_id):
            calls.append(app_id)
            return 0

    class WinDLL:
        shell32 = Shell32()

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(ctypes, "windll", WinDLL(), raising=False)
    assert app_identity.set_app_user_model_id() is True
    assert calls == ["StashDesk.StashDesk"]

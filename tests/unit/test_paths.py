"""Where the data lives: --data-dir, else STASHDESK_DATA_DIR, else the platform's folder."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest

from stashdesk.paths import DataDirError, ensure_data_dir, resolve_data_dir


def test_command_line_wins_over_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("STASHDESK_DATA_DIR", str(tmp_path / "from-env"))
    assert resolve_data_dir(tmp_path / "from-cli") == (tmp_path / "from-cli").resolve()
    assert resolve_data_dir(None) == (tmp_path / "from-env").resolve()


def test_platform_folder_by_default(monkeypatch) -> None:
    monkeypatch.delenv("STASHDESK_DATA_DIR", raising=False)
    expected = Path(platformdirs.user_data_dir("StashDesk", appauthor=False)).resolve()
    assert resolve_data_dir(None) == expected


def test_a_new_data_folder_is_private(tmp_path: Path) -> None:
    folder = ensure_data_dir(tmp_path / "new" / "data")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """Make ``folder`` refuse new entries, also for root (the immutable attribute)."""
    if os.geteuid() == 0:
        if shutil.which("chattr") is None:
            pytest.skip("running as root without chattr: cannot make a folder unwritable")
        subprocess.run(["chattr", "+i", str(folder)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
    else:
        mode = folder.stat().st_mode
        os.chmod(folder, 0o500)
        try:
            yield
        finally:
            os.chmod(folder, stat.S_IMODE(mode))


def test_an_existing_open_folder_is_tightened_to_owner_only(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    assert ensure_data_dir(folder) == folder
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert list(folder.iterdir()) == []  # the write check leaves nothing behind


def test_a_file_in_place_of_the_folder(tmp_path: Path) -> None:
    target = tmp_path / "data"
    target.write_text("not a folder")
    with pytest.raises(DataDirError) as caught:
        ensure_data_dir(target)
    assert str(caught.value) == (
        f"the data folder {target} is a file, not a folder - move that file away, or choose "
        f"another folder with --data-dir (or STASHDESK_DATA_DIR)"
    )
    assert target.read_text() == "not a folder"


def test_a_file_in_the_way_of_the_folder(tmp_path: Path) -> None:
    (tmp_path / "parent").write_text("x")
    with pytest.raises(DataDirError, match="cannot be created: a part of that path is a file"):
        ensure_data_dir(tmp_path / "parent" / "data")


def test_a_folder_that_cannot_be_created(tmp_path: Path) -> None:
    parent = tmp_path / "locked"
    parent.mkdir()
    with unwritable(parent), pytest.raises(DataDirError) as caught:
        ensure_data_dir(parent / "data")
    message = str(caught.value)
    assert message.startswith(f"the data folder {parent / 'data'} cannot be created (")
    assert "create it with write permission for this user" in message
    assert "\n" not in message
    assert not (parent / "data").exists()


def test_a_folder_that_is_not_writable(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o700)
    with unwritable(folder), pytest.raises(DataDirError) as caught:
        ensure_data_dir(folder)
    message = str(caught.value)
    assert message.startswith(f"the data folder {folder} is not writable (")
    assert "give this user write permission on it" in message


def test_a_dangling_symlink(tmp_path: Path) -> None:
    link = tmp_path / "data"
    link.symlink_to(tmp_path / "gone")
    with pytest.raises(DataDirError, match="is a symlink to .*gone, which does not exist"):
        ensure_data_dir(link)


def test_the_engine_refuses_a_bad_data_folder_before_touching_anything(tmp_path: Path) -> None:
    from stashdesk.app import Services

    target = tmp_path / "data"
    target.write_text("x")
    with pytest.raises(DataDirError):
        Services(target, use_keyring=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]

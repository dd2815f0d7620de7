"""The placement rules on their own: names, symlinks, conflicts, copies and temporary files.

The torrents here are plain objects shaped like what qBittorrent reports, so that
cases qBittorrent itself would not produce (absolute names, a '..' torrent name
from a crafted client) are covered too; the integration tests use the real thing.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stashdesk.downloads import placement
from stashdesk.downloads.placement import (
    Placement,
    PlacementCancelled,
    PlacementError,
    TorrentRejected,
    copy_file,
    is_temp_name,
    place_torrent,
    plan_torrent,
    remove_temp_files,
    temp_path_for,
    unsafe_component,
    unsafe_relative,
)


@dataclass
class FakeTorrent:
    name: str
    save_path: str
    content_path: str
    hash: str = "0" * 40


@dataclass
class FakeFile:
    name: str
    size: int
    priority: int = 1


@dataclass
class Setup:
    save: Path
    library: Path
    files: dict[str, bytes] = field(default_factory=dict)

    def torrent(self, name: str = "Pack", content: str | None = None) -> FakeTorrent:
        return FakeTorrent(name, str(self.save), str(self.save / (content or name)))

    def listing(self) -> list[FakeFile]:
        return [FakeFile(n, len(d)) for n, d in self.files.items()]


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    save = tmp_path / "dl" / "save"
    library = tmp_path / "library"
    library.mkdir()
    files = {"Pack/a.mkv": b"a" * 1000, "Pack/sub/b.nfo": b"b" * 10}
    for name, data in files.items():
        (save / name).parent.mkdir(parents=True, exist_ok=True)
        (save / name).write_bytes(data)
    return Setup(save, library, files)


def place(plan, **kwargs) -> Placement:
    done = Placement()
    place_torrent(plan, done, lambda: False, lambda n: None, **kwargs)
    return done


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("", "is empty"),
        ("..", 'contains ".."'),
        ("../x", 'contains ".."'),
        ("a/../../b", 'contains ".."'),
        ("/etc", "is an absolute path"),
        ("a/b", "contains a path separator"),
        (".", 'is "."'),
        ("a\x00b", "contains a NUL character"),
    ],
)
def test_unsafe_torrent_names(name: str, problem: str) -> None:
    assert unsafe_component(name) == problem


@pytest.mark.parametrize("name", ["Movie", "Movie (2020) [1080p]", "..Movie..", "a.b", "é"])
def test_plain_torrent_names(name: str) -> None:
    assert unsafe_component(name) is None


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("../x", 'contains ".."'),
        ("Pack/../../x", 'contains ".."'),
        ("/etc/passwd", "is an absolute path"),
        ("Pack//x", 'contains an empty or "." component'),
        ("Pack/./x", 'contains an empty or "." component'),
        ("", "is empty"),
    ],
)
def test_unsafe_file_paths(path: str, problem: str) -> None:
    assert unsafe_relative(path) == problem


def test_a_multi_file_torrent_goes_under_its_name(setup: Setup) -> None:
    plan = plan_torrent(
        setup.torrent("Renamed", content="Pack"), setup.listing(), str(setup.library)
    )
    assert plan.root == str(setup.library / "Renamed")
    assert [(f.name, f.destination) for f in plan.files] == [
        ("Pack/a.mkv", str(setup.library / "Renamed" / "a.mkv")),
        ("Pack/sub/b.nfo", str(setup.library / "Renamed" / "sub" / "b.nfo")),
    ]
    assert not (setup.library / "Renamed").exists()  # planning writes nothing


def test_a_single_file_torrent_goes_straight_into_the_library(setup: Setup) -> None:
    (setup.save / "film.mp4").write_bytes(b"f" * 50)
    plan = plan_torrent(setup.torrent("film.mp4"), [FakeFile("film.mp4", 50)], str(setup.library))
    assert plan.root == str(setup.library / "film.mp4")
    assert [f.destination for f in plan.files] == [str(setup.library / "film.mp4")]


def test_a_folder_holding_one_file_keeps_its_folder(setup: Setup) -> None:
    # qBittorrent reports content_path = the file itself for such a torrent.
    torrent = FakeTorrent("Pack", str(setup.save), str(setup.save / "Pack" / "a.mkv"))
    plan = plan_torrent(torrent, [FakeFile("Pack/a.mkv", 1000)], str(setup.library))
    assert [f.destination for f in plan.files] == [str(setup.library / "Pack" / "a.mkv")]


@pytest.mark.parametrize(
    ("torrent_name", "files", "reason"),
    [
        ("../up", None, "the torrent name '../up' contains \"..\""),
        ("Pack", [FakeFile("/etc/passwd", 5)], "the file name '/etc/passwd' is an absolute path"),
        ("Pack", [FakeFile("Pack/../../x", 5)], "the file name 'Pack/../../x' contains \"..\""),
    ],
)
def test_hostile_names_are_refused_before_anything_is_written(
    setup: Setup, torrent_name: str, files: list | None, reason: str
) -> None:
    torrent = setup.torrent(torrent_name, content="Pack")
    with pytest.raises(TorrentRejected) as refused:
        plan_torrent(torrent, files or setup.listing(), str(setup.library))
    assert refused.value.reason.startswith(reason)
    assert list(setup.library.iterdir()) == []


def test_content_outside_the_save_path_is_refused(setup: Setup, tmp_path: Path) -> None:
    torrent = FakeTorrent("Pack", str(setup.save), str(tmp_path / "elsewhere"))
    with pytest.raises(TorrentRejected, match="lies outside its save path"):
        plan_torrent(torrent, setup.listing(), str(setup.library))


def test_a_symlinked_content_folder_leading_elsewhere_is_refused(
    setup: Setup, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.mkv").write_bytes(b"a" * 1000)
    (setup.save / "Linked").symlink_to(elsewhere)
    with pytest.raises(TorrentRejected, match="leading outside the torrent's content"):
        plan_torrent(setup.torrent("Linked"), [FakeFile("Linked/a.mkv", 1000)], str(setup.library))


def test_a_symlinked_save_path_is_fine(setup: Setup, tmp_path: Path) -> None:
    (tmp_path / "mount").symlink_to(setup.save)
    torrent = FakeTorrent("Pack", str(tmp_path / "mount"), str(tmp_path / "mount" / "Pack"))
    plan = plan_torrent(torrent, setup.listing(), str(setup.library))
    assert [f.source for f in plan.files] == [
        str(setup.save / "Pack" / "a.mkv"),
        str(setup.save / "Pack" / "sub" / "b.nfo"),
    ]


def test_a_library_folder_that_is_a_symlink_leading_outside_is_refused(
    setup: Setup, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (setup.library / "Pack").symlink_to(outside)
    with pytest.raises(TorrentRejected, match="leads outside downloads.destination"):
        plan_torrent(setup.torrent(), setup.listing(), str(setup.library))
    assert list(outside.iterdir()) == []


def test_a_destination_symlink_is_never_overwritten(setup: Setup, tmp_path: Path) -> None:
    (setup.library / "Pack").mkdir()
    (setup.library / "Pack" / "a.mkv").symlink_to(tmp_path / "target")
    with pytest.raises(TorrentRejected, match="already exists as a symlink - not overwritten"):
        plan_torrent(setup.torrent(), setup.listing(), str(setup.library))


def test_a_changed_file_is_refused(setup: Setup) -> None:
    (setup.save / "Pack" / "a.mkv").write_bytes(b"short")
    with pytest.raises(
        TorrentRejected,
        match="content changed: .* is 5 bytes on disk but 1000 bytes in the torrent",
    ):
        plan_torrent(setup.torrent(), setup.listing(), str(setup.library))


def test_place_links_and_reports_each_file(setup: Setup) -> None:
    plan = plan_torrent(setup.torrent(), setup.listing(), str(setup.library))
    heard = []
    done = place(plan, on_placed=lambda f, method, new: heard.append((f.name, method, new)))
    assert heard == [("Pack/a.mkv", "linked", True), ("Pack/sub/b.nfo", "linked", True)]
    assert done.linked == 2 and done.bytes_placed == 1010
    again = place(plan_torrent(setup.torrent(), setup.listing(), str(setup.library)))
    assert again.linked == 0 and again.already_there == 2 and again.bytes_placed == 0
    assert [m for _f, m, _n in again.done] == ["linked", "linked"]


def test_a_file_appearing_between_planning_and_linking_is_not_overwritten(setup: Setup) -> None:
    plan = plan_torrent(setup.torrent(), setup.listing(), str(setup.library))
    (setup.library / "Pack").mkdir()
    (setup.library / "Pack" / "a.mkv").write_bytes(b"someone else's")
    with pytest.raises(TorrentRejected, match="already exists with different content"):
        place(plan)
    assert (setup.library / "Pack" / "a.mkv").read_bytes() == b"someone else's"


def test_link_errors_that_are_not_about_links_fail_the_run(setup: Setup, monkeypatch) -> None:
    plan = plan_torrent(setup.torrent(), setup.listing(), str(setup.library))

    def full(src, dst, *a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), dst)

    monkeypatch.setattr(os, "link", full)
    with pytest.raises(
        PlacementError,
        match="No space left on device - check that downloads.destination is writable",
    ):
        place(plan)


def test_copy_never_replaces_a_file_that_appeared_meanwhile(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 5000)
    destination = tmp_path / "dst.bin"

    def sneak_in(count: int) -> None:
        if not destination.exists():
            destination.write_bytes(b"theirs")

    with pytest.raises(TorrentRejected, match="appeared while it was being copied"):
        copy_file(str(source), str(destination), 5000, lambda: False, sneak_in)
    assert destination.read_bytes() == b"theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst.bin", "src.bin"]


def test_a_cancelled_copy_leaves_no_temporary_file(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(3 * placement.COPY_CHUNK))
    chunks = []
    with pytest.raises(PlacementCancelled):
        copy_file(
            str(source),
            str(tmp_path / "dst.bin"),
            source.stat().st_size,
            lambda: len(chunks) >= 1,
            chunks.append,
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.bin"]


def test_a_source_that_shrank_while_copying_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"x" * 100)
    with pytest.raises(TorrentRejected, match="gave 100 bytes instead of 200"):
        copy_file(str(source), str(tmp_path / "dst.bin"), 200, lambda: False, lambda n: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src.bin"]


def test_copy_without_hard_links_on_the_destination_renames(tmp_path: Path, monkeypatch) -> None:
    source = tmp_path / "src.bin"
    source.write_bytes(b"y" * 300)

    def no_links(src, dst, *a, **k):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM), src)

    monkeypatch.setattr(os, "link", no_links)
    copy_file(str(source), str(tmp_path / "dst.bin"), 300, lambda: False, lambda n: None)
    assert (tmp_path / "dst.bin").read_bytes() == b"y" * 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst.bin", "src.bin"]


def test_temporary_names_fit_and_are_recognised(tmp_path: Path) -> None:
    assert temp_path_for("/lib/Pack/a.mkv") == "/lib/Pack/.a.mkv.stashdesk-part"
    long_name = "n" * 250 + ".mkv"
    temp = os.path.basename(temp_path_for(f"/lib/{long_name}"))
    assert len(temp) <= 255 and is_temp_name(temp)
    assert not is_temp_name("a.mkv") and not is_temp_name(".hidden")


def test_remove_temp_files_only_touches_our_temporary_names(tmp_path: Path) -> None:
    pack = tmp_path / "Pack"
    (pack / "sub").mkdir(parents=True)
    for name in ("a.mkv", ".a.mkv.stashdesk-part", "sub/.b.stashdesk-part", ".keep"):
        (pack / name).write_bytes(b"x")
    removed = remove_temp_files(str(pack))
    assert sorted(os.path.relpath(p, pack) for p in removed) == [
        ".a.mkv.stashdesk-part",
        "sub/.b.stashdesk-part",
    ]
    assert sorted(p.name for p in pack.rglob("*")) == [".keep", "a.mkv", "sub"]
    single = tmp_path / "film.mp4"
    (tmp_path / ".film.mp4.stashdesk-part").write_bytes(b"x")
    assert remove_temp_files(str(single)) == [str(tmp_path / ".film.mp4.stashdesk-part")]


def test_a_same_sized_file_with_other_bytes_is_refused_not_counted_there(setup: Setup) -> None:
    (setup.library / "Pack").mkdir()
    other = setup.library / "Pack" / "a.mkv"
    other.write_bytes(b"a" * 700 + b"X" + b"a" * 299)  # 1000 bytes, like the torrent's file
    with pytest.raises(TorrentRejected) as caught:
        plan_torrent(setup.torrent(), setup.listing(), str(setup.library))
    assert caught.value.reason == (
        f"{other} already exists with different content (the same size, 1000 bytes, but "
        f"other bytes from byte 700) - not overwritten"
    )
    assert other.read_bytes()[700:701] == b"X"


def test_a_same_sized_copy_with_the_same_bytes_is_already_there(setup: Setup) -> None:
    (setup.library / "Pack" / "sub").mkdir(parents=True)
    (setup.library / "Pack" / "a.mkv").write_bytes(b"a" * 1000)  # a copy: another inode
    plan = plan_torrent(setup.torrent(), setup.listing(), str(setup.library))
    assert [(f.name, f.already) for f in plan.files] == [
        ("Pack/a.mkv", "existing"),
        ("Pack/sub/b.nfo", None),
    ]


def test_a_file_appearing_meanwhile_with_the_same_size_is_compared_too(setup: Setup) -> None:
    plan = plan_torrent(setup.torrent(), setup.listing(), str(setup.library))
    (setup.library / "Pack").mkdir()
    (setup.library / "Pack" / "a.mkv").write_bytes(b"z" * 1000)
    with pytest.raises(
        TorrentRejected,
        match=r"the same size, 1000 bytes, but other bytes "
        r"from byte 0\) - not overwritten",
    ):
        place(plan)
    assert (setup.library / "Pack" / "a.mkv").read_bytes() == b"z" * 1000


def test_comparing_large_files_streams_them_and_can_be_cancelled(tmp_path: Path) -> None:
    size = 3 * placement.COPY_CHUNK + 17
    first, second = tmp_path / "first", tmp_path / "second"
    data = os.urandom(size)
    first.write_bytes(data)
    second.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert placement.first_difference(str(first), str(second)) == size - 1
    second.write_bytes(data)
    assert placement.first_difference(str(first), str(second)) is None
    polls = []

    def cancel_on_second_chunk() -> bool:
        polls.append(1)
        return len(polls) > 1

    with pytest.raises(PlacementCancelled):
        placement.first_difference(str(first), str(second), cancel_on_second_chunk)

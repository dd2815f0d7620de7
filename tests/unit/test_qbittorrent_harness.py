"""Tests of the real-qbittorrent-nox harness; they also pin down what qBittorrent reports.

The assertions about states / paths document qBittorrent 4.5.2 behaviour that
the app relies on (see the docstring of ``tests/standins/qbittorrent_harness.py``).
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import qbittorrentapi

from tests.standins import qbittorrent_fixtures, qbittorrent_harness
from tests.standins.qbittorrent_harness import (
    COMPLETED_STATES,
    QBittorrentError,
    QBittorrentProcess,
    bdecode,
    bencode,
    info_hash,
    make_torrent,
    wait_for,
)

# --------------------------------------------------------------------------- helpers


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _pack(root: Path) -> Path:
    """A multi-file content folder ``root/Pack`` (files span several pieces)."""
    pack = root / "Pack"
    _write(pack / "b.txt", b"b" * 1000)
    _write(pack / "a.mkv", os.urandom(40_000))
    _write(pack / "sub" / "c.nfo", b"c" * 20_000)
    return pack


# --------------------------------------------------------------------------- bencode


def test_bencode_scalars_and_containers() -> None:
    assert bencode(0) == b"i0e"
    assert bencode(42) == b"i42e"
    assert bencode(-7) == b"i-7e"
    assert bencode(b"") == b"0:"
    assert bencode(b"spam") == b"4:spam"
    assert bencode("é") == b"2:\xc3\xa9"  # length in bytes, UTF-8
    assert bencode([]) == b"le"
    assert bencode(["spam", 1, [b"x"]]) == b"l4:spami1el1:xee"
    assert bencode({}) == b"de"
    # the classic BEP 3 examples; keys are sorted
    assert bencode({"spam": ["a", "b"], "cow": "moo"}) == b"d3:cow3:moo4:spaml1:a1:bee"
    assert bencode(
        {"publisher": "bob", "publisher-webpage": "www.example.com", "publisher.location": "home"}
    ) == (b"d9:publisher3:bob17:publisher-webpage15:www.example.com18:publisher.location4:homee")


def test_bencode_sorts_keys_as_raw_bytes() -> None:
    # "Z" (0x5a) < "a" (0x61) < "é" (0xc3 0xa9); bytes and str keys mix
    assert bencode({"é": 1, "a": 2, b"Z": 3}) == b"d1:Zi3e1:ai2e2:\xc3\xa9i1ee"


def test_bencode_rejects_unsupported() -> None:
    with pytest.raises(TypeError):
        bencode(True)
    with pytest.raises(TypeError):
        bencode(1.5)
    with pytest.raises(TypeError):
        bencode({1: "x"})
    with pytest.raises(ValueError):
        bencode({"a": 1, b"a": 2})


def test_bdecode_roundtrip() -> None:
    obj = {"info": {"name": "x", "files": [{"length": 3, "path": ["a", "b"]}]}, "n": -1}
    assert bdecode(bencode(obj)) == {
        b"info": {b"name": b"x", b"files": [{b"length": 3, b"path": [b"a", b"b"]}]},
        b"n": -1,
    }
    with pytest.raises(ValueError):
        bdecode(b"i1eX")


# --------------------------------------------------------------------------- make_torrent


def test_make_torrent_single_file(tmp_path: Path) -> None:
    data = os.urandom(40_000)  # 3 pieces of 16 KiB, the last one short
    content = _write(tmp_path / "movie.mkv", data)
    torrent, h = make_torrent(content)
    info = bdecode(torrent)[b"info"]
    assert info[b"name"] == b"movie.mkv"
    assert info[b"length"] == 40_000
    assert b"files" not in info
    assert info[b"piece length"] == 16384
    expected = b"".join(
        hashlib.sha1(data[i : i + 16384]).digest() for i in range(0, len(data), 16384)
    )
    assert info[b"pieces"] == expected
    assert h == hashlib.sha1(bencode(info)).hexdigest() == info_hash(torrent)
    assert len(h) == 40 and h == h.lower()


def test_make_torrent_multi_file_sorted_relative_paths(tmp_path: Path) -> None:
    pack = _pack(tmp_path)
    torrent, h = make_torrent(pack, name="Other Name", piece_length=32768)
    info = bdecode(torrent)[b"info"]
    assert info[b"name"] == b"Other Name"
    assert b"length" not in info
    assert [(f[b"path"], f[b"length"]) for f in info[b"files"]] == [
        ([b"a.mkv"], 40_000),
        ([b"b.txt"], 1000),
        ([b"sub", b"c.nfo"], 20_000),
    ]
    stream = b"".join((pack / p).read_bytes() for p in ("a.mkv", "b.txt", "sub/c.nfo"))
    assert len(info[b"pieces"]) == 20 * 2  # 61000 bytes / 32 KiB -> 2 pieces
    assert info[b"pieces"][:20] == hashlib.sha1(stream[:32768]).digest()
    assert info[b"pieces"][20:] == hashlib.sha1(stream[32768:]).digest()
    assert h == info_hash(torrent)


def test_make_torrent_file_list_override_is_verbatim(tmp_path: Path) -> None:
    payload = _write(tmp_path / "payload", b"p" * 10)
    torrent, _ = make_torrent(
        tmp_path / "whatever",
        name="../evil",
        file_list_override=[([".."], b"x"), (["/etc", "passwd"], payload), ("a/../b", b"")],
    )
    info = bdecode(torrent)[b"info"]
    assert info[b"name"] == b"../evil"
    assert [(f[b"path"], f[b"length"]) for f in info[b"files"]] == [
        ([b".."], 1),
        ([b"/etc", b"passwd"], 10),
        ([b"a/../b"], 0),
    ]
    assert info[b"pieces"] == hashlib.sha1(b"x" + b"p" * 10).digest()


def test_make_torrent_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        make_torrent(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError):
        make_torrent(tmp_path / "empty")
    with pytest.raises(ValueError):
        make_torrent(_write(tmp_path / "f", b"x"), piece_length=1000)


def test_wait_for_returns_value_or_times_out() -> None:
    calls = iter([0, None, "done"])
    assert wait_for(lambda: next(calls), timeout=5, interval=0.001) == "done"
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="the moon"):
        wait_for(lambda: False, timeout=0.1, interval=0.01, message=lambda: "the moon")
    assert time.monotonic() - started < 2


# --------------------------------------------------------------------------- plugin


def test_missing_binary_skips_locally_and_fails_on_ci(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(qbittorrent_fixtures, "find_qbittorrent_nox", lambda: None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="qbittorrent-nox not found"):
        qbittorrent_fixtures.require_qbittorrent_nox()
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        qbittorrent_fixtures.require_qbittorrent_nox()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        qbittorrent_fixtures.require_qbittorrent_nox()


def test_start_fails_cleanly_when_binary_exits(tmp_path: Path) -> None:
    process = QBittorrentProcess(binary="/bin/false", startup_timeout=10)
    with pytest.raises(QBittorrentError, match="exited with code 1"):
        process.start(tmp_path)
    assert not process.is_running()


# --------------------------------------------------------------------------- real qBittorrent


def test_fixture_is_marked_and_runs_on_loopback(
    qbittorrent: QBittorrentProcess, request: pytest.FixtureRequest
) -> None:
    assert request.node.get_closest_marker("qbittorrent") is not None
    assert qbittorrent.url == f"http://127.0.0.1:{qbittorrent.port}"
    assert (qbittorrent.username, qbittorrent.password) == ("admin", "adminadmin")
    assert qbittorrent.startup_seconds is not None and qbittorrent.startup_seconds < 30
    client = qbittorrent.client()
    assert client.app_version().startswith("v4.")
    prefs = client.app_preferences()
    assert prefs["web_ui_address"] == "127.0.0.1"
    assert prefs["web_ui_port"] == qbittorrent.port
    assert prefs["listen_port"] == qbittorrent.bt_port != qbittorrent.port
    assert prefs["current_interface_address"] == "127.0.0.1"
    assert (prefs["dht"], prefs["pex"], prefs["lsd"], prefs["upnp"]) == (False,) * 4
    assert prefs["queueing_enabled"] is False
    assert prefs["bypass_local_auth"] is False  # login is really required
    assert client.torrents_info() == []
    # unauthenticated requests are refused
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{qbittorrent.url}/api/v2/app/version", timeout=5)
    assert refused.value.code == 403
    refused.value.close()


def test_info_hash_matches_qbittorrent(qbittorrent: QBittorrentProcess, tmp_path: Path) -> None:
    content = _write(tmp_path / "dl" / "file.bin", os.urandom(70_000))
    _, expected = make_torrent(content)
    h = qbittorrent.add_completed_torrent(content)
    assert h == expected
    info = qbittorrent.torrent(h)
    assert info is not None
    assert info["hash"] == expected
    assert info["infohash_v1"] == expected


def test_single_file_torrent_completes(qbittorrent: QBittorrentProcess, tmp_path: Path) -> None:
    dl = tmp_path / "dl"
    content = _write(dl / "Movie.2020.mkv", os.urandom(100_000))
    h = qbittorrent.add_completed_torrent(content)
    info = qbittorrent.torrent(h)
    assert info is not None
    assert info["progress"] == 1.0
    assert info["amount_left"] == 0
    assert info["size"] == 100_000
    assert info["state"] == "stalledUP"  # no peers: a seeding torrent is stalled
    assert info["state"] in COMPLETED_STATES
    assert info["completion_on"] > 0
    assert info["name"] == "Movie.2020.mkv"
    assert info["save_path"] == str(dl)
    assert info["content_path"] == str(content)
    assert qbittorrent.file_names(h) == ["Movie.2020.mkv"]
    assert content.read_bytes()  # untouched


def test_multi_file_torrent_completes(qbittorrent: QBittorrentProcess, tmp_path: Path) -> None:
    pack = _pack(tmp_path / "dl")
    h = qbittorrent.add_completed_torrent(pack)
    info = qbittorrent.torrent(h)
    assert info is not None
    assert info["progress"] == 1.0
    assert info["state"] == "stalledUP"
    assert info["name"] == "Pack"
    assert info["save_path"] == str(tmp_path / "dl")
    assert info["content_path"] == str(pack)
    files = qbittorrent.api.torrents_files(torrent_hash=h)
    assert [f["name"] for f in files] == ["Pack/a.mkv", "Pack/b.txt", "Pack/sub/c.nfo"]
    assert [f["size"] for f in files] == [40_000, 1000, 20_000]
    assert all(f["progress"] == 1.0 for f in files)


def test_tags_category_and_display_name(qbittorrent: QBittorrentProcess, tmp_path: Path) -> None:
    content = _write(tmp_path / "dl" / "clip.mp4", b"v" * 5000)
    h = qbittorrent.add_completed_torrent(
        content, category="stash", tags=["new", "scene"], name="Nice Display Name"
    )
    info = qbittorrent.torrent(h)
    assert info is not None
    assert info["category"] == "stash"
    assert sorted(t.strip() for t in info["tags"].split(",")) == ["new", "scene"]
    assert info["name"] == "Nice Display Name"  # display name only...
    assert info["content_path"] == str(content)  # ...the files keep their names
    assert qbittorrent.file_names(h) == ["clip.mp4"]
    assert "stash" in qbittorrent.api.torrents_categories()
    assert set(qbittorrent.api.torrents_tags()) >= {"new", "scene"}
    # the category's save path does not override the explicit one (no auto TMM)
    assert info["save_path"] == str(tmp_path / "dl")
    assert info["auto_tmm"] is False

    plain = qbittorrent.add_completed_torrent(
        _write(tmp_path / "dl2" / "x.bin", b"x"), category=None
    )
    info = qbittorrent.torrent(plain)
    assert info is not None
    assert (info["category"], info["tags"]) == ("", "")


def test_remove_all(qbittorrent: QBittorrentProcess, tmp_path: Path) -> None:
    content = _write(tmp_path / "dl" / "f.bin", b"f" * 100)
    qbittorrent.add_completed_torrent(content, category="c1", tags=["t1"])
    qbittorrent.remove_all()
    assert qbittorrent.api.torrents_info() == []
    assert list(qbittorrent.api.torrents_tags()) == []
    assert dict(qbittorrent.api.torrents_categories()) == {}
    assert content.exists()


# --------------------------------------------------------------------------- missing content


@pytest.mark.parametrize("mode", ["empty", "recheck"])
def test_missing_content_is_stalled_download(
    qbittorrent: QBittorrentProcess, tmp_path: Path, mode: str
) -> None:
    content = _write(tmp_path / "dl" / "gone.bin", os.urandom(30_000))
    h = qbittorrent.add_missing_torrent(content, mode=mode)
    info = qbittorrent.torrent(h)
    assert info is not None
    assert info["state"] == "stalledDL"
    assert info["progress"] == 0.0
    assert info["amount_left"] == info["size"] == 30_000
    assert not Path(info["content_path"]).exists()
    assert info["content_path"] == str(Path(info["save_path"]) / "gone.bin")
    if mode == "empty":
        assert info["save_path"] != str(tmp_path / "dl")
        assert content.exists()
        assert info["completion_on"] == 0
    else:
        assert info["save_path"] == str(tmp_path / "dl")
        assert not content.exists()
        assert info["completion_on"] > 0  # it *was* completed once


def test_deleted_content_goes_unnoticed_without_recheck(
    qbittorrent: QBittorrentProcess, tmp_path: Path
) -> None:
    content = _pack(tmp_path / "dl")
    h = qbittorrent.add_missing_torrent(content, mode="deleted")
    time.sleep(0.5)  # several refresh intervals: qBittorrent still believes it has it
    info = qbittorrent.torrent(h)
    assert info is not None
    assert info["state"] == "stalledUP"
    assert info["progress"] == 1.0
    assert info["content_path"] == str(content)
    assert not content.exists()


def test_missing_content_after_restart_is_missing_files(
    qbittorrent: QBittorrentProcess, tmp_path: Path
) -> None:
    content = _pack(tmp_path / "dl")
    h = qbittorrent.add_missing_torrent(content, mode="restart")
    info = qbittorrent.torrent(h)
    assert info is not None
    assert info["state"] == "missingFiles"
    assert info["progress"] == 0.0
    assert info["amount_left"] == info["size"]
    assert info["content_path"] == str(content)
    assert not content.exists()
    assert "fast resume rejected" in qbittorrent.qbt_log_path.read_text(errors="replace")


# --------------------------------------------------------------------------- restart


def test_restart_on_same_port_keeps_torrents(
    qbittorrent: QBittorrentProcess, tmp_path: Path
) -> None:
    single = _write(tmp_path / "dl" / "one.bin", os.urandom(20_000))
    pack = _pack(tmp_path / "dl")
    h1 = qbittorrent.add_completed_torrent(single, category="stash", tags=["t"])
    h2 = qbittorrent.add_completed_torrent(pack, category="other")
    app_client = qbittorrent.client()  # as the app would hold one
    url, port, pid = qbittorrent.url, qbittorrent.port, qbittorrent.pid

    assert qbittorrent.stop() == 0  # graceful exit
    assert not qbittorrent.is_running()
    with pytest.raises(qbittorrentapi.APIConnectionError):
        app_client.torrents_info()

    qbittorrent.start()
    assert (qbittorrent.url, qbittorrent.port) == (url, port)
    assert qbittorrent.pid != pid
    for h in (h1, h2):
        qbittorrent.wait_until_complete(h)  # briefly "checkingResumeData" first
    info1, info2 = qbittorrent.torrent(h1), qbittorrent.torrent(h2)
    assert info1 is not None and info2 is not None
    assert (info1["category"], info1["tags"], info1["content_path"]) == ("stash", "t", str(single))
    assert (info2["category"], info2["content_path"]) == ("other", str(pack))
    # a client from before the restart logs in again by itself
    assert {t["hash"] for t in app_client.torrents_info()} == {h1, h2}


def test_set_password_persists_and_failed_logins_do_not_ban(
    qbittorrent: QBittorrentProcess,
) -> None:
    qbittorrent.set_password("s3cret-pass")
    for _ in range(8):  # more than the default ban threshold (5)
        wrong = qbittorrentapi.Client(host=qbittorrent.url, username="admin", password="adminadmin")
        with pytest.raises(qbittorrentapi.LoginFailed):
            wrong.auth_log_in()
        del wrong
    assert qbittorrent.client().app_version()
    qbittorrent.restart()
    assert qbittorrent.password == "s3cret-pass"
    assert qbittorrent.client().app_version()


def test_two_instances_side_by_side(qbittorrent_factory) -> None:
    a, b = qbittorrent_factory(), qbittorrent_factory()
    assert len({a.port, a.bt_port, b.port, b.bt_port}) == 4
    assert a.profile != b.profile
    assert a.api.app_preferences()["save_path"] != b.api.app_preferences()["save_path"]


# --------------------------------------------------------------------------- hostile names


def test_hostile_file_list_is_sanitised_by_qbittorrent(
    qbittorrent: QBittorrentProcess, tmp_path: Path
) -> None:
    save = tmp_path / "sandbox" / "dl"
    save.mkdir(parents=True)
    entries = [
        (["..", "escape.txt"], b"E" * 100),
        (["/etc", "passwd"], b"P" * 30),
        ("sub/../../x.txt", b"X" * 30),  # ONE component containing separators
        (["ok.txt"], b"O" * 50),
    ]
    torrent, h = make_torrent(save / "hostile", file_list_override=entries)
    # qBittorrent (libtorrent) looks for the data at these sanitised names:
    sanitised = [
        "hostile/escape.txt",
        "hostile/etc/passwd",
        "hostile/sub....x.txt",
        "hostile/ok.txt",
    ]
    for rel, (_, data) in zip(sanitised, entries, strict=True):
        _write(save / rel, data)
    qbittorrent.add_torrent_bytes(torrent, h, save_path=save)
    info = qbittorrent.wait_until_complete(h)
    assert qbittorrent.file_names(h) == sanitised
    assert info["content_path"] == str(save / "hostile")
    assert info["save_path"] == str(save)
    assert not (save.parent / "escape.txt").exists()
    assert not (tmp_path / "x.txt").exists()


def test_hostile_torrent_names_are_sanitised(
    qbittorrent: QBittorrentProcess, tmp_path: Path
) -> None:
    save = tmp_path / "sandbox" / "dl"
    save.mkdir(parents=True)
    data = b"evil" * 100
    src = _write(tmp_path / "src.bin", data)

    torrent, h = make_torrent(src, name="../../evil.bin")
    _write(save / "....evil.bin", data)
    qbittorrent.add_torrent_bytes(torrent, h, save_path=save)
    info = qbittorrent.wait_until_complete(h)
    assert info["name"] == "....evil.bin"
    assert info["content_path"] == str(save / "....evil.bin")
    assert qbittorrent.file_names(h) == ["....evil.bin"]

    torrent, h = make_torrent(src, name="/tmp/abs.bin")
    _write(save / "tmpabs.bin", data)
    qbittorrent.add_torrent_bytes(torrent, h, save_path=save)
    info = qbittorrent.wait_until_complete(h)
    assert info["content_path"] == str(save / "tmpabs.bin")

    # a multi-file torrent named ".." is renamed to its info-hash
    torrent, h = make_torrent(save, name="..", file_list_override=[(["a.txt"], b"a")])
    qbittorrent.add_torrent_bytes(torrent, h, save_path=save)
    info = qbittorrent.wait_for_state(h, {"stalledDL"})
    assert info["name"] == h
    assert qbittorrent.file_names(h) == [f"{h}/a.txt"]
    assert info["content_path"] == str(save / h / "a.txt")


def test_rename_file_with_dotdot_escapes_save_path(
    qbittorrent: QBittorrentProcess, tmp_path: Path
) -> None:
    save = tmp_path / "sandbox" / "dl"
    content = _write(save / "video.mp4", b"m" * 30_000)
    h = qbittorrent.add_escaping_torrent(content, escape_to="../escaped.mp4")
    info = qbittorrent.torrent(h)
    assert info is not None
    assert info["progress"] == 1.0 and info["state"] in COMPLETED_STATES
    assert qbittorrent.file_names(h) == ["../escaped.mp4"]
    assert info["save_path"] == str(save)
    # content_path leaves the save path (reported normalised, without "..")
    assert info["content_path"] == str(tmp_path / "sandbox" / "escaped.mp4")
    # ...and libtorrent really moved the file there
    assert not content.exists()
    assert (tmp_path / "sandbox" / "escaped.mp4").read_bytes() == b"m" * 30_000

    with pytest.raises(qbittorrentapi.Conflict409Error, match="Absolute path"):
        qbittorrent.api.torrents_rename_file(
            torrent_hash=h, old_path="../escaped.mp4", new_path="/tmp/abs.mp4"
        )


def test_rename_one_file_or_folder_of_multi_file_torrent(
    qbittorrent: QBittorrentProcess, tmp_path: Path
) -> None:
    sandbox = tmp_path / "sandbox"
    save = sandbox / "dl"
    pack = _pack(save)
    h = qbittorrent.add_escaping_torrent(pack, escape_to="Pack/../../outside.mkv")
    # qBittorrent cleans the new path but keeps the leading ".."
    assert qbittorrent.file_names(h) == ["../outside.mkv", "Pack/b.txt", "Pack/sub/c.nfo"]
    info = qbittorrent.torrent(h)
    assert info is not None
    # first components differ ("..", "Pack"): content_path is the save path itself
    assert info["content_path"] == str(save)
    assert (sandbox / "outside.mkv").is_file()

    qbittorrent.rename_folder(h, "Pack", "../Pack")
    info = qbittorrent.wait_until_complete(h)
    assert qbittorrent.file_names(h) == ["../outside.mkv", "../Pack/b.txt", "../Pack/sub/c.nfo"]
    # all files start with "..": content_path = save_path/.., normalised, OUTSIDE save_path
    assert info["content_path"] == str(sandbox)
    assert info["save_path"] == str(save)
    assert (sandbox / "Pack" / "sub" / "c.nfo").is_file()
    assert not pack.exists()  # the emptied folder is removed

    qbittorrent.restart()
    info = qbittorrent.wait_until_complete(h)
    assert qbittorrent.file_names(h)[1] == "../Pack/b.txt"
    assert info["content_path"] == str(sandbox)


def test_symlinked_content_completes(qbittorrent: QBittorrentProcess, tmp_path: Path) -> None:
    secret = _write(tmp_path / "outside" / "secret.txt", b"top secret" * 100)
    pack = tmp_path / "dl" / "Pack"
    _write(pack / "real.txt", b"r" * 100)
    (pack / "link.txt").symlink_to(secret)
    h = qbittorrent.add_completed_torrent(pack)
    info = qbittorrent.torrent(h)
    assert info is not None
    assert info["content_path"] == str(pack)
    assert qbittorrent.file_names(h) == ["Pack/link.txt", "Pack/real.txt"]
    assert (pack / "link.txt").is_symlink()  # qBittorrent left the link alone


def test_port_clash_on_first_start_is_retried(
    qbittorrent_factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = qbittorrent_factory()
    real_free_port = qbittorrent_harness._free_port
    handed_out = []

    def clashing_free_port(udp_too: bool = False) -> int:
        # the first WebUI port offered is the one `first` is already using
        port = first.port if not handed_out else real_free_port(udp_too)
        handed_out.append(port)
        return port

    monkeypatch.setattr(qbittorrent_harness, "_free_port", clashing_free_port)
    second = qbittorrent_factory()
    assert handed_out[0] == first.port
    assert second.port != first.port
    assert second.is_running() and first.is_running()
    assert second.api.app_preferences()["save_path"] == str(second.downloads)


def test_crash_then_restart_keeps_torrents(qbittorrent: QBittorrentProcess, tmp_path: Path) -> None:
    content = _write(tmp_path / "dl" / "a.bin", os.urandom(20_000))
    h = qbittorrent.add_completed_torrent(content, tags=["t"])
    qbittorrent.kill()  # SIGKILL: resume data was already written when it was added
    assert not qbittorrent.is_running()
    qbittorrent.start()
    info = qbittorrent.wait_until_complete(h)
    assert (info["tags"], info["category"], info["content_path"]) == ("t", "stash", str(content))

"""probe_duration runs ffprobe as a program of the system, also from a frozen build.

The stand-in ffprobe is a real executable script that prints, as the "duration", how
many characters of LD_LIBRARY_PATH it was started with, so the test sees exactly the
environment the child process got.
"""

from __future__ import annotations

import sys

import pytest

from stashdesk.downloads.media import probe_duration

FFPROBE = '#!/bin/sh\nprintf "%s.5\\n" "${#LD_LIBRARY_PATH}"\n'


@pytest.fixture
def ffprobe(tmp_path):
    script = tmp_path / "ffprobe"
    script.write_text(FFPROBE, encoding="utf-8")
    script.chmod(0o755)
    return str(script)


def test_from_source_ffprobe_gets_the_environment_as_it_is(monkeypatch, ffprobe):
    monkeypatch.delattr(sys, "frozen", raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/x")
    assert probe_duration(ffprobe, "video.mkv") == 6.5


def test_a_frozen_build_keeps_its_bundled_libraries_from_ffprobe(monkeypatch, ffprobe):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/stashdesk/_internal")  # the bootloader's
    monkeypatch.delenv("LD_LIBRARY_PATH_ORIG", raising=False)
    assert probe_duration(ffprobe, "video.mkv") == 0.5


def test_a_frozen_build_gives_ffprobe_the_users_own_library_path(monkeypatch, ffprobe):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", "/opt/stashdesk/_internal:/usr/local/lib")
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/usr/local/lib")
    assert probe_duration(ffprobe, "video.mkv") == 14.5

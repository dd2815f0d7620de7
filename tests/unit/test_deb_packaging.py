"""The Debian package's sources (packaging/debian/), checked without building the package.

scripts/build_deb.sh builds it and scripts/check_deb.sh installs, runs and purges it
(both in .ci/run); here the unit, the desktop entry, the metainfo and the maintainer
scripts are read, and validated with systemd-analyze, desktop-file-validate and
appstreamcli, the same tools the build uses (installed by `scripts/setup.sh test`).
"""

from __future__ import annotations

import re
import shlex
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

import stashdesk
from stashdesk.cli import build_parser
from tests.cli_helpers import REPO

DEBIAN = REPO / "packaging" / "debian"
UNIT = DEBIAN / "stashdesk-engine.service"
METAINFO = DEBIAN / "org.stashdesk.StashDesk.metainfo.xml.in"
DESKTOP = REPO / "resources" / "stashdesk.desktop"
BUILD_DEB = REPO / "scripts" / "build_deb.sh"
DATA_DIR = "/var/lib/stashdesk"


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (scripts/setup.sh test installs it)")
    return path


def unit_sections(text: str) -> dict[str, dict[str, list[str]]]:
    """The unit's sections as {section: {key: [values in order]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


@pytest.fixture(scope="module")
def service() -> dict[str, list[str]]:
    return unit_sections(UNIT.read_text(encoding="utf-8"))["Service"]


def test_the_unit_runs_the_headless_engine_on_its_data_folder_as_its_own_user(service):
    assert service["Type"] == ["simple"]
    assert service["User"] == ["stashdesk"] and service["Group"] == ["stashdesk"]
    [exec_start] = service["ExecStart"]
    program, *args = shlex.split(exec_start)
    assert program == "/usr/bin/stashdesk"
    parsed = build_parser().parse_args(args)  # the arguments the real CLI takes
    assert parsed.headless is True and parsed.command is None
    assert parsed.data_dir == DATA_DIR
    # StateDirectory= makes that folder (and only it) writable under ProtectSystem=strict.
    assert service["StateDirectory"] == [Path(DATA_DIR).name]
    assert service["StateDirectoryMode"] == ["0700"]
    assert service["Restart"] == ["on-failure"]
    assert service["Environment"] == ["STASHDESK_NO_KEYRING=1"]


def test_the_unit_is_hardened(service):
    expected = {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "ProtectKernelTunables": "yes",
        "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes",
        "ProtectControlGroups": "yes",
        "ProtectClock": "yes",
        "ProtectHostname": "yes",
        "ProtectProc": "invisible",
        "RestrictNamespaces": "yes",
        "RestrictRealtime": "yes",
        "RestrictSUIDSGID": "yes",
        "LockPersonality": "yes",
        "RemoveIPC": "yes",
        "CapabilityBoundingSet": "",
        "AmbientCapabilities": "",
        "SystemCallArchitectures": "native",
    }
    assert {key: service.get(key, [None])[-1] for key in expected} == expected
    assert service["SystemCallFilter"] == ["@system-service", "~@privileged"]
    assert set(service["RestrictAddressFamilies"][-1].split()) == {
        "AF_UNIX",
        "AF_INET",
        "AF_INET6",
        "AF_NETLINK",
    }
    # Nothing may make the rest of the file system writable behind ProtectSystem's back.
    assert "ReadWritePaths" not in service and "ProtectSystem" in service


def test_the_unit_is_installed_disabled():
    install = unit_sections(UNIT.read_text(encoding="utf-8"))["Install"]
    assert install == {"WantedBy": ["multi-user.target"]}  # what `systemctl enable` uses
    for script in ("postinst", "prerm", "postrm"):
        text = re.sub(r"(?m)^\s*#.*$", "", (DEBIAN / script).read_text(encoding="utf-8"))
        assert not re.search(r"(deb-systemd-helper|systemctl)\s+(--\S+\s+)*enable", text), script
    # update-state records the unit, so the purge removes an admin's enable symlinks too.
    assert "deb-systemd-helper update-state" in (DEBIAN / "postinst").read_text()
    assert "deb-systemd-helper purge" in (DEBIAN / "postrm").read_text()


def test_systemd_analyze_verifies_the_unit_and_rates_it(tmp_path):
    systemd_analyze = tool("systemd-analyze")
    # verify wants ExecStart's program to exist: a stand-in for /usr/bin/stashdesk.
    program = tmp_path / "stashdesk"
    program.write_text("#!/bin/sh\n", encoding="utf-8")
    program.chmod(0o755)
    unit = tmp_path / UNIT.name
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace(
            "ExecStart=/usr/bin/stashdesk ", f"ExecStart={program} "
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        [systemd_analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ""
    done = subprocess.run(
        [systemd_analyze, "security", "--offline=yes", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    verdict = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", done.stdout)
    assert verdict, done.stdout + done.stderr
    print(f"systemd-analyze security: exposure {verdict[1]} {verdict[2]}")
    assert verdict[2] in ("OK", "SAFE")


def test_the_maintainer_scripts_make_the_engines_user_and_data_folder():
    postinst = (DEBIAN / "postinst").read_text(encoding="utf-8")
    assert f"DATA_DIR={DATA_DIR}" in postinst
    assert re.search(r'adduser --system --group --home "\$DATA_DIR" .*stashdesk', postinst)
    assert 'install -d -m 0700 -o stashdesk -g stashdesk "$DATA_DIR"' in postinst
    postrm = (DEBIAN / "postrm").read_text(encoding="utf-8")
    assert "rm " not in postrm and "deluser" not in postrm  # the data and its owner stay
    for script in ("postinst", "prerm", "postrm"):
        path = DEBIAN / script
        assert path.stat().st_mode & 0o111, f"{script} is not executable"
        done = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_the_desktop_entry_is_valid():
    done = subprocess.run(
        [tool("desktop-file-validate"), str(DESKTOP)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout
    assert done.stdout.strip() == "", done.stdout  # no error, warning or hint


def render_metainfo(screenshots_url: str | None) -> str:
    """The metainfo as build_deb.sh writes it."""
    text = (
        METAINFO.read_text(encoding="utf-8")
        .replace("@VERSION@", stashdesk.__version__)
        .replace("@DATE@", "2025-12-02")
    )
    if screenshots_url is None:
        return re.sub(r"^[ \t]*<screenshots>.*?</screenshots>[ \t]*\n", "", text, flags=re.S | re.M)
    return text.replace("@SCREENSHOTS_URL@", screenshots_url)


@pytest.mark.parametrize("screenshots_url", ["https://example.org/docs/screenshots", None])
def test_the_metainfo_is_valid(tmp_path, screenshots_url):
    appstreamcli = tool("appstreamcli")
    metainfo = tmp_path / "org.stashdesk.StashDesk.metainfo.xml"
    metainfo.write_text(render_metainfo(screenshots_url), encoding="utf-8")
    assert "@" not in re.sub(r"<!--.*?-->", "", metainfo.read_text(), flags=re.S)
    done = subprocess.run(
        [appstreamcli, "validate", "--no-net", str(metainfo)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert ("<screenshot" in metainfo.read_text()) == (screenshots_url is not None)


def test_the_metainfo_shows_every_screenshot_at_its_size_and_launches_the_entry():
    text = METAINFO.read_text(encoding="utf-8")
    images = re.findall(
        r'<image type="source" width="(\d+)" height="(\d+)">'
        r"@SCREENSHOTS_URL@/([\w-]+\.png)</image>",
        text,
    )
    shots = REPO / "docs" / "screenshots"
    assert sorted(name for _w, _h, name in images) == sorted(p.name for p in shots.glob("*.png"))
    for width, height, name in images:
        header = (shots / name).read_bytes()[:24]
        assert struct.unpack(">II", header[16:24]) == (int(width), int(height)), name
    assert f'<launchable type="desktop-id">{DESKTOP.name}</launchable>' in text
    assert '<release version="@VERSION@"' in text


def test_build_deb_fills_every_placeholder_of_the_templates():
    script = BUILD_DEB.read_text(encoding="utf-8")
    filled = set(re.findall(r"s\|(@[A-Z_]+@)\|", script))
    for template in (DEBIAN / "control.in", METAINFO):
        used = set(re.findall(r"@[A-Z_]+@", template.read_text(encoding="utf-8")))
        assert used and used <= filled, (template.name, used - filled)


def test_every_lintian_override_gives_its_reason():
    lines = (DEBIAN / "stashdesk.lintian-overrides").read_text(encoding="utf-8").splitlines()
    reason = False
    overrides = 0
    for line in lines:
        if line.startswith("#"):
            reason = reason or len(line.strip("# ")) > 20
        elif not line.strip():
            reason = False
        else:
            assert line.startswith("stashdesk: "), line
            assert reason, f"no reason written above: {line}"
            overrides += 1
    assert overrides

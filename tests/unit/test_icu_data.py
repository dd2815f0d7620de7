"""scripts/icu_data.py: the slim ICU data library the bundle ships, made from the real one.

PySide6's own libicudata (the one the bundle would carry) is read, rewritten without the
dropped items, linked with binutils and loaded by ICU's real libraries in a fresh process,
which probes collation, case mapping, converters and time-zone IDs through ctypes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts import icu_data
from tests.cli_helpers import REPO

SCRIPT = REPO / "scripts" / "icu_data.py"


@pytest.fixture(scope="module")
def qt_lib() -> Path:
    if not sys.platform.startswith("linux"):
        pytest.skip("PySide6 ships its own ICU on Linux only")
    from PySide6.QtCore import QLibraryInfo

    folder = Path(QLibraryInfo.path(QLibraryInfo.LibraryPath.LibrariesPath))
    if not list(folder.glob("libicudata.so.*")):
        pytest.skip(f"this PySide6 carries no ICU in {folder}")
    for name in ("readelf", "as", "ld"):
        if shutil.which(name) is None:
            pytest.skip(f"{name} is missing (binutils; scripts/setup.sh test installs it)")
    return folder


@pytest.fixture(scope="module")
def wheel_package(qt_lib) -> tuple[Path, str, bytes]:
    [library] = qt_lib.glob("libicudata.so.*")
    symbol, blob = icu_data.read_library(library)
    return library, symbol, blob


def icu_folder(tmp_path: Path, qt_lib: Path, data_library: Path) -> Path:
    """A folder with ICU's code libraries from PySide6 and ``data_library`` as their data."""
    folder = tmp_path / "icu"
    folder.mkdir()
    for code in ("libicuuc", "libicui18n"):
        [library] = qt_lib.glob(f"{code}.so.*")
        shutil.copy(library, folder / library.name)
    shutil.copy(data_library, folder / data_library.name)
    return folder


def check(folder: Path) -> subprocess.CompletedProcess:
    # A fresh process: this one has PySide6's ICU loaded, which would answer instead.
    return subprocess.run(
        [sys.executable, str(SCRIPT), "check", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_format_round_trips_byte_for_byte(wheel_package):
    _library, symbol, blob = wheel_package
    assert symbol.startswith("icudt") and symbol.endswith("_dat")
    package = icu_data.Package.parse(blob)
    assert len(package.items) > 1000
    names = [name for name, _data in package.items]
    assert names == sorted(names)  # ICU finds items by binary search
    assert package.to_bytes() == blob


def test_what_is_dropped_and_what_stays():
    kept = [
        "coll/root.res",
        "coll/de.res",
        "coll/ucadata.icu",
        "root.res",
        "pool.res",
        "res_index.res",
        "supplementalData.res",
        "zoneinfo64.res",
        "metaZones.res",
        "likelySubtags.res",
        "cnvalias.icu",
        "nfkc.nrm",
        "icudt73l/coll/sv.res",
    ]
    dropped = [
        "brkitr/char.brk",
        "lang/de.res",
        "region/fr.res",
        "curr/en.res",
        "unit/ja.res",
        "zone/de.res",
        "translit/root.res",
        "rbnf/en.res",
        "de.res",
        "en_US_POSIX.res",
        "sr_Latn.res",
        "ibm-1047_P100-1995.cnv",
        "rfc3491.spp",
        "icudt73l/de_CH.res",
    ]
    assert [name for name in kept if icu_data.dropped_because(name)] == []
    assert [name for name in dropped if not icu_data.dropped_because(name)] == []


def test_the_slim_library_keeps_what_qt_reaches(tmp_path, qt_lib, wheel_package):
    library, symbol, blob = wheel_package
    slim = tmp_path / "slim" / library.name
    result = icu_data.slim_library(library, slim)
    print(
        f"ICU data {result.before / 1e6:.1f} MB -> {result.after / 1e6:.1f} MB, "
        f"{result.kept} items kept, {result.dropped} dropped"
    )
    assert result.before == len(blob)
    assert result.after < result.before / 4
    assert icu_data.soname(slim) == icu_data.soname(library)
    slim_symbol, slim_blob = icu_data.read_library(slim)
    assert slim_symbol == symbol and len(slim_blob) == result.after
    kept = dict(icu_data.Package.parse(slim_blob).items)
    original = dict(icu_data.Package.parse(blob).items)
    assert len(kept) == result.kept and result.kept + result.dropped == len(original)
    assert all(original[name] == data for name, data in kept.items())  # copied as they were
    done = check(icu_folder(tmp_path, qt_lib, slim))
    assert done.returncode == 0, done.stderr
    assert "collation (sv, de), case mapping, converters and time-zone IDs work" in done.stdout


def test_the_check_fails_on_a_library_without_the_data(tmp_path, qt_lib, wheel_package):
    library, symbol, blob = wheel_package
    empty = icu_data.Package(icu_data.Package.parse(blob).header, [])
    broken = tmp_path / "broken" / library.name
    broken.parent.mkdir()
    icu_data.link_library(empty.to_bytes(), symbol, icu_data.soname(library), broken)
    done = check(icu_folder(tmp_path, qt_lib, broken))
    assert done.returncode == 1
    assert "ucol_open('sv') failed" in done.stderr
    assert "canonical ID of US/Eastern" in done.stderr


def test_a_file_that_is_no_icu_data_is_refused(tmp_path):
    with pytest.raises(icu_data.IcuDataError, match="magic"):
        icu_data.Package.parse(b"\0" * 64)
    if shutil.which("readelf") is None:
        pytest.skip("readelf is missing (binutils)")
    with pytest.raises(icu_data.IcuDataError, match="exports no icudtNN_dat"):
        icu_data.read_library(Path(sys.executable).resolve())

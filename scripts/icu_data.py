#!/usr/bin/env python3
"""A smaller ICU data library for the bundle: what Qt can reach stays, the rest goes.

PySide6's Linux wheels ship ICU (libicuuc, libicui18n and libicudata). libicudata.so.NN
is about 32 MB: one ICU "common data" package, exported as the symbol ``icudtNN_dat``,
holding data for every ICU service in every locale. Qt calls only a few ICU services
(the ICU functions libQt6Core imports, ``readelf --dyn-syms``): case mapping, collation
(QCollator; QFileDialog sorts its file list with it), code-page conversion by name
(QStringConverter) and time zones (canonical IDs, display names). ``slim`` rewrites the
package without the items (DROPPED, each with its reason) and links it back into a
``libicudata.so.NN`` with the same soname and symbol, so libicuuc loads it unchanged;
build_installer.spec puts that copy in the bundle. ``check`` proves ICU still works
from a folder's libraries: collation with a language's own rules, case mapping,
converters, time-zone IDs.

    python scripts/icu_data.py slim SRC.so DEST.so    write the slim copy, print sizes
    python scripts/icu_data.py check LIBDIR          probe ICU in LIBDIR (exit 1 if broken)

Linking needs binutils (``readelf``, ``as``, ``ld``). The package format (ICU's
``ucmndata.h``): a data header (``headerSize``, magic 0xda27, dataFormat "CmnD"), then
a table of contents at ``headerSize``: a count and (name offset, data offset) pairs,
both relative to the table; the names, sorted (ICU looks items up by binary search);
the items, each 16-byte aligned and ending where the next begins.
"""

from __future__ import annotations

import ctypes
import re
import struct
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Items left out, as (pattern on the item's name without the "icudtNNl/" prefix, why).
DROPPED: tuple[tuple[str, str], ...] = (
    (
        r"brkitr/",
        "break iterators and their dictionaries: Qt finds word and line breaks "
        "with its own Unicode tables",
    ),
    (
        r"(curr|lang|region|unit)/",
        "display names of currencies, languages, regions and "
        "units for ICU's formatters: Qt's QLocale carries its "
        "own CLDR data",
    ),
    (
        r"zone/",
        "localized time-zone names, only asked for by QTimeZone::displayName, which "
        "StashDesk never calls (it formats times in Python); zone IDs and rules stay",
    ),
    (r"(translit|rbnf)/", "transliteration and spelled-out numbers: Qt calls neither"),
    (
        r"(?!res_index)[a-z]{2,3}(_\w+)?\.res$",
        "each locale's date and number formats: Qt "
        "formats with its own CLDR data (the root "
        "locale and the locale index stay)",
    ),
    (
        r"[^/]*\.cnv$",
        "legacy code pages: StashDesk reads and writes UTF-8, which Qt "
        "converts itself; the alias table (cnvalias.icu) stays, so naming a "
        "missing code page fails cleanly",
    ),
    (r"[^/]*\.spp$", "StringPrep profiles (IDNA2003, XMPP, LDAP): Qt calls none"),
)
_DROPPED = [(re.compile(pattern), why) for pattern, why in DROPPED]
_MAGIC = b"\xda\x27"
_ALIGN = 16
_PAD = b"\xaa"  # what ICU's own tools pad with


class IcuDataError(Exception):
    """The library or package is not what this module can rewrite."""


def dropped_because(name: str) -> str | None:
    """Why item ``name`` ("icudt73l/coll/de.res" or "coll/de.res") is left out, else None."""
    short = name.split("/", 1)[1] if re.match(r"icudt\d+[lbe]/", name) else name
    for pattern, why in _DROPPED:
        if pattern.match(short):
            return why
    return None


@dataclass
class Package:
    """An ICU common data package.

    Attributes:
        header: the package's own data header (kept byte for byte).
        items: (name, bytes) in the table's order, which is sorted by name.
    """

    header: bytes
    items: list[tuple[str, bytes]]

    @classmethod
    def parse(cls, blob: bytes) -> Package:
        if len(blob) < 32 or blob[2:4] != _MAGIC:
            raise IcuDataError("not an ICU data package (no 0xda27 magic)")
        header_size = struct.unpack_from("<H", blob, 0)[0]
        if blob[12:16] != b"CmnD" or blob[16] != 1:
            raise IcuDataError(f"not a common data package (format {blob[12:16]!r})")
        if blob[8] != 0:
            raise IcuDataError("a big-endian package; only little-endian ones are rewritten")
        toc = header_size
        count = struct.unpack_from("<I", blob, toc)[0]
        entries = [struct.unpack_from("<II", blob, toc + 4 + 8 * i) for i in range(count)]
        items = []
        for index, (name_offset, data_offset) in enumerate(entries):
            name_start = toc + name_offset
            name = blob[name_start : blob.index(b"\0", name_start)].decode("ascii")
            end = entries[index + 1][1] if index + 1 < count else len(blob) - toc
            items.append((name, blob[toc + data_offset : toc + end]))
        return cls(blob[:header_size], items)

    def to_bytes(self) -> bytes:
        count = len(self.items)
        names = b"".join(name.encode("ascii") + b"\0" for name, _data in self.items)
        table_size = 4 + 8 * count
        offset = _aligned(len(self.header) + table_size + len(names)) - len(self.header)
        entries, body, name_offset = [], bytearray(), table_size
        for name, data in self.items:
            entries.append((name_offset, offset))
            name_offset += len(name) + 1
            body += data + _PAD * (_aligned(len(data)) - len(data))
            offset += _aligned(len(data))
        table = struct.pack("<I", count) + b"".join(struct.pack("<II", *e) for e in entries)
        head = self.header + table + names
        return head + _PAD * (_aligned(len(head)) - len(head)) + bytes(body)

    def without_dropped(self) -> tuple[Package, list[str]]:
        """(this package without the DROPPED items, the names left out)."""
        kept = [(name, data) for name, data in self.items if dropped_because(name) is None]
        gone = [name for name, _data in self.items if dropped_because(name) is not None]
        return Package(self.header, kept), gone


def _aligned(size: int) -> int:
    return (size + _ALIGN - 1) // _ALIGN * _ALIGN


def _readelf(*args: str) -> str:
    try:
        return subprocess.run(
            ["readelf", "-W", *args], check=True, capture_output=True, text=True
        ).stdout
    except FileNotFoundError:
        raise IcuDataError("readelf is missing: install binutils") from None


def read_library(path: Path) -> tuple[str, bytes]:
    """(the data symbol's name, the package bytes) of a libicudata shared library."""
    symbols = [line.split() for line in _readelf("--dyn-syms", str(path)).splitlines()]
    found = [
        s for s in symbols if len(s) >= 8 and re.fullmatch(r"icudt\d+_dat", s[7]) and s[6] != "UND"
    ]
    if not found:
        raise IcuDataError(f"{path} exports no icudtNN_dat symbol")
    value, size, section = int(found[0][1], 16), int(found[0][2], 0), int(found[0][6])
    for line in _readelf("-S", str(path)).splitlines():
        match = re.match(r"\s*\[\s*(\d+)\]\s+\S+\s+\S+\s+([0-9a-f]+)\s+([0-9a-f]+)", line)
        if match and int(match.group(1)) == section:
            start = value - int(match.group(2), 16) + int(match.group(3), 16)
            with open(path, "rb") as library:
                library.seek(start)
                return found[0][7], library.read(size)
    raise IcuDataError(f"{path}: no section {section} for {found[0][7]}")


def soname(path: Path) -> str:
    match = re.search(r"\(SONAME\).*\[(.+)\]", _readelf("-d", str(path)))
    if not match:
        raise IcuDataError(f"{path} has no soname")
    return match.group(1)


def link_library(package: bytes, symbol: str, library_soname: str, dest: Path) -> None:
    """Write ``package`` as a shared library exporting it as ``symbol``."""
    with tempfile.TemporaryDirectory(prefix="icu-data-") as work:
        data, source, obj = (Path(work) / name for name in ("icu.dat", "icu.s", "icu.o"))
        data.write_bytes(package)
        source.write_text(
            "\t.section .rodata\n"
            f"\t.globl {symbol}\n\t.type {symbol}, @object\n\t.balign {_ALIGN}\n"
            f'{symbol}:\n\t.incbin "{data}"\n\t.size {symbol}, . - {symbol}\n'
            '\t.section .note.GNU-stack,"",@progbits\n',
            encoding="ascii",
        )
        try:
            subprocess.run(["as", "-o", str(obj), str(source)], check=True)
            subprocess.run(
                [
                    "ld",
                    "-shared",
                    "-z",
                    "noexecstack",
                    "-soname",
                    library_soname,
                    "-o",
                    str(dest),
                    str(obj),
                ],
                check=True,
            )
        except FileNotFoundError:
            raise IcuDataError("as or ld is missing: install binutils") from None


@dataclass(frozen=True)
class SlimResult:
    """What ``slim_library`` did.

    Attributes:
        kept, dropped: how many items stayed and went.
        before, after: the package's size in bytes.
    """

    kept: int
    dropped: int
    before: int
    after: int


def slim_library(src: Path, dest: Path) -> SlimResult:
    """Write ``dest``: ``src`` (a libicudata) without the DROPPED items."""
    symbol, blob = read_library(src)
    package = Package.parse(blob)
    slim, gone = package.without_dropped()
    data = slim.to_bytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    link_library(data, symbol, soname(src), dest)
    return SlimResult(len(slim.items), len(gone), len(blob), len(data))


# --- checking ICU from a folder's libraries ------------------------------------------------

U_ZERO_ERROR = 0


def _utf16(text: str) -> ctypes.Array:
    units = struct.unpack(f"<{len(text.encode('utf-16-le')) // 2}H", text.encode("utf-16-le"))
    return (ctypes.c_uint16 * (len(units) + 1))(*units, 0)


def check_icu(libdir: Path) -> list[str]:
    """Failures (empty: ICU works) probing the ICU libraries in ``libdir`` through ctypes.

    Run it in a fresh process: one that already loaded another copy of ICU (PySide6)
    would resolve the libraries' data to that copy.
    """
    found = sorted(libdir.glob("libicuuc.so.*"))
    if not found:
        return [f"no libicuuc.so.* in {libdir}"]
    version = found[0].name.rsplit(".", 1)[1]
    uc = ctypes.CDLL(str(found[0]))
    i18n = ctypes.CDLL(str(libdir / f"libicui18n.so.{version}"))

    def fn(lib: ctypes.CDLL, name: str, restype, *argtypes):
        function = getattr(lib, f"{name}_{version}")
        function.restype, function.argtypes = restype, list(argtypes)
        return function

    err_p = ctypes.POINTER(ctypes.c_int)
    ucol_open = fn(i18n, "ucol_open", ctypes.c_void_p, ctypes.c_char_p, err_p)
    ucol_strcoll = fn(
        i18n,
        "ucol_strcoll",
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.c_int32,
        ctypes.c_void_p,
        ctypes.c_int32,
    )
    ucol_close = fn(i18n, "ucol_close", None, ctypes.c_void_p)
    to_upper = fn(
        uc,
        "u_strToUpper",
        ctypes.c_int32,
        ctypes.c_void_p,
        ctypes.c_int32,
        ctypes.c_void_p,
        ctypes.c_int32,
        ctypes.c_char_p,
        err_p,
    )
    ucnv_open = fn(uc, "ucnv_open", ctypes.c_void_p, ctypes.c_char_p, err_p)
    ucnv_close = fn(uc, "ucnv_close", None, ctypes.c_void_p)
    canonical_zone = fn(
        i18n,
        "ucal_getCanonicalTimeZoneID",
        ctypes.c_int32,
        ctypes.c_void_p,
        ctypes.c_int32,
        ctypes.c_void_p,
        ctypes.c_int32,
        ctypes.POINTER(ctypes.c_int8),
        err_p,
    )
    failures = []

    def order(locale: str, left: str, right: str) -> int | None:
        err = ctypes.c_int(U_ZERO_ERROR)
        collator = ucol_open(locale.encode(), ctypes.byref(err))
        if err.value > 0 or not collator:
            failures.append(f"ucol_open({locale!r}) failed with ICU error {err.value}")
            return None
        try:
            return ucol_strcoll(collator, _utf16(left), -1, _utf16(right), -1)
        finally:
            ucol_close(collator)

    # Swedish sorts "ä" after "z" (its own tailoring); German, with the root order, before "b".
    if order("sv", "ä", "z") not in (None, 1):
        failures.append("Swedish collation lost its rules: 'ä' does not sort after 'z'")
    if order("de", "ä", "b") not in (None, -1):
        failures.append("German collation: 'ä' does not sort before 'b'")
    result = (ctypes.c_uint16 * 16)()
    err = ctypes.c_int(U_ZERO_ERROR)
    length = to_upper(result, 16, _utf16("straße"), -1, b"de", ctypes.byref(err))
    upper = bytes(result)[: 2 * max(length, 0)].decode("utf-16-le")
    if err.value > 0 or upper != "STRASSE":
        failures.append(f"u_strToUpper('straße') gave {upper!r} (ICU error {err.value})")
    for name in (b"UTF-8", b"ISO-8859-1", b"UTF-16LE"):
        err = ctypes.c_int(U_ZERO_ERROR)
        converter = ucnv_open(name, ctypes.byref(err))
        if err.value > 0 or not converter:
            failures.append(f"ucnv_open({name.decode()!r}) failed with ICU error {err.value}")
        else:
            ucnv_close(converter)
    err, system_id = ctypes.c_int(U_ZERO_ERROR), ctypes.c_int8(0)
    length = canonical_zone(
        _utf16("US/Eastern"), -1, result, 16, ctypes.byref(system_id), ctypes.byref(err)
    )
    zone = bytes(result)[: 2 * max(length, 0)].decode("utf-16-le")
    if err.value > 0 or zone != "America/New_York":
        failures.append(f"canonical ID of US/Eastern: {zone!r} (ICU error {err.value})")
    return failures


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "slim":
        try:
            result = slim_library(Path(argv[1]), Path(argv[2]))
        except IcuDataError as exc:
            print(f"icu_data: {exc}", file=sys.stderr)
            return 1
        print(
            f"ICU data: {result.before / 1e6:.1f} MB -> {result.after / 1e6:.1f} MB "
            f"({result.kept} items kept, {result.dropped} dropped)"
        )
        return 0
    if len(argv) == 2 and argv[0] == "check":
        failures = check_icu(Path(argv[1]))
        for failure in failures:
            print(f"icu_data check: {failure}", file=sys.stderr)
        if not failures:
            print(
                f"ICU in {argv[1]}: collation (sv, de), case mapping, converters and "
                "time-zone IDs work"
            )
        return 1 if failures else 0
    print(__doc__.split("\n\n")[2], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Render StashDesk's icons from their SVG sources with PySide6.

    QT_QPA_PLATFORM=offscreen python scripts/make_icons.py [--sheet /tmp/icons_sheet.png]

Writes, next to the SVGs in resources/icons/:

* stashdesk-<N>.png for N in 16, 24, 32, 48, 64, 128, 256, 512;
* stashdesk.ico, a Windows icon holding 16..256 px PNG images;
* tray-<state>-32.png and tray-<state>-64.png for idle, working, error.

``--sheet PATH`` also writes a contact sheet (every rendering at 1:1 and the
small ones magnified, on a light and a dark background) for eyeballing.
Rerunnable: every output is overwritten.
"""

from __future__ import annotations

import argparse
import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "resources" / "icons"

APP_SVG = "stashdesk.svg"
APP_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
TRAY_STATES = ("idle", "working", "error")
TRAY_SIZES = (32, 64)


def load_svg(path: Path) -> QSvgRenderer:
    renderer = QSvgRenderer(str(path))
    if not renderer.isValid():
        raise SystemExit(f"invalid SVG: {path}")
    return renderer


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter, QRectF(0, 0, size, size))
    painter.end()
    return image.convertToFormat(QImage.Format.Format_ARGB32)


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buf, "PNG"):
        raise SystemExit("PNG encoding failed")
    buf.close()
    return bytes(data.data())


def save_png(image: QImage, path: Path) -> None:
    path.write_bytes(png_bytes(image))


def write_ico(images: list[QImage], path: Path) -> None:
    """Write an ICO container (ICONDIR + ICONDIRENTRYs) with embedded PNG images.

    PNG-compressed entries are valid ICO images (Windows Vista and later, Qt's
    ico reader, GIMP, ImageMagick...).  A width/height byte of 0 means 256.
    """
    blobs = [png_bytes(img) for img in images]
    header = struct.pack("<HHH", 0, 1, len(images))  # reserved, type 1 = icon, count
    offset = len(header) + 16 * len(images)
    entries = b""
    for img, blob in zip(images, blobs, strict=True):
        w, h = img.width(), img.height()
        entries += struct.pack(
            "<BBBBHHII",
            0 if w >= 256 else w,
            0 if h >= 256 else h,
            0,  # colours in palette: none
            0,  # reserved
            1,  # colour planes
            32,  # bits per pixel
            len(blob),
            offset,
        )
        offset += len(blob)
    path.write_bytes(header + entries + b"".join(blobs))


def make_sheet(path: Path) -> None:
    """Every rendering on a light and a dark band; small sizes also magnified."""
    app = load_svg(ICONS / APP_SVG)
    trays = {s: load_svg(ICONS / f"tray-{s}.svg") for s in TRAY_STATES}
    pad, zoom = 16, 6
    bands = [QColor("#ffffff"), QColor("#f1f5f9"), QColor("#1f2937"), QColor("#000000")]
    row1 = [render(app, n) for n in APP_SIZES if n <= 256]
    row2 = [render(app, n).scaled(n * zoom, n * zoom) for n in (16, 24)]
    row2 += [render(trays[s], n).scaled(n * zoom, n * zoom) for s in TRAY_STATES for n in (16,)]
    row3 = [render(trays[s], n) for s in TRAY_STATES for n in (16, 20, 22, 24, 32, 64)]
    rows = [row1, row2, row3]
    band_w = max(sum(i.width() + pad for i in row) + pad for row in rows)
    band_h = sum(max(i.height() for i in row) + pad for row in rows) + pad
    sheet = QImage(band_w, band_h * len(bands), QImage.Format.Format_ARGB32)
    painter = QPainter(sheet)
    for b, colour in enumerate(bands):
        painter.fillRect(0, b * band_h, band_w, band_h, colour)
        y = b * band_h + pad
        for row in rows:
            x = pad
            for img in row:
                painter.drawImage(x, y, img)
                x += img.width() + pad
            y += max(i.height() for i in row) + pad
    painter.end()
    sheet.save(str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sheet", type=Path, help="also write a contact sheet PNG here")
    args = parser.parse_args(argv)

    _app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    written: list[Path] = []

    app_svg = load_svg(ICONS / APP_SVG)
    rendered = {n: render(app_svg, n) for n in sorted(set(APP_SIZES) | set(ICO_SIZES))}
    for n in APP_SIZES:
        out = ICONS / f"stashdesk-{n}.png"
        save_png(rendered[n], out)
        written.append(out)
    ico = ICONS / "stashdesk.ico"
    write_ico([rendered[n] for n in ICO_SIZES], ico)
    written.append(ico)

    for state in TRAY_STATES:
        svg = load_svg(ICONS / f"tray-{state}.svg")
        for n in TRAY_SIZES:
            out = ICONS / f"tray-{state}-{n}.png"
            save_png(render(svg, n), out)
            written.append(out)

    if args.sheet:
        make_sheet(args.sheet)
        written.append(args.sheet)

    for path in written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

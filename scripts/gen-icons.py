#!/usr/bin/env python3
"""Draw the Coder Bridge icon set with the standard library only.

The tray app and the .deb need PNG icons (RGBA, 8 bits per channel: Tauri's
code generator rejects anything else). Drawing them here keeps the build free
of downloads and image tools, and makes the icons reproducible: running this
script again writes byte-identical files.

The picture: a rounded dark square with a bridge arc over two piers, in the
accent colour; the tray icon is the same shape on a transparent background so
it reads on light and dark panels.

Usage: scripts/gen-icons.py [OUTPUT_DIR]   (default: src-tauri/icons)
"""

from __future__ import annotations

import math
import struct
import sys
import zlib
from pathlib import Path

BACKGROUND = (0x1F, 0x24, 0x30)
ACCENT = (0x4C, 0xC2, 0xFF)
SUPERSAMPLE = 4  # samples per axis per pixel, for smooth edges


def _rounded_square(x: float, y: float, radius: float) -> bool:
    """Is the point (in 0..1 units) inside a square with rounded corners?"""
    cx = min(max(x, radius), 1 - radius)
    cy = min(max(y, radius), 1 - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius**2


def _bridge(x: float, y: float) -> bool:
    """Is the point on the bridge: an arch over a deck, joined by hangers?"""
    deck = 0.62 <= y <= 0.70 and 0.10 <= x <= 0.90
    # The arch is the upper half of a ring centred on the deck.
    r = math.hypot(x - 0.5, y - 0.68)
    arch = 0.29 <= r <= 0.37 and y <= 0.68
    hangers = 0.40 <= y <= 0.66 and any(abs(x - h) <= 0.022 for h in (0.36, 0.5, 0.64))
    return deck or arch or hangers


# The tray icon's states: the bridge's colour, and a badge in the top right
# corner for the states that want attention (so they differ in shape, not
# only in colour, for people who cannot tell the colours apart).
TRAY_STATES = {
    "tray-signed-out.png": ((0x8A, 0x93, 0xA3), None),
    "tray-connected.png": (ACCENT, None),
    "tray-consent.png": (ACCENT, (0xFF, 0xB0, 0x20)),
    "tray-error.png": ((0xB0, 0xB6, 0xC2), (0xE5, 0x3E, 0x3E)),
}


def _badge(x: float, y: float) -> bool:
    return (x - 0.80) ** 2 + (y - 0.22) ** 2 <= 0.19**2


def render(
    size: int,
    *,
    tray: bool,
    accent: tuple[int, int, int] = ACCENT,
    badge: tuple[int, int, int] | None = None,
) -> bytes:
    """Return the RGBA pixels of one icon, row by row."""
    rows = bytearray()
    n = SUPERSAMPLE
    for py in range(size):
        rows.append(0)  # PNG filter type "none" for this row
        for px in range(size):
            bg = fg = dot = 0
            for sy in range(n):
                for sx in range(n):
                    x = (px + (sx + 0.5) / n) / size
                    y = (py + (sy + 0.5) / n) / size
                    if badge is not None and _badge(x, y):
                        dot += 1
                    elif _bridge(x, y):
                        fg += 1
                    elif not tray and _rounded_square(x, y, 0.2):
                        bg += 1
            total = n * n
            covered = fg + bg + dot
            if covered == 0:
                rows += bytes((0, 0, 0, 0))
                continue
            # Colour is the coverage-weighted mix; alpha is total coverage.
            mark = badge or (0, 0, 0)
            colour = [
                round((accent[i] * fg + BACKGROUND[i] * bg + mark[i] * dot) / covered)
                for i in range(3)
            ]
            rows += bytes((*colour, round(255 * covered / total)))
    return bytes(rows)


def png(size: int, pixels: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(pixels, 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("src-tauri/icons")
    out.mkdir(parents=True, exist_ok=True)
    files = {
        "32x32.png": (32, False),
        "128x128.png": (128, False),
        "128x128@2x.png": (256, False),
        "icon.png": (512, False),
        "tray.png": (64, True),
    }
    for name, (size, tray) in files.items():
        (out / name).write_bytes(png(size, render(size, tray=tray)))
        print(f"wrote {out / name}")
    for name, (accent, badge) in TRAY_STATES.items():
        (out / name).write_bytes(png(64, render(64, tray=True, accent=accent, badge=badge)))
        print(f"wrote {out / name}")


if __name__ == "__main__":
    main()

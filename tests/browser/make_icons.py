"""Draw the staff app's icons (pwa/icons/*.png): a smiley on the brand colour.

Run `python tests/browser/make_icons.py` after changing the drawing; the PNGs are committed.
"""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

ICONS = Path(__file__).resolve().parents[2] / "pwa" / "icons"
BRAND = (0x1D, 0x4E, 0x89)
FACE = (0xFF, 0xD8, 0x66)
INK = (0x1F, 0x23, 0x28)
SAMPLES = 3  # per axis: 9 samples a pixel smooth the edges


def colour_at(x: float, y: float, radius: float) -> tuple[int, int, int]:
    """The colour at (x, y), in units where the icon spans -1..1 and the face has `radius`."""
    d = math.hypot(x, y)
    if d > radius:
        return BRAND
    if d > radius * 0.94:
        return INK
    u, v = x / radius, y / radius
    if any(math.hypot(u - ex, v + 0.28) < 0.11 for ex in (-0.33, 0.33)):
        return INK
    mouth = math.hypot(u, v + 0.05)
    if abs(mouth - 0.55) < 0.06 and v > 0.12:
        return INK
    return FACE


def draw(size: int, radius: float) -> bytes:
    rows = []
    for py in range(size):
        row = bytearray([0])
        for px in range(size):
            total = [0, 0, 0]
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    x = (px + (sx + 0.5) / SAMPLES) / size * 2 - 1
                    y = (py + (sy + 0.5) / SAMPLES) / size * 2 - 1
                    for i, c in enumerate(colour_at(x, y, radius)):
                        total[i] += c
            row.extend(round(c / SAMPLES**2) for c in total)
        rows.append(bytes(row))
    return png(size, b"".join(rows))


def png(size: int, raw: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    # A maskable icon keeps its drawing inside the central safe circle (radius 0.8).
    for name, size, radius in (
        ("icon-192.png", 192, 0.86),
        ("icon-512.png", 512, 0.86),
        ("maskable-512.png", 512, 0.62),
    ):
        (ICONS / name).write_bytes(draw(size, radius))


if __name__ == "__main__":
    main()

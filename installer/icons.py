"""Draw PitBox's application icon into `assets/pitbox.png` (256 px) and `assets/pitbox.ico` (16-256 px).

The icon is the tray's "driving" state (a green disc with a white "P", as `driver_app.qt.tray` draws
it), drawn here with numpy alone (4x supersampled) so packaging needs no display and no Qt. The .ico
holds one PNG image per size (Windows Vista and later read PNG-compressed icon images), which keeps
it small. Run it again after changing the drawing, and commit the two files:

    .venv/bin/python installer/icons.py [--out assets]
"""

from __future__ import annotations

import argparse
import logging
import struct
import sys
import zlib
from pathlib import Path
from typing import Any, Final

import numpy as np

logger = logging.getLogger(__name__)

ROOT: Final = Path(__file__).resolve().parent.parent
ICO_SIZES: Final = (16, 24, 32, 48, 64, 128, 256)
PNG_SIZE: Final = 256
GREEN: Final = (0x2E, 0x9E, 0x52)
"""The tray's "driving" colour (driver_app.qt.tray.STATUS_COLOURS)."""
EDGE: Final = tuple(round(c / 1.4) for c in GREEN)
"""The disc's rim: the same colour darker, as the tray draws it."""
SUPERSAMPLE: Final = 4

Image = np.ndarray[Any, np.dtype[np.uint8]]


def draw(size: int) -> Image:
    """The icon as a `size` x `size` RGBA image (straight alpha)."""
    n = size * SUPERSAMPLE
    centres = (np.arange(n) + 0.5) / n  # pixel centres in 0..1
    x, y = np.meshgrid(centres, centres)
    margin = 0.06
    radius = 0.5 - margin
    rim = max(1.0, size / 24) / size
    distance = np.hypot(x - 0.5, y - 0.5)
    disc = distance <= radius
    inside = distance <= radius - rim
    # A bold sans-serif "P": a stem and a bowl (a rectangle ending in a half-disc, with a hole).

    def box(left: float, right: float, top: float, bottom: float) -> np.ndarray[Any, np.dtype[np.bool_]]:
        return (x >= left) & (x <= right) & (y >= top) & (y <= bottom)

    bowl_x, bowl_y, bowl_r, hole_r = 0.53, 0.405, 0.175, 0.07
    to_bowl = np.hypot(x - bowl_x, y - bowl_y)
    stem = box(0.33, 0.47, 0.23, 0.77)
    bowl = box(0.33, bowl_x, 0.23, 0.58) | ((x >= bowl_x) & (to_bowl <= bowl_r))
    hole = box(0.47, bowl_x, bowl_y - hole_r, bowl_y + hole_r) | ((x >= bowl_x) & (to_bowl <= hole_r))
    letter = (stem | (bowl & ~hole)) & inside

    rgb = np.zeros((n, n, 3), dtype=np.float64)
    rgb[disc] = EDGE
    rgb[inside] = GREEN
    rgb[letter] = (255, 255, 255)
    alpha = disc.astype(np.float64)
    # Average each SUPERSAMPLE x SUPERSAMPLE block (colour weighted by coverage) for smooth edges.
    shape = (size, SUPERSAMPLE, size, SUPERSAMPLE)
    coverage = alpha.reshape(shape).mean(axis=(1, 3))
    colour = (rgb * alpha[..., None]).reshape(*shape, 3).sum(axis=(1, 3)) / SUPERSAMPLE**2
    colour = np.divide(colour, coverage[..., None], out=np.zeros_like(colour), where=coverage[..., None] > 0)
    image = np.dstack([colour, coverage * 255.0])
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def png_bytes(image: Image) -> bytes:
    """`image` (height x width x 4, RGBA) as a PNG file."""
    height, width, channels = image.shape
    if channels != 4:
        raise ValueError("png_bytes wants an RGBA image")

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = np.concatenate([np.zeros((height, 1), dtype=np.uint8), image.reshape(height, width * 4)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA, no interlace
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows.tobytes(), 9))
        + chunk(b"IEND", b"")
    )


def ico_bytes(images: dict[int, bytes]) -> bytes:
    """An ICO file holding each PNG of `images` (size in pixels -> PNG bytes)."""
    header = struct.pack("<HHH", 0, 1, len(images))  # reserved, type 1 (icon), image count
    offset = len(header) + 16 * len(images)
    entries, payload = b"", b""
    for size, png in sorted(images.items()):
        side = 0 if size >= 256 else size  # 0 means 256 in an ICO directory entry
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset + len(payload))
        payload += png
    return header + entries + payload


def write_icons(folder: Path) -> tuple[Path, Path]:
    """Write `pitbox.png` and `pitbox.ico` into `folder`; returns their paths."""
    images = {size: png_bytes(draw(size)) for size in ICO_SIZES}
    folder.mkdir(parents=True, exist_ok=True)
    png, ico = folder / "pitbox.png", folder / "pitbox.ico"
    png.write_bytes(images[PNG_SIZE])
    ico.write_bytes(ico_bytes(images))
    return png, ico


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="draw PitBox's icon into pitbox.png and pitbox.ico")
    parser.add_argument("--out", type=Path, default=ROOT / "assets", help="folder to write into (default: assets/)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    png, ico = write_icons(args.out)
    logger.info("wrote %s and %s (%s px)", png, ico, ", ".join(map(str, ICO_SIZES)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

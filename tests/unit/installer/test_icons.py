"""PitBox's icon: the committed assets are what installer/icons.py draws, and Windows and Qt can read them."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QImage

from installer.icons import ICO_SIZES, PNG_SIZE, draw, ico_bytes, png_bytes

ASSETS = Path(__file__).resolve().parents[3] / "assets"


def _pixels(png: bytes) -> np.ndarray:
    """Decode a PNG written by `png_bytes` (one IDAT, filter 0 on every row)."""
    width, height = struct.unpack(">II", png[16:24])
    length = struct.unpack(">I", png[33:37])[0]
    assert png[37:41] == b"IDAT"
    rows = np.frombuffer(zlib.decompress(png[41 : 41 + length]), dtype=np.uint8).reshape(height, width * 4 + 1)
    assert not rows[:, 0].any()
    return rows[:, 1:].reshape(height, width, 4)


def _ico_images(data: bytes) -> dict[int, bytes]:
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind) == (0, 1)
    images = {}
    for i in range(count):
        side, _, _, _, planes, bits, size, offset = struct.unpack("<BBBBHHII", data[6 + 16 * i : 22 + 16 * i])
        assert (planes, bits) == (1, 32)
        images[side or 256] = data[offset : offset + size]
    return images


def test_the_committed_png_is_the_drawing() -> None:
    png = (ASSETS / "pitbox.png").read_bytes()
    assert np.array_equal(_pixels(png), draw(PNG_SIZE))


def test_the_committed_ico_holds_every_size_drawn() -> None:
    images = _ico_images((ASSETS / "pitbox.ico").read_bytes())
    assert sorted(images) == sorted(ICO_SIZES)
    for size, png in images.items():
        assert np.array_equal(_pixels(png), draw(size))


@pytest.mark.parametrize("size", [16, 256])
def test_qt_reads_the_png_a_green_disc_with_a_white_letter(size: int) -> None:
    image = QImage.fromData(png_bytes(draw(size)), "PNG")
    assert (image.width(), image.height()) == (size, size)
    assert image.pixelColor(0, 0).alpha() == 0  # the corners are transparent
    disc = image.pixelColor(size * 3 // 4, size * 3 // 4)  # lower right of the disc: green
    assert disc.alpha() == 255 and disc.green() > disc.red() + 60
    stem = image.pixelColor(size * 2 // 5, size * 7 // 10)  # the P's stem: white
    assert min(stem.red(), stem.green(), stem.blue()) > 200


def test_an_ico_entry_says_256_as_zero() -> None:
    data = ico_bytes({16: b"a", 256: b"bc"})
    assert data[6] == 16 and data[22] == 0
    assert _ico_images(data) == {16: b"a", 256: b"bc"}

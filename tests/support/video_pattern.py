"""A moving test pattern with a machine-readable clock, for the video capture tests and the benchmark.

`PatternWindow` (run as `python -m tests.support.video_pattern T0 [--title ...] [--geometry X,Y,W,H]`
in a child process with `QT_QPA_PLATFORM=xcb` under an X server) shows, at about 125 paints a
second:

- static colour bars, and a white bar sweeping across them (the moving content);
- the **stamp**: the milliseconds of `time.monotonic()` since `T0` at the moment of the paint, as
  32 big black/white blocks (two rows of 16 along the bottom: 24 bits of the value, most
  significant first, then an 8-bit check) that survive H.264 easily, and as digits for a person.

`CLOCK_MONOTONIC` is one clock for every process on the machine, so a test that passes its own
`time.monotonic()` as `T0` can turn a stamp read back from a video frame into its own clock:
`T0 + stamp / 1000` is when that picture was painted. `read_stamp(pixels)` reads a frame (any size
with the window's aspect: blocks are placed in fractions of the frame) and returns None when the
check fails (a torn or damaged frame).

With `--busy` the upper part is a textured picture scrolling sideways (every pixel changes every
frame, as in a sim) instead of the colour bars: the benchmark's worst case for the encoder. The
child prints "ready" on stdout once the window is shown and painted.

`SegmentCopies` stands in for the recorder's uploader and keeps a copy of every segment handed to
it, for the checks to read back after the replay buffer has deleted its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from driver_app.video.uploader import UploadJob

TITLE: Final = "PitBox test pattern"
WIDTH: Final = 1280
HEIGHT: Final = 720
BITS: Final = 32
PER_ROW: Final = 16
ROW_TOP_FRAC: Final = (600 / 720, 660 / 720)
"""Top of each row of blocks, as a fraction of the height; each row is 60/720 high."""
ROW_HEIGHT_FRAC: Final = 60 / 720
PAINT_INTERVAL_MS: Final = 8
VALUE_BITS: Final = 24
BAR_COLOURS: Final = ((192, 192, 192), (0, 192, 192), (192, 192, 0), (0, 192, 0), (192, 0, 192), (0, 0, 192))


def check_byte(value: int) -> int:
    """8 bits that depend on every bit of the 24-bit value (a torn frame fails the check)."""
    return ((value * 2654435761) >> 24 ^ value ^ (value >> 8) ^ (value >> 16) ^ 0xA5) & 0xFF


def encode_stamp(value: int) -> list[int]:
    """The 32 bits (1 white, 0 black) for a stamp, most significant first."""
    value &= (1 << VALUE_BITS) - 1
    word = (value << 8) | check_byte(value)
    return [(word >> (BITS - 1 - i)) & 1 for i in range(BITS)]


def block_rect(index: int, width: int, height: int) -> tuple[int, int, int, int]:
    """Block `index` as (x0, y0, x1, y1) in a frame of this size."""
    row, col = divmod(index, PER_ROW)
    x0 = round(col * width / PER_ROW)
    x1 = round((col + 1) * width / PER_ROW)
    y0 = round(ROW_TOP_FRAC[row] * height)
    y1 = round((ROW_TOP_FRAC[row] + ROW_HEIGHT_FRAC) * height)
    return x0, y0, x1, y1


def stamp_picture(value: int, width: int = WIDTH, height: int = HEIGHT, *, channels: int = 4) -> npt.NDArray[np.uint8]:
    """A synthetic frame (BGRA or BGR) showing the stamp `value` as the window does, for tests without X."""
    picture = np.full((height, width, channels), 32, dtype=np.uint8)
    bar = (value * 7) % max(1, width - 48)
    picture[: height // 2, bar : bar + 48] = 255
    for i, bit in enumerate(encode_stamp(value)):
        x0, y0, x1, y1 = block_rect(i, width, height)
        picture[y0:y1, x0:x1] = 255 if bit else 0
    if channels == 4:
        picture[..., 3] = 255
    return picture


def read_stamp(pixels: npt.NDArray[np.uint8]) -> int | None:
    """The stamp in a frame (H x W x 3 or 4, any channel order, or H x W grey); None if unreadable."""
    height, width = pixels.shape[:2]
    word = 0
    for i in range(BITS):
        x0, y0, x1, y1 = block_rect(i, width, height)
        dx, dy = (x1 - x0) // 4, (y1 - y0) // 4
        patch = pixels[y0 + dy : y1 - dy, x0 + dx : x1 - dx]
        level = float(patch.mean() if patch.ndim == 2 else patch[..., :3].mean())
        if 60 < level < 195:
            return None  # neither black nor white: a block caught mid-change
        word = (word << 1) | (level >= 128)
    value, check = word >> 8, word & 0xFF
    return value if check_byte(value) == check else None


def run_window(t0: float, title: str, geometry: tuple[int, int, int, int], busy: bool = False) -> int:
    from PySide6.QtCore import QRect, Qt, QTimer
    from PySide6.QtGui import QColor, QFont, QImage, QPainter
    from PySide6.QtWidgets import QApplication, QWidget

    app = QApplication([sys.argv[0]])

    class PatternWindow(QWidget):
        def __init__(self) -> None:
            super().__init__(None, Qt.WindowType.FramelessWindowHint)
            self.setWindowTitle(title)
            self.setGeometry(*geometry)
            self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
            self.stamp = 0
            self.bar_x = 0
            self.painted = 0
            self.font_ = QFont("DejaVu Sans Mono")
            self.font_.setPixelSize(64)
            self.texture: QImage | None = None
            if busy:  # the whole upper part moves, as a sim's picture does: a scrolling textured image
                rng = np.random.default_rng(1)
                w, h = geometry[2] * 2, round(geometry[3] * 0.55)
                ys, xs = np.mgrid[0:h, 0:w]
                rgb = np.stack([(xs * 255 // w), (ys * 255 // max(1, h)), ((xs + ys) % 256)], axis=-1).astype(
                    np.int16
                ) + rng.integers(-40, 40, (h, w, 3))
                self.pixels = np.ascontiguousarray(np.clip(rgb, 0, 255).astype(np.uint8))
                self.texture = QImage(self.pixels.data, w, h, 3 * w, QImage.Format.Format_RGB888)
            self.timer = QTimer(self)
            self.timer.setTimerType(Qt.TimerType.PreciseTimer)
            self.timer.timeout.connect(self.tick)
            self.timer.start(PAINT_INTERVAL_MS)

        def bar_rect(self, x: int) -> QRect:
            return QRect(x, 0, 48, round(self.height() * 0.55))

        def tick(self) -> None:
            old_bar = self.bar_rect(self.bar_x)
            self.stamp = int((time.monotonic() - t0) * 1000.0)
            self.bar_x = int(self.stamp * 0.4) % max(1, self.width() - 48)
            w, h = self.width(), self.height()
            top = round(0.55 * h)
            if self.texture is not None:
                self.update(QRect(0, 0, w, top))
            else:
                self.update(old_bar.united(self.bar_rect(self.bar_x)))
            self.update(QRect(0, top, w, h - top))  # the digits and the blocks

        def paintEvent(self, event: object) -> None:  # noqa: N802 (Qt's name)
            painter = QPainter(self)
            w, h = self.width(), self.height()
            top = round(0.55 * h)
            if self.texture is not None:
                painter.drawImage(0, 0, self.texture, int(self.stamp * 0.3) % (self.texture.width() - w), 0, w, top)
            else:
                for i, colour in enumerate(BAR_COLOURS):
                    x0, x1 = round(i * w / len(BAR_COLOURS)), round((i + 1) * w / len(BAR_COLOURS))
                    painter.fillRect(x0, 0, x1 - x0, top, QColor(*colour))
            painter.fillRect(self.bar_rect(self.bar_x), QColor(255, 255, 255))
            painter.fillRect(0, top, w, h - top, QColor(32, 32, 32))
            painter.setFont(self.font_)
            painter.setPen(QColor(255, 255, 255))
            painter.drawText(
                QRect(0, top, w, round(ROW_TOP_FRAC[0] * h) - top), Qt.AlignmentFlag.AlignCenter, f"{self.stamp:>9} ms"
            )
            for i, bit in enumerate(encode_stamp(self.stamp)):
                x0, y0, x1, y1 = block_rect(i, w, h)
                painter.fillRect(x0, y0, x1 - x0, y1 - y0, QColor(255, 255, 255) if bit else QColor(0, 0, 0))
            painter.end()
            self.painted += 1
            if self.painted == 3:
                sys.stdout.write("ready\n")
                sys.stdout.flush()

    window = PatternWindow()
    window.show()
    return app.exec()


def start_pattern(
    t0: float,
    *,
    title: str = TITLE,
    geometry: tuple[int, int, int, int] = (0, 0, WIDTH, HEIGHT),
    busy: bool = False,
    timeout_s: float = 20.0,
) -> subprocess.Popen[str]:
    """The pattern window in a child process on this process's X display; returns once it has painted.

    `busy`: the upper part is a scrolling textured picture (every pixel moves, as in a sim), not bars.
    """
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    repo = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.video_pattern",
            repr(t0),
            "--title",
            title,
            "--geometry",
            ",".join(str(v) for v in geometry),
            *(["--busy"] if busy else []),
        ],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # Qt's warnings must not fill a pipe nobody reads
        text=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + timeout_s
    line = ""
    while time.monotonic() < deadline and process.poll() is None:
        line = process.stdout.readline()
        if line.strip() == "ready":
            return process
    process.kill()
    process.communicate(timeout=5)
    raise RuntimeError(f"the test pattern did not start ({line!r}); run it by hand to see why")


def stop_pattern(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.communicate(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate(timeout=5)


class SegmentCopies:
    """The uploader's place: keeps every job handed over, and a copy of each segment in `folder` (`paths`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.jobs: list[UploadJob] = []
        self.paths: list[Path] = []
        folder.mkdir(parents=True, exist_ok=True)

    def submit(self, job: UploadJob) -> bool:
        from driver_app.video.uploader import JobKind  # not loaded by the pattern's child process

        if job.kind is JobKind.SEGMENT:
            copy = self.folder / job.path.name
            shutil.copy(job.path, copy)
            self.paths.append(copy)
        self.jobs.append(job)
        return True

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def wait_idle(self, timeout_s: float) -> bool:
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("t0", type=float, help="time.monotonic() of the stamp's zero")
    parser.add_argument("--title", default=TITLE)
    parser.add_argument("--geometry", default=f"0,0,{WIDTH},{HEIGHT}", help="X,Y,W,H")
    parser.add_argument("--busy", action="store_true", help="a scrolling textured picture instead of colour bars")
    args = parser.parse_args(argv)
    x, y, w, h = (int(v) for v in args.geometry.split(","))
    return run_window(args.t0, args.title, (x, y, w, h), busy=args.busy)


if __name__ == "__main__":
    raise SystemExit(main())

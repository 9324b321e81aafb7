"""Screen capture in its own thread: what to capture, how to grab it, and grabbing at a steady rate.

`CaptureTarget.parse` reads the `video_target` setting:

    ""  or "monitor"            the primary monitor
    "monitor:N"                 monitor N (1 = primary, as mss numbers them)
    "region:LEFT,TOP,W,H"       a rectangle of the virtual screen, in pixels
    "window:TITLE"              the window whose title contains TITLE (the sim's), followed when it moves

Grabbers return BGRA pixels (H x W x 4, uint8). `MssGrabber` works on X11 and Windows (XShm on
X11: ~1,400 grabs/s at 720p); `DxcamGrabber` (Desktop Duplication) is used on Windows for monitor
targets when the `dxcam` package is installed, else mss. Capture sees what the desktop shows: run
the sim borderless or windowed (an exclusive-fullscreen game may come out black through GDI).

`ScreenCapture` runs one thread that grabs at `fps` on the monotonic clock: frame k is due at
`start + k / fps`; a grab that runs late by whole frame periods skips those slots (counted in
`stats.skipped`) instead of bunching frames up. Each frame is stamped with the midpoint of its
grab on the same clock the pipeline uses for the telemetry (`time.monotonic`), and handed to
`sink` on the capture thread: the sink must return at once (the recorder puts it in a bounded
queue). The grabber is created inside the thread (GDI and XCB handles belong to the thread that
opened them). The capture never touches the pipeline's asyncio loop.
"""

from __future__ import annotations

import enum
import importlib.util
import logging
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

import numpy as np
import numpy.typing as npt

from driver_app.video.errors import CaptureError
from driver_app.video.window_finder import Region, find_window

logger = logging.getLogger(__name__)

WINDOW_RECHECK_S: Final = 2.0
"""How often a window target is looked up again (it may have moved)."""
MAX_GRAB_FAILURES: Final = 30
"""Grabs failing in a row before the capture gives up (one second at 30 fps)."""
SLEEP_SLICE_S: Final = 0.05

Pixels = npt.NDArray[np.uint8]


class TargetKind(enum.Enum):
    MONITOR = "monitor"
    REGION = "region"
    WINDOW = "window"


@dataclass(frozen=True, slots=True)
class CaptureTarget:
    """What to capture (see the module docstring for the text form)."""

    kind: TargetKind = TargetKind.MONITOR
    monitor: int = 1
    region: Region | None = None
    window_title: str = ""

    @classmethod
    def parse(cls, text: str) -> CaptureTarget:
        """The target a setting names; ValueError with a readable message when it names none."""
        text = text.strip()
        kind, _, rest = text.partition(":")
        kind = kind.strip().lower()
        if kind in ("", "monitor", "screen"):
            if not rest.strip():
                return cls(TargetKind.MONITOR, 1)
            try:
                number = int(rest)
            except ValueError:
                raise ValueError(f"monitor:{rest} is not a monitor number (1 is the primary)") from None
            if number < 1:
                raise ValueError("monitors are numbered from 1 (the primary)")
            return cls(TargetKind.MONITOR, number)
        if kind == "region":
            parts = rest.split(",")
            try:
                left, top, width, height = (int(p) for p in parts)
            except ValueError:
                raise ValueError("a region is region:LEFT,TOP,WIDTH,HEIGHT in pixels") from None
            if width < 16 or height < 16:
                raise ValueError("a region must be at least 16 x 16 pixels")
            return cls(TargetKind.REGION, region=Region(left, top, width, height))
        if kind == "window":
            if not rest.strip():
                raise ValueError("window: needs (part of) the window's title")
            return cls(TargetKind.WINDOW, window_title=rest.strip())
        raise ValueError(f"{text!r}: use monitor, monitor:N, region:LEFT,TOP,W,H or window:TITLE")

    def describe(self) -> str:
        if self.kind is TargetKind.MONITOR:
            return f"monitor:{self.monitor}"
        if self.kind is TargetKind.REGION and self.region is not None:
            r = self.region
            return f"region:{r.left},{r.top},{r.width},{r.height}"
        return f"window:{self.window_title}"


class Grabber(Protocol):
    name: str

    def monitors(self) -> list[Region]:
        """The virtual screen (index 0) and each monitor (1..n), as mss lists them."""
        ...

    def grab(self, region: Region) -> Pixels:
        """BGRA pixels of `region` (H x W x 4)."""
        ...

    def close(self) -> None: ...


class MssGrabber:
    """mss: XShm/XGetImage on X11, GDI on Windows."""

    name = "mss"

    def __init__(self, display: str | None = None) -> None:
        import mss

        try:
            self._mss: Any = mss.MSS(display=display) if display else mss.MSS()
        except Exception as exc:  # mss raises ScreenShotError, XError or OSError without a display
            raise CaptureError(f"cannot open the screen for capture: {exc}") from None

    def monitors(self) -> list[Region]:
        return [Region(m["left"], m["top"], m["width"], m["height"]) for m in self._mss.monitors]

    def grab(self, region: Region) -> Pixels:
        shot = self._mss.grab(region.as_mss())
        width, height = shot.size
        return np.frombuffer(shot.raw, dtype=np.uint8).reshape(height, width, 4)

    def close(self) -> None:
        self._mss.close()


class DxcamGrabber:  # pragma: no cover - Windows with dxcam only
    """Desktop Duplication through `dxcam` (one output, the monitor's own coordinates)."""

    name = "dxcam"

    def __init__(self, monitor: int) -> None:
        import dxcam  # type: ignore[import-not-found]

        self._monitors = MssGrabber().monitors()
        if monitor >= len(self._monitors):
            raise CaptureError(f"there is no monitor {monitor}")
        self._origin = self._monitors[monitor]
        try:
            self._camera: Any = dxcam.create(output_idx=monitor - 1, output_color="BGRA")
        except Exception as exc:
            raise CaptureError(f"dxcam cannot capture monitor {monitor}: {exc}") from None
        self._last: Pixels | None = None

    def monitors(self) -> list[Region]:
        return self._monitors

    def grab(self, region: Region) -> Pixels:
        left, top = region.left - self._origin.left, region.top - self._origin.top
        frame = self._camera.grab(region=(left, top, left + region.width, top + region.height))
        if frame is None:  # nothing changed on screen since the last grab
            if self._last is None:
                return np.zeros((region.height, region.width, 4), dtype=np.uint8)
            return self._last
        self._last = np.ascontiguousarray(frame)
        return self._last

    def close(self) -> None:
        release = getattr(self._camera, "release", None)
        if callable(release):
            release()


def dxcam_available() -> bool:
    return sys.platform == "win32" and importlib.util.find_spec("dxcam") is not None


def open_grabber(target: CaptureTarget, backend: str = "auto", display: str | None = None) -> Grabber:
    """The grabber for `target`: dxcam for a monitor on Windows when installed (backend "auto" or "dxcam"), else mss."""
    if backend not in ("auto", "mss", "dxcam"):
        raise CaptureError(f"unknown capture backend {backend!r} (auto, mss, dxcam)")
    if backend != "mss" and target.kind is TargetKind.MONITOR and dxcam_available():
        try:
            return DxcamGrabber(target.monitor)
        except CaptureError as exc:
            logger.warning("dxcam unusable, capturing with mss: %s", exc)
    elif backend == "dxcam":
        logger.warning("dxcam is not available here (or not for this target): capturing with mss")
    return MssGrabber(display)


def resolve_region(target: CaptureTarget, grabber: Grabber, display: str | None = None) -> Region:
    """The screen rectangle `target` means now, inside the virtual screen; CaptureError when there is none."""
    monitors = grabber.monitors()
    screen = monitors[0]
    if target.kind is TargetKind.MONITOR:
        if target.monitor >= len(monitors):
            raise CaptureError(f"there is no monitor {target.monitor} (found {len(monitors) - 1})")
        region: Region | None = monitors[target.monitor]
    elif target.kind is TargetKind.REGION:
        region = target.region
    else:
        region = find_window(target.window_title, display)
        if region is None:
            raise CaptureError(f"no visible window titled {target.window_title!r}")
    clamped = None if region is None else region.clamp(screen)
    if clamped is None or clamped.width < 16 or clamped.height < 16:
        raise CaptureError(f"{target.describe()} is not on the screen ({screen.width}x{screen.height})")
    # Even sizes: the encoder's 4:2:0 chroma needs them, and scaling from odd sizes blurs an edge.
    return Region(clamped.left, clamped.top, clamped.width & ~1, clamped.height & ~1)


@dataclass(frozen=True, slots=True)
class CapturedFrame:
    pixels: Pixels
    """BGRA, H x W x 4 (owned by the frame: the grabber does not reuse it)."""
    t_s: float
    """The grab's midpoint on the capture clock (monotonic seconds)."""


@dataclass(slots=True)
class CaptureStats:
    grabbed: int = 0
    skipped: int = 0
    """Frame slots missed because a grab (or the machine) ran late."""
    failures: int = 0
    grab_s: float = 0.0
    """Time spent inside the grabber."""


@dataclass
class ScreenCapture:
    """See the module docstring. `start()`, then `stop()`; `error` says why it stopped by itself."""

    target: CaptureTarget
    fps: float
    sink: Callable[[CapturedFrame], None]
    backend: str = "auto"
    display: str | None = None
    clock: Callable[[], float] = time.monotonic
    on_error: Callable[[Exception], None] | None = None
    stats: CaptureStats = field(default_factory=CaptureStats)
    error: Exception | None = field(default=None, init=False)
    region: Region | None = field(default=None, init=False)
    grabber_name: str = field(default="", init=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _stop: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _ready: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def start(self, timeout_s: float = 10.0) -> Region:
        """Start the thread; returns the region being captured once the first grab worked, else raises CaptureError."""
        if self.fps <= 0:
            raise CaptureError("the frame rate must be positive")
        if self._thread is not None:
            raise CaptureError("a ScreenCapture starts once")
        self._thread = threading.Thread(target=self._run, name="pitbox-video-capture", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            self.stop()
            raise CaptureError("the capture did not start")
        if self.error is not None:
            self._thread.join(timeout_s)
            raise self.error if isinstance(self.error, CaptureError) else CaptureError(str(self.error))
        assert self.region is not None
        return self.region

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---------------------------------------------------------------- the capture thread

    def _run(self) -> None:
        try:
            grabber = open_grabber(self.target, self.backend, self.display)
        except Exception as exc:
            self._fail(exc if isinstance(exc, CaptureError) else CaptureError(str(exc)))
            return
        try:
            self.grabber_name = grabber.name
            self.region = resolve_region(self.target, grabber, self.display)
            grabber.grab(self.region)  # the first grab fails here, not in the loop
        except Exception as exc:
            grabber.close()
            self._fail(exc if isinstance(exc, CaptureError) else CaptureError(f"cannot grab the screen: {exc}"))
            return
        self._ready.set()
        try:
            self._loop(grabber)
        except Exception as exc:  # a bug must not vanish inside a thread
            logger.exception("the capture stopped")
            self._fail(exc)
        finally:
            grabber.close()

    def _fail(self, exc: Exception) -> None:
        self.error = exc
        self._ready.set()
        if self.on_error is not None:
            self.on_error(exc)

    def _loop(self, grabber: Grabber) -> None:
        clock, period, stats = self.clock, 1.0 / self.fps, self.stats
        region = self.region
        assert region is not None
        due = clock()
        recheck_at = due + WINDOW_RECHECK_S
        failures = 0
        while not self._stop.is_set():
            now = clock()
            if now < due:
                time.sleep(min(due - now, SLEEP_SLICE_S))
                continue
            behind = int((now - due) / period)
            if behind:
                stats.skipped += behind
                due += behind * period
            if self.target.kind is TargetKind.WINDOW and now >= recheck_at:
                recheck_at = now + WINDOW_RECHECK_S
                region = self._follow_window(grabber, region)
            before = clock()
            try:
                pixels = grabber.grab(region)
            except Exception as exc:
                failures += 1
                stats.failures += 1
                if failures >= MAX_GRAB_FAILURES:
                    self._fail(CaptureError(f"the screen cannot be grabbed any more: {exc}"))
                    return
                due += period
                continue
            after = clock()
            failures = 0
            stats.grab_s += after - before
            self.sink(CapturedFrame(pixels, 0.5 * (before + after)))
            stats.grabbed += 1
            due += period

    def _follow_window(self, grabber: Grabber, region: Region) -> Region:
        try:
            found = resolve_region(self.target, grabber, self.display)
        except CaptureError as exc:
            logger.debug("window lookup: %s (keeping %s)", exc, region)
            return region
        if found != region:
            logger.info("the captured window moved or resized: %s", found)
            self.region = found
        return found

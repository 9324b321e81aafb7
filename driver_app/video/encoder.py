"""H.264 into fragmented MP4 with PyAV: the encoder chosen, and one segment file at a time.

The frame size and rate come from a `presets.VideoPreset`.

`select_encoder("auto")` tries the hardware encoders in order (NVIDIA `h264_nvenc`, Intel
`h264_qsv`, AMD `h264_amf`) and falls back to `libx264` (ultrafast, zerolatency). A hardware
encoder counts only if it opens and encodes a frame here (an FFmpeg build lists nvenc on machines
without an NVIDIA card); the choice is probed once per process.

`SegmentWriter` writes one fragmented MP4 (`movflags=frag_keyframe+empty_moov+default_base_moof`)
from BGRA or BGR frames with capture timestamps: the first frame is a keyframe and its time is
pts 0, so every segment decodes on its own; later frames keep their real spacing (time base
1/90,000 s), so a late grab shows as a longer frame, not a faster clock. Frames are scaled with
OpenCV and converted to I420 there (faster than swscale from BGRA here), then encoded.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Final

import av
import cv2
import numpy as np
import numpy.typing as npt

from driver_app.video.errors import EncoderError
from driver_app.video.presets import ENCODER_NAMES

logger = logging.getLogger(__name__)

TIME_BASE: Final = Fraction(1, 90_000)
MOVFLAGS: Final = "frag_keyframe+empty_moov+default_base_moof"
FALLBACK: Final = "libx264"
HARDWARE_ORDER: Final = tuple(n for n in ENCODER_NAMES if n not in ("auto", FALLBACK))
ENCODER_OPTIONS: Final[dict[str, dict[str, str]]] = {
    "libx264": {"preset": "ultrafast", "tune": "zerolatency", "crf": "23"},
    "h264_nvenc": {"preset": "p1", "tune": "ll", "rc": "vbr", "cq": "23"},
    "h264_qsv": {"preset": "veryfast", "look_ahead": "0"},
    "h264_amf": {"usage": "lowlatency", "quality": "speed"},
}
"""Per encoder: the fastest low-latency settings (quality held by a constant-quality target)."""


@dataclass(frozen=True, slots=True)
class EncoderChoice:
    name: str
    options: dict[str, str] = field(default_factory=dict)


_chosen: dict[str, EncoderChoice] = {}
_choose_lock = threading.Lock()


def _encoder_works(name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # av.codec raises UnknownCodecError (a ValueError) or FFmpegError
        return False
    try:
        context: Any = av.CodecContext.create(name, "w")
        context.width, context.height, context.pix_fmt = 256, 144, "yuv420p"
        context.time_base = TIME_BASE
        context.framerate = Fraction(30)
        context.options = dict(ENCODER_OPTIONS.get(name, {}))
        context.open()
        frame = av.VideoFrame(256, 144, "yuv420p")
        frame.pts = 0
        context.encode(frame)
        context.encode(None)
        return True
    except Exception as exc:
        logger.debug("encoder %s is listed but does not work here: %s", name, exc)
        return False


def select_encoder(preferred: str = "auto") -> EncoderChoice:
    """The encoder to use (see the module docstring); EncoderError when not even libx264 works."""
    with _choose_lock:
        if preferred in _chosen:
            return _chosen[preferred]
        if preferred == "auto":
            candidates: tuple[str, ...] = (*HARDWARE_ORDER, FALLBACK)
        else:
            candidates = (preferred, FALLBACK) if preferred != FALLBACK else (FALLBACK,)
        for name in candidates:
            if _encoder_works(name):
                if name != candidates[0]:
                    logger.info(
                        "video encoder %s (%s unavailable)", name, ", ".join(candidates[: candidates.index(name)])
                    )
                choice = EncoderChoice(name, dict(ENCODER_OPTIONS.get(name, {})))
                _chosen[preferred] = choice
                return choice
        raise EncoderError(f"no H.264 encoder works here (tried {', '.join(candidates)})")


def to_i420(pixels: npt.NDArray[np.uint8], width: int, height: int) -> npt.NDArray[np.uint8]:
    """BGRA or BGR pixels, scaled to `width` x `height`, as one I420 plane block (H*3/2 x W)."""
    h, w = pixels.shape[:2]
    if (w, h) != (width, height):
        shrink = width / w <= 0.5 and height / h <= 0.5
        interpolation = cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
        pixels = np.asarray(cv2.resize(pixels, (width, height), interpolation=interpolation), dtype=np.uint8)
    code = cv2.COLOR_BGRA2YUV_I420 if pixels.shape[2] == 4 else cv2.COLOR_BGR2YUV_I420
    return np.asarray(cv2.cvtColor(pixels, code), dtype=np.uint8)


@dataclass(frozen=True, slots=True)
class WrittenSegment:
    """One finished MP4 file: where, how big, and the capture time of each of its frames."""

    path: Path
    bytes: int
    frame_times_s: npt.NDArray[np.float64]
    """Capture clock time of each frame, in order (frame k is at pts `frame_times_s[k] - frame_times_s[0]`)."""
    width: int
    height: int
    encoder: str

    @property
    def frames(self) -> int:
        return len(self.frame_times_s)


class SegmentWriter:
    """One fragmented MP4 file (see the module docstring). `add` frames, then `close`."""

    def __init__(
        self,
        path: Path,
        encoder: EncoderChoice,
        width: int,
        height: int,
        fps: int,
        *,
        max_bitrate: int | None = None,
        thread_count: int = 0,
    ) -> None:
        self.path = path
        self.encoder = encoder
        self.width, self.height, self.fps = width, height, fps
        self._times: list[float] = []
        self._last_pts = -1
        try:
            self._container: Any = av.open(str(path), "w", format="mp4", options={"movflags": MOVFLAGS})
        except (OSError, av.FFmpegError) as exc:
            raise EncoderError(f"cannot write {path}: {exc}") from None
        try:
            stream: Any = self._container.add_stream(encoder.name, rate=fps)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.time_base = TIME_BASE
            context = stream.codec_context
            context.time_base = TIME_BASE
            context.thread_count = thread_count
            options = dict(encoder.options)
            if max_bitrate:
                options.setdefault("maxrate", str(max_bitrate))
                options.setdefault("bufsize", str(2 * max_bitrate))
            stream.options = options
            self._stream = stream
        except Exception as exc:
            self._container.close()
            raise EncoderError(f"cannot set up the {encoder.name} encoder: {exc}") from None

    @property
    def frames(self) -> int:
        return len(self._times)

    def add(self, pixels: npt.NDArray[np.uint8], t_s: float) -> None:
        """A BGRA or BGR frame captured at `t_s` (capture clock seconds, increasing)."""
        frame = av.VideoFrame.from_ndarray(to_i420(pixels, self.width, self.height), format="yuv420p")
        self.add_frame(frame, t_s)

    def add_frame(self, frame: av.VideoFrame, t_s: float) -> None:
        """An already converted yuv420p frame of this writer's size."""
        start = self._times[0] if self._times else t_s
        pts = max(round((t_s - start) / TIME_BASE), self._last_pts + 1)
        frame.pts = pts
        frame.time_base = TIME_BASE
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except av.FFmpegError as exc:
            raise EncoderError(f"encoding into {self.path.name} failed: {exc}") from None
        self._last_pts = pts
        self._times.append(t_s)

    def close(self) -> WrittenSegment:
        """Flush the encoder and finish the file."""
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        except av.FFmpegError as exc:
            raise EncoderError(f"finishing {self.path.name} failed: {exc}") from None
        finally:
            self._container.close()
        return WrittenSegment(
            self.path,
            self.path.stat().st_size,
            np.array(self._times, dtype=np.float64),
            self.width,
            self.height,
            self.encoder.name,
        )

    def abandon(self) -> None:
        """Close without caring about the file (an error path)."""
        try:
            self._container.close()
        except Exception as exc:
            logger.debug("closing %s: %s", self.path.name, exc)

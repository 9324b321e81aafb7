"""Clips: the video around a moment, cut from the replay buffer and saved with its telemetry.

A `ClipRequest` names a moment on the capture clock and how much to keep before and after it
(10 s and 10 s by default) and the events it was made for (a voice "clip that", the tray's "Save
clip", an incident from coaching). `build_clip` decodes the segments that cover the window, keeps
the frames inside it, optionally burns the telemetry overlay in (`overlay.py`), and encodes them
into one fragmented MP4, `clip-ID.mp4`; beside it goes `clip-ID.telemetry.json`, the telemetry of
the same window with the session time of every video frame (schema: `telemetry_window.py`).
Both are written under a temporary name and renamed when complete, so a file named `clip-*.mp4`
is always whole. Clips stay in the clips folder for good; they are the driver's.

Building a 20 s clip at 720p30 costs a few CPU seconds (decode, draw, encode); the recorder does
it on a thread of lower priority than the capture.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import av
import numpy as np
import numpy.typing as npt

from driver_app.video.clockmap import ClockMap
from driver_app.video.config import CLIP_AFTER_S, CLIP_BEFORE_S
from driver_app.video.encoder import EncoderChoice, SegmentWriter
from driver_app.video.errors import ClipError, EncoderError
from driver_app.video.overlay import OverlayValues, draw_overlay
from driver_app.video.replay_buffer import Segment
from driver_app.video.telemetry_window import window_document

logger = logging.getLogger(__name__)

TELEMETRY_SUFFIX: Final = ".telemetry.json"


@dataclass(frozen=True, slots=True)
class ClipEvent:
    """Why a clip was made: when (session time), who asked ("voice", "menu", "incident:spin"), details."""

    at_s: float
    source: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"at_s": round(self.at_s, 3), "source": self.source, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class ClipRequest:
    clip_id: str
    at_mono_s: float
    """The moment, on the capture clock."""
    before_s: float = CLIP_BEFORE_S
    after_s: float = CLIP_AFTER_S
    events: tuple[ClipEvent, ...] = ()

    @property
    def start_mono_s(self) -> float:
        return self.at_mono_s - self.before_s

    @property
    def end_mono_s(self) -> float:
        return self.at_mono_s + self.after_s

    @property
    def source(self) -> str:
        return self.events[0].source if self.events else ""


@dataclass(frozen=True, slots=True)
class Clip:
    """A saved clip: its files and its window in session time."""

    clip_id: str
    path: Path
    telemetry_path: Path
    bytes: int
    frames: int
    start_s: float
    end_s: float
    event_s: float
    source: str
    width: int
    height: int
    complete: bool
    """False when the video did not cover the whole window (capture started late or stopped early)."""


def telemetry_path_for(clip_path: Path) -> Path:
    return clip_path.with_name(clip_path.stem + TELEMETRY_SUFFIX)


def build_clip(
    request: ClipRequest,
    segments: Sequence[Segment],
    telemetry: npt.NDArray[np.void],
    clock_map: ClockMap,
    out_dir: Path,
    encoder: EncoderChoice,
    *,
    overlay: bool = True,
    car_id: int | None = None,
    max_bitrate: int | None = None,
) -> Clip:
    """Cut, draw, encode and save one clip (see the module docstring); ClipError when no frame is left."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if not segments:
        raise ClipError(f"{request.clip_id}: no video covers the moment (capture was not running)")
    first = segments[0]
    fps = first.fps
    path = out_dir / f"{request.clip_id}.mp4"
    partial = path.with_name(path.name + ".part")
    writer: SegmentWriter | None = None
    session_times: list[float] = []
    try:
        writer = SegmentWriter(
            partial, encoder, first.width, first.height, fps, max_bitrate=max_bitrate, thread_count=1
        )
        for segment in segments:
            _copy_frames(segment, request, writer, telemetry if overlay else None, session_times)
        if writer.frames == 0:
            raise ClipError(f"{request.clip_id}: the video of that moment is no longer in the replay buffer")
        written = writer.close()
        writer = None
    except (EncoderError, av.FFmpegError, OSError) as exc:
        raise ClipError(f"{request.clip_id}: {exc}") from None
    finally:
        if writer is not None:
            writer.abandon()
            partial.unlink(missing_ok=True)
    start_s = session_times[0]
    end_s = session_times[-1] + 1.0 / fps
    event_s = clock_map.to_session(request.at_mono_s)
    complete = bool(
        written.frame_times_s[0] <= request.start_mono_s + 1.0 / fps
        and written.frame_times_s[-1] >= request.end_mono_s - 1.0 / fps
    )
    document = window_document(
        telemetry,
        clip_id=request.clip_id,
        start_s=start_s,
        end_s=end_s,
        event_s=event_s,
        events=[e.to_dict() for e in request.events],
        car_id=car_id,
        video={
            "file": path.name,
            "width": written.width,
            "height": written.height,
            "fps": fps,
            "encoder": written.encoder,
            "overlay": overlay,
            "complete": complete,
            "frame_session_time_s": [round(t, 4) for t in session_times],
        },
    )
    telemetry_path = telemetry_path_for(path)
    partial_json = telemetry_path.with_name(telemetry_path.name + ".part")
    partial_json.write_bytes(document)
    os.replace(partial_json, telemetry_path)
    os.replace(partial, path)
    logger.info(
        "clip %s saved: %d frames, %.1f-%.1f s session time (%s)",
        request.clip_id,
        written.frames,
        start_s,
        end_s,
        request.source,
    )
    return Clip(
        request.clip_id,
        path,
        telemetry_path,
        path.stat().st_size,
        written.frames,
        start_s,
        end_s,
        event_s,
        request.source,
        written.width,
        written.height,
        complete,
    )


def _copy_frames(
    segment: Segment,
    request: ClipRequest,
    writer: SegmentWriter,
    telemetry: npt.NDArray[np.void] | None,
    session_times: list[float],
) -> None:
    times = segment.frame_times_s
    if not segment.path.exists():
        logger.warning("%s: segment %s is gone (budget): the clip misses it", request.clip_id, segment.segment_id)
        return
    with av.open(str(segment.path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index >= len(times):
                break
            t = float(times[index])
            if t < request.start_mono_s:
                continue
            if t > request.end_mono_s:
                break
            session_s = float(segment.frame_session_s[index])
            values = None if telemetry is None else OverlayValues.at(telemetry, session_s)
            if values is not None or frame.width != writer.width or frame.height != writer.height:
                bgr = np.asarray(frame.to_ndarray(format="bgr24"), dtype=np.uint8)
                if values is not None:
                    draw_overlay(bgr, values)
                writer.add(bgr, t)
            else:
                frame.pict_type = av.video.frame.PictureType.NONE  # the encoder chooses keyframes anew
                writer.add_frame(frame, t)
            session_times.append(session_s)

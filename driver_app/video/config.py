"""`VideoConfig`: how to record, as the driver app's `video_*` settings say (plain values, no PyAV).

The defaults record the primary monitor at 720p30 in 4 s segments, keep the last 60 s (within
400 MB of disk and 64 MB of frames waiting for the encoder), cut clips 10 s either side of their
moment with the telemetry overlay, and share segments and clips with the relay.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from driver_app.video.capture import CaptureTarget
from driver_app.video.presets import ENCODER_NAMES, VideoPreset, preset_for
from driver_app.video.replay_buffer import KEEP_S, MAX_BYTES

UPLOAD_MODES: Final = ("all", "clips", "none")
MAX_QUEUE_BYTES: Final = 64 * 1024 * 1024
CLIP_BEFORE_S: Final = 10.0
CLIP_AFTER_S: Final = 10.0


@dataclass(frozen=True, slots=True)
class VideoConfig:
    """How to record (the driver app's `video_*` settings, validated there)."""

    target: str = ""
    """`capture.CaptureTarget` text: "" (primary monitor), "monitor:N", "region:L,T,W,H", "window:TITLE"."""
    resolution: str = "720p"
    fps: int = 30
    segment_s: float = 4.0
    encoder: str = "auto"
    backend: str = "auto"
    """Capture backend: "auto" (dxcam for monitors on Windows when installed, else mss), "mss", "dxcam"."""
    overlay: bool = True
    """Burn speed, gear and inputs into clips."""
    upload: str = "all"
    """"all" (segments and clips), "clips", or "none"."""
    clip_before_s: float = CLIP_BEFORE_S
    clip_after_s: float = CLIP_AFTER_S
    keep_s: float = KEEP_S
    max_disk_bytes: int = MAX_BYTES
    max_queue_bytes: int = MAX_QUEUE_BYTES
    folder: Path | None = None
    """Where `replay/` and `clips/` go (None: a folder in the system's temp dir)."""
    display: str | None = None
    """The X display to capture (None: $DISPLAY). Ignored on Windows."""

    @property
    def preset(self) -> VideoPreset:
        return preset_for(self.resolution, self.fps)

    def check(self) -> None:
        """ValueError naming the first thing wrong."""
        CaptureTarget.parse(self.target)
        preset_for(self.resolution, self.fps)
        if not 0.5 <= self.segment_s <= 60:
            raise ValueError("segment_s must be between 0.5 and 60 seconds")
        if self.encoder not in ENCODER_NAMES:
            raise ValueError(f"encoder must be one of {', '.join(ENCODER_NAMES)}")
        if self.upload not in UPLOAD_MODES:
            raise ValueError(f"upload must be one of {', '.join(UPLOAD_MODES)}")
        if self.clip_before_s < 0 or self.clip_after_s < 0:
            raise ValueError("clip windows cannot be negative")

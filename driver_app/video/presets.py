"""Video presets: named frame sizes and rates, the rate cap, and the encoder names a setting may give.

`preset_for("720p", 30)` is 1280x720 at 30 fps (`PRESETS` lists "480p30" ... "1440p60"). A capture
whose shape is not 16:9 is fitted inside the preset's box, keeping its aspect ratio, and is never
scaled up. Pure values: the settings validate against this module without loading PyAV or OpenCV.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

ENCODER_NAMES: Final = ("auto", "h264_nvenc", "h264_qsv", "h264_amf", "libx264")
"""`video_encoder` values: "auto" tries the hardware encoders in this order, then libx264."""
BITS_PER_PIXEL: Final = 0.15
"""The rate cap per pixel per frame (720p30: ~4 Mbit/s), so a busy scene cannot flood the LAN."""
RESOLUTIONS: Final = {
    "480p": (854, 480),
    "720p": (1280, 720),
    "900p": (1600, 900),
    "1080p": (1920, 1080),
    "1440p": (2560, 1440),
}


@dataclass(frozen=True, slots=True)
class VideoPreset:
    """The largest frame to encode (`width` x `height`) and the frame rate."""

    name: str
    width: int
    height: int
    fps: int

    @property
    def max_bitrate(self) -> int:
        return int(self.width * self.height * self.fps * BITS_PER_PIXEL)

    def fit(self, width: int, height: int) -> tuple[int, int]:
        """The encoded size for a capture of `width` x `height`: inside the box, same aspect, even, never larger."""
        scale = min(1.0, self.width / width, self.height / height)
        return max(16, int(width * scale) & ~1), max(16, int(height * scale) & ~1)


def preset_for(resolution: str, fps: int) -> VideoPreset:
    """The preset for a resolution name ("720p") and a frame rate; ValueError for an unknown name."""
    try:
        width, height = RESOLUTIONS[resolution]
    except KeyError:
        raise ValueError(f"unknown resolution {resolution!r}; choose one of {', '.join(RESOLUTIONS)}") from None
    if not 1 <= fps <= 120:
        raise ValueError("the frame rate must be between 1 and 120")
    return VideoPreset(f"{resolution}{fps}", width, height, fps)


PRESETS: Final = {p.name: p for p in (preset_for(r, f) for r in RESOLUTIONS for f in (30, 60))}

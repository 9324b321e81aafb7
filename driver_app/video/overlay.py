"""The telemetry overlay burned into clips: speed, gear and the driver's inputs, drawn with OpenCV.

`OverlayValues.at(frames, t)` takes the telemetry sample in effect at a video frame's session time
(the newest frame at or before it); `draw_overlay(bgr, values)` draws, in place, a panel in the
top-left corner, sized to the frame (designed at 720 lines, scaled for others):

- speed in km/h and the gear (R, N, 1..n) in large type;
- throttle (green) and brake (red) as vertical bars, clutch (grey) beside them;
- the steering angle as a bar that grows left or right from the centre;
- lap and session time in small type.

Only clips get an overlay; live segments stay clean (the dashboard draws its own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

DESIGN_HEIGHT: Final = 720
PANEL_W: Final = 330
PANEL_H: Final = 130
MARGIN: Final = 16
STEER_FULL_RAD: Final = math.radians(450.0)
"""Steering angle drawn as a full bar (a typical wheel's lock to one side)."""
FONT: Final = cv2.FONT_HERSHEY_SIMPLEX
WHITE: Final = (255, 255, 255)
GREEN: Final = (60, 200, 60)
RED: Final = (50, 50, 230)
GREY: Final = (170, 170, 170)
PANEL: Final = (20, 20, 20)


@dataclass(frozen=True, slots=True)
class OverlayValues:
    speed_mps: float
    gear: int
    throttle: float
    brake: float
    clutch: float
    steering_rad: float
    lap: int
    session_time_s: float

    @classmethod
    def at(cls, frames: npt.NDArray[np.void], session_time_s: float) -> OverlayValues | None:
        """The sample in effect at `session_time_s` (frames sorted by session time); None before the first."""
        if len(frames) == 0:
            return None
        index = int(np.searchsorted(frames["session_time_s"], session_time_s, side="right")) - 1
        if index < 0:
            return None
        f = frames[index]
        return cls(
            float(f["speed_mps"]),
            int(f["gear"]),
            float(f["throttle"]),
            float(f["brake"]),
            float(f["clutch"]),
            float(f["steering_angle_rad"]),
            int(f["lap"]),
            float(f["session_time_s"]),
        )


def _finite(value: float, default: float = 0.0) -> float:
    return value if math.isfinite(value) else default


def gear_text(gear: int) -> str:
    return "R" if gear < 0 else "N" if gear == 0 else str(gear)


def draw_overlay(bgr: npt.NDArray[np.uint8], values: OverlayValues) -> None:
    """Draw the panel on `bgr` (H x W x 3, modified in place)."""
    height, width = bgr.shape[:2]
    s = height / DESIGN_HEIGHT
    pw, ph = min(int(PANEL_W * s), width), min(int(PANEL_H * s), height)
    x0 = y0 = int(MARGIN * s)
    if x0 + pw > width or y0 + ph > height:
        x0 = y0 = 0
    roi = bgr[y0 : y0 + ph, x0 : x0 + pw]
    shade = np.full_like(roi, PANEL)
    cv2.addWeighted(roi, 0.35, shade, 0.65, 0.0, dst=roi)

    def at(x: float, y: float) -> tuple[int, int]:
        return x0 + int(x * s), y0 + int(y * s)

    thick = max(1, int(2 * s))
    speed_kmh = _finite(values.speed_mps) * 3.6
    cv2.putText(bgr, f"{speed_kmh:3.0f}", at(12, 62), FONT, 1.7 * s, WHITE, max(1, int(3 * s)), cv2.LINE_AA)
    cv2.putText(bgr, "km/h", at(118, 62), FONT, 0.55 * s, GREY, max(1, int(1 * s)), cv2.LINE_AA)
    cv2.putText(bgr, gear_text(values.gear), at(178, 66), FONT, 2.0 * s, WHITE, max(1, int(4 * s)), cv2.LINE_AA)
    minutes, seconds = divmod(max(0.0, _finite(values.session_time_s)), 60.0)
    lap = f"lap {values.lap}  " if values.lap >= 0 else ""
    cv2.putText(
        bgr, f"{lap}{int(minutes)}:{seconds:06.3f}", at(12, 92), FONT, 0.5 * s, GREY, max(1, int(1 * s)), cv2.LINE_AA
    )

    # Pedals: three vertical bars, bottom-aligned.
    bar_top, bar_bottom, bar_w = 14, 116, 18
    for i, (value, colour) in enumerate(((values.clutch, GREY), (values.brake, RED), (values.throttle, GREEN))):
        left = 242 + i * (bar_w + 8)
        cv2.rectangle(bgr, at(left, bar_top), at(left + bar_w, bar_bottom), GREY, max(1, int(1 * s)))
        level = min(1.0, max(0.0, _finite(value)))
        if level > 0:
            top = bar_bottom - level * (bar_bottom - bar_top)
            cv2.rectangle(bgr, at(left + 2, top), at(left + bar_w - 2, bar_bottom - 2), colour, cv2.FILLED)

    # Steering: a bar from the centre, left for positive angles (the canonical model's sign).
    centre, half, y = 112, 100, 108
    cv2.line(bgr, at(centre - half, y), at(centre + half, y), GREY, max(1, int(1 * s)))
    share = min(1.0, max(-1.0, _finite(values.steering_rad) / STEER_FULL_RAD))
    end = centre - share * half
    cv2.line(bgr, at(centre, y), at(end, y), WHITE, thick * 2)
    cv2.circle(bgr, at(end, y), max(2, int(4 * s)), WHITE, cv2.FILLED)

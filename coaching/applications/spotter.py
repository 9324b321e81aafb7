"""SpotterApplication: car left, car right, three wide, still there, clear, from the car-left-right channel."""

from __future__ import annotations

from typing import Final

from adapters.model import CarLeftRight
from coaching.applications.base import Context, Sample, say
from coaching.messages import Priority

CALLS: Final = {
    CarLeftRight.CAR_LEFT: "Car left",
    CarLeftRight.CAR_RIGHT: "Car right",
    CarLeftRight.CARS_LEFT_RIGHT: "Three wide, you're in the middle",
    CarLeftRight.TWO_CARS_LEFT: "Three wide, two cars left",
    CarLeftRight.TWO_CARS_RIGHT: "Three wide, two cars right",
}
STALE_AFTER_S: Final = 0.6
"""A spotter call not started within this is no longer true."""


class SpotterApplication:
    """Hysteresis: an overlap state must hold for `spotter_confirm_frames` frames (a one-frame flicker
    says nothing) and "clear" for `spotter_clear_s`; an overlap that lasts is repeated as "still
    there" every `spotter_still_there_s`. OFF (the sim's spotter is off: pits, replays) says nothing.
    """

    name = "spotter"

    def __init__(self) -> None:
        self._announced = CarLeftRight.CLEAR  # what the driver was last told
        self._candidate = CarLeftRight.CLEAR
        self._candidate_frames = 0
        self._candidate_since_s = 0.0
        self._announced_at_s = 0.0
        self._count = 0

    def on_frame(self, s: Sample, ctx: Context) -> None:
        state = s.car_left_right
        if state == self._candidate:
            self._candidate_frames += 1
        else:
            self._candidate = CarLeftRight(state) if state in CarLeftRight._value2member_map_ else CarLeftRight.OFF
            self._candidate_frames = 1
            self._candidate_since_s = s.t
        candidate = self._candidate
        if candidate == CarLeftRight.OFF:
            self._announced = CarLeftRight.CLEAR
            return
        if candidate == self._announced:
            if candidate != CarLeftRight.CLEAR and s.t - self._announced_at_s >= ctx.settings.spotter_still_there_s:
                self._say(s, ctx, "Still there", "still_there")
            return
        if candidate == CarLeftRight.CLEAR:
            if s.t - self._candidate_since_s >= ctx.settings.spotter_clear_s:
                side = {CarLeftRight.CAR_LEFT: "Clear left", CarLeftRight.CAR_RIGHT: "Clear right"}.get(
                    self._announced, "Clear all round"
                )
                self._announced = CarLeftRight.CLEAR
                self._say(s, ctx, side, "clear")
            return
        if self._candidate_frames >= ctx.settings.spotter_confirm_frames:
            self._announced = candidate
            self._say(s, ctx, CALLS[candidate], candidate.name.lower())

    def _say(self, s: Sample, ctx: Context, text: str, state: str) -> None:
        self._announced_at_s = s.t
        self._count += 1
        say(
            ctx,
            s,
            text,
            priority=Priority.SPOTTER,
            category=self.name,
            stale_after_s=STALE_AFTER_S,
            key=f"spotter:{self._count}",
            data={"state": state},
        )

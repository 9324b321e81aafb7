"""PitApplication: pit limiter, pit entry and exit, and "box this lap" when strategy says so."""

from __future__ import annotations

from typing import Final

from coaching.applications.base import Context, Sample, say
from coaching.messages import Priority

LIMITER_GRACE_S: Final = 0.5
"""Time on pit road without the limiter before the warning (the driver may be pressing it)."""


class PitApplication:
    """Limiter warnings are critical (a speeding penalty costs a race); the rest is important."""

    name = "pit"

    def __init__(self) -> None:
        self._on_pit_road = False
        self._entered_at_s: float | None = None
        self._warned = False
        self._boxed_for_lap: int | None = None

    def on_frame(self, s: Sample, ctx: Context) -> None:
        if s.on_pit_road != self._on_pit_road:
            self._on_pit_road = s.on_pit_road
            if s.on_pit_road:
                self._entered_at_s, self._warned = s.t, False
                if s.speed_mps > 2.0:  # driving in, not placed in the stall
                    self._say(s, ctx, "Pit road, limiter", Priority.IMPORTANT, "entry", 3.0)
            else:
                self._entered_at_s = None
                if s.pit_limiter:
                    self._say(s, ctx, "Pit exit, limiter off, go", Priority.CRITICAL, "exit_limiter", 3.0)
                elif s.speed_mps > 2.0:
                    self._say(s, ctx, "Pit exit, watch the line", Priority.IMPORTANT, "exit", 3.0)
            return
        if (
            s.on_pit_road
            and not s.pit_limiter
            and not self._warned
            and self._entered_at_s is not None
            and s.t - self._entered_at_s >= LIMITER_GRACE_S
            and s.speed_mps > 5.0
        ):
            self._warned = True
            self._say(s, ctx, "Limiter, limiter", Priority.CRITICAL, "no_limiter", 2.0)

    def on_lap_start(self, lap: int, s: Sample, ctx: Context) -> None:
        snapshot = ctx.strategy
        window = None if snapshot is None else snapshot.pit_window
        stops = [] if not window else list(window.get("stop_laps") or [])
        # The pit window counts laps from the one being driven: 1 means "stop at the end of this lap".
        if stops and stops[0] == 1 and self._boxed_for_lap != lap and not s.on_pit_road:
            self._boxed_for_lap = lap
            self._say(s, ctx, "Box this lap, box this lap", Priority.IMPORTANT, f"box:{lap}", 60.0)

    def _say(self, s: Sample, ctx: Context, text: str, priority: Priority, what: str, stale_s: float) -> None:
        say(
            ctx,
            s,
            text,
            priority=priority,
            category=self.name,
            stale_after_s=stale_s,
            key=f"pit:{what}",
            repeat_after_s=5.0,
            data={"event": what.split(":")[0]},
        )

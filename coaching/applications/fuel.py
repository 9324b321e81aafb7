"""FuelApplication: laps of fuel left and fuel to the finish, at the line, and a critical call when short."""

from __future__ import annotations

import math
from typing import Final

from adapters.model import SessionFlag
from coaching.applications.base import Context, Sample, say
from coaching.messages import Priority, Verbosity
from strategy.errors import NotEnoughDataError
from strategy.fuel import estimate_fuel_per_lap, laps_of_fuel_left

CRITICAL_LAPS: Final = 1.5
"""Below this many laps of fuel, with the flag further away, the call is critical."""
LOW_LAPS: Final = 3.0


class FuelApplication:
    """At the start of a lap: every `fuel_call_every_laps` laps, and every lap once fewer than
    LOW_LAPS laps of fuel are left. Uses the strategy engine's fuel plan when the copilot has one;
    otherwise its own estimate from the laps coaching has seen."""

    name = "fuel"

    def on_lap_start(self, lap: int, s: Sample, ctx: Context) -> None:
        if s.on_pit_road or math.isnan(s.fuel_l) or s.flags & SessionFlag.CHECKERED:
            return
        plan = None if ctx.strategy is None else ctx.strategy.fuel
        if plan is not None:
            laps_left, add_l, remaining = plan.laps_of_fuel_left, plan.fuel_to_add_l, plan.laps_remaining
        else:
            try:
                per_lap = estimate_fuel_per_lap(ctx.history.laps()).fuel_per_lap_l
            except NotEnoughDataError:
                return
            laps_left = laps_of_fuel_left(s.fuel_l, per_lap)
            session_laps = None if ctx.session is None else ctx.session.laps
            # At the line of lap `lap`, that lap and the ones after it are still to drive.
            remaining = math.nan if session_laps is None else float(max(session_laps - lap + 1, 0))
            add_l = math.nan if math.isnan(remaining) else max(remaining * per_lap - s.fuel_l, 0.0)
        short = not math.isnan(remaining) and remaining > laps_left
        due = ctx.laps_started % max(ctx.settings.fuel_call_every_laps, 1) == 0
        if remaining == 0:
            return
        if laps_left < CRITICAL_LAPS and (short or math.isnan(remaining)):
            text = f"Fuel critical, {laps_left:.1f} laps left, box now"
            priority = Priority.CRITICAL
        elif laps_left < LOW_LAPS or due:
            text = f"Fuel for {laps_left:.1f} laps"
            if not math.isnan(remaining):
                text += f", add {add_l:.1f} litres to finish" if short else ", enough to the finish"
            priority = Priority.REGULAR
        else:
            return
        say(
            ctx,
            s,
            text,
            priority=priority,
            category=self.name,
            stale_after_s=20.0,
            key=f"fuel:{lap}",
            verbosity=Verbosity.QUIET if priority is Priority.CRITICAL else Verbosity.NORMAL,
            data={
                "laps_of_fuel_left": round(laps_left, 2),
                "fuel_to_add_l": None if math.isnan(add_l) else round(add_l, 2),
            },
        )

"""Fuel: consumption per lap, laps of fuel left, fuel to finish, fuel to add and fuel-save targets.

Consumption is measured on green-flag flying laps only: out-laps, in-laps, laps under yellow,
invalid laps (resets, tows, off-tracks) and outliers burn fuel unlike a racing lap and would bias
the figure. Races by laps and by time are both handled; in a timed race the leader's pace sets
the number of laps, including the lap the leader finishes after the clock runs out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from adapters.model import Lap
from strategy.errors import InvalidInputError, NotEnoughDataError
from strategy.pace import is_representative

DEFAULT_MARGIN_LAPS: Final = 0.5
"""Fuel kept in hand at the flag, in laps of consumption: enough for a slow last lap, not a lap more."""
MAX_SAVING_FRAC: Final = 0.15
"""Lift-and-coast saves at most this share of a lap's fuel; a bigger saving is not offered as a target."""
OUTLIER_MAD: Final = 4.0
"""Laps whose consumption is further than this many scaled MADs from the median are ignored."""


@dataclass(frozen=True, slots=True)
class FuelEstimate:
    """Fuel burnt per green-flag lap, from `laps_used` laps (litres)."""

    fuel_per_lap_l: float
    sd_l: float
    laps_used: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "fuel_per_lap_l": round(self.fuel_per_lap_l, 4),
            "sd_l": round(self.sd_l, 4),
            "laps_used": self.laps_used,
        }


def green_flag_laps(laps: Sequence[Lap]) -> list[Lap]:
    """The laps whose consumption is representative: flying, no caution, fuel measured."""
    return [lap for lap in laps if is_representative(lap) and lap.fuel_used_l is not None and lap.fuel_used_l > 0]


def estimate_fuel_per_lap(laps: Sequence[Lap], *, recent: int | None = 10) -> FuelEstimate:
    """Robust consumption per lap over the `recent` most recent green-flag laps (all if None)."""
    usable = green_flag_laps(laps)
    if recent is not None:
        usable = usable[-recent:]
    if not usable:
        raise NotEnoughDataError("no green-flag flying lap yet: fuel per lap needs at least one")
    burns = np.array([lap.fuel_used_l for lap in usable], dtype=np.float64)
    median = float(np.median(burns))
    mad = float(np.median(np.abs(burns - median))) * 1.4826
    if mad > 0:
        burns = burns[np.abs(burns - median) <= OUTLIER_MAD * mad]
    sd = float(burns.std(ddof=1)) if len(burns) > 1 else 0.0
    return FuelEstimate(float(burns.mean()), sd, len(burns))


def laps_of_fuel_left(fuel_l: float, fuel_per_lap_l: float) -> float:
    """How many laps the fuel in the tank lasts at the given consumption."""
    if fuel_per_lap_l <= 0:
        raise InvalidInputError("fuel per lap must be positive")
    return max(0.0, fuel_l) / fuel_per_lap_l


def laps_remaining_by_laps(total_laps: int, laps_completed: int, lap_dist_frac: float) -> float:
    """Laps still to drive (including the rest of the current one) in a race of `total_laps`."""
    if total_laps <= 0:
        raise InvalidInputError("a race by laps needs a positive lap count")
    frac = min(max(lap_dist_frac, 0.0), 1.0)
    return max(0.0, total_laps - laps_completed - frac)


def laps_remaining_by_time(
    time_remaining_s: float,
    leader_lap_time_s: float,
    leader_lap_frac: float,
    player_lap_time_s: float,
    player_lap_frac: float,
) -> float:
    """Laps the player still drives in a timed race.

    The leader takes the flag at the first line crossing after the clock reaches zero; the player
    finishes at the first crossing after that moment.
    """
    if leader_lap_time_s <= 0 or player_lap_time_s <= 0:
        raise InvalidInputError("lap times must be positive")
    leader_frac = min(max(leader_lap_frac, 0.0), 1.0)
    player_frac = min(max(player_lap_frac, 0.0), 1.0)
    time_left = max(0.0, time_remaining_s)
    # Crossings the leader still makes: the first one at (1 - f) laps, then one per lap; the last
    # is the first crossing at or after the clock's end.
    leader_crossings = max(1, math.ceil(time_left / leader_lap_time_s + leader_frac - 1e-9))
    finish_time_s = (leader_crossings - leader_frac) * leader_lap_time_s
    player_position = player_frac + finish_time_s / player_lap_time_s
    return math.ceil(player_position - 1e-9) - player_frac


@dataclass(frozen=True, slots=True)
class FuelPlan:
    """The fuel picture for the rest of the race (litres and laps)."""

    fuel_l: float
    fuel_per_lap_l: float
    laps_remaining: float
    laps_of_fuel_left: float
    fuel_to_finish_l: float
    """Fuel needed from now to the flag, margin included."""
    fuel_to_add_l: float
    """What to add at the next stop (limited by the tank), 0 when the tank reaches the flag."""
    stops_needed: int
    save_target_l_per_lap: float | None
    """Consumption that reaches the flag (or the next stop) with no fuel added; None when no saving
    is needed or the saving needed is beyond what lift-and-coast can do (MAX_SAVING_FRAC)."""
    margin_l: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "fuel_l": round(self.fuel_l, 3),
            "fuel_per_lap_l": round(self.fuel_per_lap_l, 4),
            "laps_remaining": round(self.laps_remaining, 3),
            "laps_of_fuel_left": round(self.laps_of_fuel_left, 3),
            "fuel_to_finish_l": round(self.fuel_to_finish_l, 3),
            "fuel_to_add_l": round(self.fuel_to_add_l, 3),
            "stops_needed": self.stops_needed,
            "save_target_l_per_lap": None
            if self.save_target_l_per_lap is None
            else round(self.save_target_l_per_lap, 4),
            "margin_l": round(self.margin_l, 3),
        }


def fuel_plan(
    fuel_l: float,
    fuel_per_lap_l: float,
    laps_remaining: float,
    *,
    tank_capacity_l: float | None = None,
    margin_laps: float = DEFAULT_MARGIN_LAPS,
    laps_to_next_window: float | None = None,
) -> FuelPlan:
    """Fuel to finish, to add and to save, from the current tank and consumption.

    `laps_to_next_window` is the distance to the next planned stop; when given and a stop is
    needed anyway, the save target is what reaches that stop instead of the flag.
    """
    if fuel_per_lap_l <= 0:
        raise InvalidInputError("fuel per lap must be positive")
    if laps_remaining < 0 or margin_laps < 0:
        raise InvalidInputError("laps remaining and margin cannot be negative")
    if tank_capacity_l is not None and tank_capacity_l <= 0:
        raise InvalidInputError("tank capacity must be positive")
    margin_l = margin_laps * fuel_per_lap_l
    fuel_to_finish = laps_remaining * fuel_per_lap_l + margin_l
    shortfall = max(0.0, fuel_to_finish - max(fuel_l, 0.0))
    if tank_capacity_l is not None and math.isfinite(tank_capacity_l):
        room = max(0.0, tank_capacity_l - max(fuel_l, 0.0))
        fuel_to_add = min(shortfall, room)
        stops = 0 if shortfall <= 0 else max(1, math.ceil(shortfall / tank_capacity_l - 1e-9))
    else:
        fuel_to_add = shortfall
        stops = 0 if shortfall <= 0 else 1

    save_target: float | None = None
    if shortfall > 0:
        # Distance the tank must reach: the flag, or the next stop when a stop is planned anyway.
        target_laps = laps_remaining if laps_to_next_window is None else min(laps_to_next_window, laps_remaining)
        usable = max(0.0, fuel_l) - margin_l
        if target_laps > 0 and usable > 0:
            needed = usable / target_laps
            achievable = needed >= (1.0 - MAX_SAVING_FRAC) * fuel_per_lap_l
            save_target = needed if achievable and needed < fuel_per_lap_l else None
    return FuelPlan(
        fuel_l=fuel_l,
        fuel_per_lap_l=fuel_per_lap_l,
        laps_remaining=laps_remaining,
        laps_of_fuel_left=laps_of_fuel_left(fuel_l, fuel_per_lap_l),
        fuel_to_finish_l=fuel_to_finish,
        fuel_to_add_l=fuel_to_add,
        stops_needed=stops,
        save_target_l_per_lap=save_target,
        margin_l=margin_l,
    )

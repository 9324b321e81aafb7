"""The stint plan the relay proposes to engineers for one team car (pure, no I/O).

Built from what the relay already holds for the car: its newest session-info dict
(`SessionInfo.to_dict()` plus the driver app's `"driver"` and `"max_fuel_l"`), its newest strategy
snapshot dict (`StrategySnapshot.to_dict()`) and the roster (the drivers paired to the car, in
invitation order). Times in seconds of race clock, fuel in litres.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from strategy.errors import StrategyError
from strategy.stints import CarParams, StintRules, plan_stints

__all__ = ["next_handoff", "propose_stint_plan"]


def _positive(value: object) -> float | None:
    """`value` as a float when it is a finite positive number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        return None
    return float(value)


def _count(value: object) -> int | None:
    """`value` when it is an int of at least 1 (not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else None


def _first_positive(*values: object) -> float | None:
    return next((v for v in map(_positive, values) if v is not None), None)


def _field(document: Mapping[str, Any], key: str, name: str) -> object:
    """`document[key][name]`, or None when the part is missing or not a mapping."""
    part = document.get(key)
    return part.get(name) if isinstance(part, Mapping) else None


def _lineup(driver: str, roster: Sequence[str]) -> tuple[str, ...]:
    """The driver in the car first, then the roster in order: unique, stripped, non-empty names."""
    stripped = (n.strip() for n in (driver, *roster) if isinstance(n, str))
    return tuple(dict.fromkeys(n for n in stripped if n))


def propose_stint_plan(
    session: Mapping[str, Any],
    strategy: Mapping[str, Any],
    roster: Sequence[str],
    *,
    rules: StintRules | None = None,
    pit_loss_s: float = 30.0,
) -> dict[str, Any] | None:
    """The stint plan for the whole race as `StintPlan.to_dict()`, plus `"laps_done"`, `"elapsed_s"` and
    `"next_handoff"` (see `next_handoff`). The plan covers the race from the green flag with the
    newest pace and fuel figures (so it stays put from one update to the next) and each stint that
    ends at or before the laps done is marked `"completed"`.

    Lineup: `session["driver"]` first, then `roster` in order (duplicates and blank names dropped).
    Race length: `session["time_limit_s"]` for a timed race, else `session["laps"]` x the lap time
    (an estimate: it ignores the time lost in the stops, so the plan may end a few laps short).
    Lap time: the predicted next lap, else the best lap, else the last lap. Fuel per lap: the fuel
    plan's figure, else the fuel estimate's. Tank: `session["max_fuel_l"]`. In each case the first
    finite positive number counts.

    Returns None, without raising, while the car's data cannot support a plan yet:
    - no driver in the car (`session["driver"]` blank): the lineup has no first driver;
    - no lap time, no fuel-per-lap figure or no tank capacity (the first laps of a session, or a sim
      that does not report the tank): the stint lengths cannot be computed;
    - an open session (neither a time limit nor a lap count): there is no race length to plan for;
    - fewer than 1 lap completed or no elapsed race time: no lap has measured the car yet;
    - numbers the planner rejects (a tank smaller than one lap, a plan beyond its stint limit):
      any `StrategyError` from `strategy.stints`.
    Other exceptions (bugs) are not caught.
    """
    in_car = session.get("driver")
    driver = in_car.strip() if isinstance(in_car, str) else ""
    laps_done = _count(strategy.get("laps_completed"))
    elapsed_s = _positive(strategy.get("session_time_s"))
    lap_time_s = _first_positive(
        _field(strategy, "next_lap", "time_s"), strategy.get("best_lap_s"), strategy.get("last_lap_s")
    )
    fuel_per_lap_l = _first_positive(
        _field(strategy, "fuel", "fuel_per_lap_l"), _field(strategy, "fuel_estimate", "fuel_per_lap_l")
    )
    tank_l = _positive(session.get("max_fuel_l"))
    if (
        not driver
        or laps_done is None
        or elapsed_s is None
        or lap_time_s is None
        or fuel_per_lap_l is None
        or tank_l is None
    ):
        return None
    race_s = _positive(session.get("time_limit_s"))
    if race_s is None:
        race_laps = _count(session.get("laps"))
        if race_laps is None:
            return None
        race_s = race_laps * lap_time_s
    try:
        car = CarParams(lap_time_s=lap_time_s, fuel_per_lap_l=fuel_per_lap_l, tank_l=tank_l, pit_loss_s=pit_loss_s)
        lineup = _lineup(driver, roster)
        plan = plan_stints(race_s, lineup, StintRules() if rules is None else rules, car).to_dict()
    except StrategyError:
        return None
    # The whole race from the green flag with today's pace and fuel figures: stable from one update
    # to the next (a replan "now" would put a stop on the current lap), stints behind the car marked.
    for stint in plan["stints"]:
        stint["completed"] = stint["start_lap"] + stint["laps"] <= laps_done
    plan["laps_done"] = laps_done
    plan["elapsed_s"] = elapsed_s
    plan["next_handoff"] = next_handoff(plan, laps_done)
    return plan


def next_handoff(plan: Mapping[str, Any], laps_done: int) -> dict[str, Any] | None:
    """The first handoff of `plan` (a `StintPlan.to_dict()`) at a lap after `laps_done`, as its dict plus
    `"laps_to_go"` (laps from now to the end of the handoff lap); None when no handoff is left."""
    for handoff in plan.get("handoffs") or ():
        lap = handoff.get("lap") if isinstance(handoff, Mapping) else None
        if isinstance(lap, int) and lap > laps_done:
            return {**handoff, "laps_to_go": lap - laps_done}
    return None

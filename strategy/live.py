"""One strategy state fed frame by frame and lap by lap, keeping fuel, pace and tyres current.

`on_frame` is O(1) (it remembers the latest values and the fuel at each line crossing); the
estimates are refreshed in `on_lap`, once per lap, from incremental state (running fits), never by
refitting the whole history. `snapshot()` returns a JSON-ready picture for the driver app, the
relay and the dashboard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from adapters.model import Lap, LapKind, SessionInfo, TelemetryFrame
from strategy.errors import NotEnoughDataError, StrategyError
from strategy.fuel import (
    DEFAULT_MARGIN_LAPS,
    FuelEstimate,
    FuelPlan,
    estimate_fuel_per_lap,
    fuel_plan,
    laps_remaining_by_laps,
    laps_remaining_by_time,
)
from strategy.pace import PacePredictor, Prediction, is_representative
from strategy.pit import PitStopCost, RaceModel, best_window, candidate_strategies, reasons, simulate
from strategy.tyres import DEFAULT_FUEL_EFFECT_S_PER_L

MAX_LAPS_KEPT = 200
"""Lap summaries kept for the fuel estimate (it only reads recent green-flag laps)."""
PIT_ITERATIONS = 2000
"""Monte Carlo races per lap for the live pit window (a few milliseconds, once per lap)."""
DEFAULT_PIT_COST = PitStopCost(pit_lane_loss_s=25.0, fuel_flow_lps=2.5, tyre_change_s=20.0)
"""Used until the track and car have a measured pit-stop cost."""


@dataclass(frozen=True, slots=True)
class StrategySnapshot:
    """What the strategy knows now."""

    session_time_s: float
    laps_completed: int
    fuel: FuelPlan | None
    fuel_estimate: FuelEstimate | None
    next_lap: Prediction | None
    tyre_age_laps: int
    best_lap_s: float | None
    last_lap_s: float | None
    pit_window: dict[str, Any] | None = None
    """The Monte Carlo pit call for the rest of the race (window, confidence, radio-ready reasons)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_time_s": round(self.session_time_s, 3),
            "laps_completed": self.laps_completed,
            "fuel": None if self.fuel is None else self.fuel.to_dict(),
            "fuel_estimate": None if self.fuel_estimate is None else self.fuel_estimate.to_dict(),
            "next_lap": None if self.next_lap is None else self.next_lap.to_dict(),
            "tyre_age_laps": self.tyre_age_laps,
            "best_lap_s": None if self.best_lap_s is None else round(self.best_lap_s, 3),
            "last_lap_s": None if self.last_lap_s is None else round(self.last_lap_s, 3),
            "pit_window": self.pit_window,
        }


class LiveStrategy:
    """Strategy state for the player's car during a session."""

    def __init__(
        self,
        session: SessionInfo | None = None,
        *,
        margin_laps: float = DEFAULT_MARGIN_LAPS,
        tank_capacity_l: float | None = None,
        pit_cost: PitStopCost = DEFAULT_PIT_COST,
        seed: int = 0,
    ) -> None:
        self.session = session
        self.margin_laps = margin_laps
        self.tank_capacity_l = tank_capacity_l
        self.pace = PacePredictor()
        self._laps: list[Lap] = []  # the most recent MAX_LAPS_KEPT only
        self._laps_counted = 0  # laps with a time, and out-laps: what the snapshot reports
        self._frame: TelemetryFrame | None = None
        self._prev_lap = -1
        self._fuel_at_line: dict[int, float] = {}
        self._tyre_age_laps = 0
        self._prev_wear: float | None = None
        self._fuel_estimate: FuelEstimate | None = None
        self._best: float | None = None
        self._last: float | None = None
        self.pit_cost = pit_cost
        self._seed = seed
        self._pit_window: dict[str, Any] | None = None

    # ---------------------------------------------------------------- feeding

    def on_session(self, session: SessionInfo) -> None:
        self.session = session
        if self.tank_capacity_l is None and math.isfinite(session.max_fuel_l) and session.max_fuel_l > 0:
            self.tank_capacity_l = session.max_fuel_l

    def on_frame(self, frame: TelemetryFrame) -> None:
        """O(1): remember the newest values and the fuel as each lap starts."""
        if not frame.in_world:
            return
        self._frame = frame
        if frame.lap != self._prev_lap:
            self._fuel_at_line[frame.lap] = frame.fuel_level_l
            if len(self._fuel_at_line) > MAX_LAPS_KEPT:
                self._fuel_at_line.pop(min(self._fuel_at_line))
            self._prev_lap = frame.lap
        wear = float(frame.tyre_wear_frac.min())
        if not math.isnan(wear):
            if self._prev_wear is not None and wear > self._prev_wear + 0.05:
                self._tyre_age_laps = 0  # fresh tyres fitted
            self._prev_wear = wear

    def on_lap(self, lap: Lap) -> None:
        """A lap finished: refresh fuel and pace estimates (once per lap)."""
        self._laps.append(lap)
        del self._laps[:-MAX_LAPS_KEPT]
        if lap.time_s is not None or lap.kind is LapKind.OUT:
            self._laps_counted += 1
        if lap.time_s is not None:
            self._last = lap.time_s
            if lap.kind is LapKind.FLYING and (self._best is None or lap.time_s < self._best):
                self._best = lap.time_s
        fuel_start = self._fuel_at_line.get(lap.number)
        if lap.time_s is not None and fuel_start is not None and not math.isnan(fuel_start):
            self.pace.add_lap(lap.time_s, fuel_start, float(self._tyre_age_laps), valid=is_representative(lap))
        if is_representative(lap):
            try:
                self._fuel_estimate = estimate_fuel_per_lap(self._laps)
            except NotEnoughDataError:
                self._fuel_estimate = None
        self._tyre_age_laps += 1
        self._pit_window = self._plan_pit_window()

    def _plan_pit_window(self) -> dict[str, Any] | None:
        """Run the pit-window optimiser over the rest of the race (None when it cannot apply)."""
        frame = self._frame
        remaining = self.laps_remaining()
        prediction = self.next_lap()
        # Until the pace model has enough laps, the latest lap time stands in for it.
        pace_s = prediction.time_s if prediction is not None else (self._last or self._best)
        pace_sd_s = prediction.sd_s if prediction is not None else 0.5
        if frame is None or remaining is None or remaining < 2 or pace_s is None or self._fuel_estimate is None:
            return None
        # Without a tank size from the sim, assume the tank holds twice what is in it now.
        tank = self.tank_capacity_l if self.tank_capacity_l is not None else max(frame.fuel_level_l, 1.0) * 2
        fuel_now = max(0.0, frame.fuel_level_l)
        try:
            model = RaceModel(
                laps=math.ceil(remaining),
                pit=self.pit_cost,
                base_lap_time_s=pace_s - DEFAULT_FUEL_EFFECT_S_PER_L * fuel_now,
                fuel_per_lap_l=self._fuel_estimate.fuel_per_lap_l,
                tank_capacity_l=max(tank, fuel_now),
                start_fuel_l=fuel_now,
                lap_time_sd_s=max(pace_sd_s, 0.05),
            )
            results = simulate(model, candidate_strategies(model), PIT_ITERATIONS, seed=self._seed)
            window = best_window(results)
        except StrategyError:
            return None
        return {**window.to_dict(), "reasons": list(reasons(results))}

    # ---------------------------------------------------------------- reading

    def laps_remaining(self) -> float | None:
        """Laps the player still drives, from the session length (None for an open session)."""
        frame = self._frame
        if frame is None or self.session is None:
            return None
        completed = frame.lap_completed if frame.lap_completed >= 0 else max(frame.lap - 1, 0)
        if self.session.laps is not None:
            return laps_remaining_by_laps(self.session.laps, completed, frame.lap_dist_frac)
        if self.session.time_limit_s is not None and not math.isnan(frame.session_time_remain_s):
            pace = self._best or self._last
            if pace is None:
                return None
            leader = self._leader_lap_time_s() or pace
            return laps_remaining_by_time(
                frame.session_time_remain_s, leader, frame.lap_dist_frac, pace, frame.lap_dist_frac
            )
        return None

    def _leader_lap_time_s(self) -> float | None:
        frame = self._frame
        if frame is None or frame.cars is None:
            return None
        cars = frame.cars
        leader = cars[cars["position"] == 1]
        if len(leader) == 0:
            return None
        value = float(leader["best_lap_time_s"][0])
        return None if math.isnan(value) else value

    def fuel(self) -> FuelPlan | None:
        frame = self._frame
        remaining = self.laps_remaining()
        if frame is None or self._fuel_estimate is None or math.isnan(frame.fuel_level_l):
            return None
        if remaining is None:
            # Open session: still say how long the tank lasts.
            remaining = 0.0
        return fuel_plan(
            frame.fuel_level_l,
            self._fuel_estimate.fuel_per_lap_l,
            remaining,
            tank_capacity_l=self.tank_capacity_l,
            margin_laps=self.margin_laps,
        )

    def next_lap(self) -> Prediction | None:
        frame = self._frame
        if frame is None or math.isnan(frame.fuel_level_l):
            return None
        try:
            return self.pace.predict_next(frame.fuel_level_l, float(self._tyre_age_laps))
        except NotEnoughDataError:
            return None

    def snapshot(self) -> StrategySnapshot:
        frame = self._frame
        return StrategySnapshot(
            session_time_s=0.0 if frame is None else frame.session_time_s,
            laps_completed=self._laps_counted,
            fuel=self.fuel(),
            fuel_estimate=self._fuel_estimate,
            next_lap=self.next_lap(),
            tyre_age_laps=self._tyre_age_laps,
            best_lap_s=self._best,
            last_lap_s=self._last,
            pit_window=self._pit_window,
        )

"""Pit-stop cost model and a Monte Carlo optimiser over pit strategies (sans-I/O, numpy).

The model, per lap `j` (0-based; lap number `j + 1`) of one simulated race:

* green lap: `base_lap_time_s + fuel_effect_s_per_l * fuel_at_lap_start_l
  + deg_mult * (tyre_deg_s_per_lap * tyre_age + tyre_deg_s_per_lap2 * tyre_age**2) + N(0, lap_time_sd_s)`,
  where `tyre_age` counts laps completed on the set and `deg_mult ~ max(0, N(1, tyre_deg_sd_frac))`
  is drawn once per race (some races the tyres fall off more than others);
* safety-car lap: `base_lap_time_s * safety_car_lap_time_factor` (the whole field is held up, so car
  state does not matter). A safety car starts on any lap with `safety_car_prob_per_lap` and covers
  `safety_car_laps` laps from there;
* a stop "on lap L" is made at the end of lap L: it costs the pit-lane loss (times
  `pit_loss_under_sc_factor` when lap L is under the safety car) plus the stationary service time;
  on the out-lap, with `traffic_prob`, the car rejoins in traffic and loses `traffic_loss_s`
  (never under the safety car);
* fuel burn is `fuel_per_lap_l` on every lap (a safety car does not save fuel in this model), so
  fuel, tyre age and feasibility are deterministic per strategy and computed once; a strategy whose
  tank runs dry is flagged infeasible, with how many laps short it is.

Random numbers (safety cars, lap noise, degradation multiplier, traffic, the field's spread) are
drawn once per race and shared by every strategy (common random numbers), so strategies are compared
on the same races: a strategy that is slower than another in every race is never ranked above it.

Position: each opponent's race time is its expected green race time (`field_race_times_s`) plus the
time every car loses to the safety cars of that race plus `N(0, field_time_sd_s)`; position is one
plus the number of opponents faster than us.

`simulate` is the vectorised implementation (arrays of (iterations, laps)); `simulate_reference` is
a plain per-race Python loop of the same model, used by the tests and the benchmark as a baseline.
All times are seconds, fuel litres, laps 1-based lap numbers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from strategy.errors import InvalidInputError, StrategyError

FloatArray = npt.NDArray[np.float64]

_Z95 = 1.959963984540054
_FUEL_EPS_L = 1e-9


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise InvalidInputError(message)


def _finite_nonneg(name: str, value: float) -> None:
    _check(math.isfinite(value) and value >= 0.0, f"{name} must be finite and >= 0, got {value!r}")


@dataclass(frozen=True, slots=True)
class PitStopCost:
    """What a pit stop costs for one car at one track.

    `pit_lane_loss_s`: time lost driving through the pit lane at the limiter versus staying out.
    `fuel_flow_lps`: refuelling rate (litres per second). `tyre_change_s`: stationary time of a
    four-tyre change. `fuel_and_tyres_parallel`: True if fuel goes in while tyres are changed
    (the stationary time is the longer of the two), False if one after the other (the sum).
    """

    pit_lane_loss_s: float
    fuel_flow_lps: float
    tyre_change_s: float
    fuel_and_tyres_parallel: bool = True

    def __post_init__(self) -> None:
        _finite_nonneg("pit_lane_loss_s", self.pit_lane_loss_s)
        _finite_nonneg("tyre_change_s", self.tyre_change_s)
        _check(
            math.isfinite(self.fuel_flow_lps) and self.fuel_flow_lps > 0.0,
            f"fuel_flow_lps must be > 0, got {self.fuel_flow_lps!r}",
        )

    def service_time_s(self, fuel_l: float, tyres: bool) -> float:
        """Stationary time in the box for `fuel_l` litres and (if `tyres`) a tyre change."""
        _finite_nonneg("fuel_l", fuel_l)
        fuel_s = fuel_l / self.fuel_flow_lps
        tyre_s = self.tyre_change_s if tyres else 0.0
        return max(fuel_s, tyre_s) if self.fuel_and_tyres_parallel else fuel_s + tyre_s

    def stop_time_s(self, fuel_l: float, tyres: bool) -> float:
        """Total time a green-flag stop costs: pit-lane loss plus service time."""
        return self.pit_lane_loss_s + self.service_time_s(fuel_l, tyres)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pit_lane_loss_s": self.pit_lane_loss_s,
            "fuel_flow_lps": self.fuel_flow_lps,
            "tyre_change_s": self.tyre_change_s,
            "fuel_and_tyres_parallel": self.fuel_and_tyres_parallel,
        }


@dataclass(frozen=True, slots=True)
class RaceModel:
    """Everything the simulation needs to know about a race for one car (see the module docstring)."""

    laps: int
    pit: PitStopCost
    base_lap_time_s: float
    fuel_per_lap_l: float
    tank_capacity_l: float
    start_fuel_l: float
    fuel_effect_s_per_l: float = 0.03
    tyre_deg_s_per_lap: float = 0.05
    tyre_deg_s_per_lap2: float = 0.0
    tyre_deg_sd_frac: float = 0.0
    lap_time_sd_s: float = 0.3
    safety_car_prob_per_lap: float = 0.0
    safety_car_laps: int = 3
    safety_car_lap_time_factor: float = 1.4
    pit_loss_under_sc_factor: float = 0.5
    traffic_prob: float = 0.0
    traffic_loss_s: float = 0.0
    fuel_reserve_l: float = 0.0
    field_race_times_s: tuple[float, ...] = ()
    field_time_sd_s: float = 0.0

    def __post_init__(self) -> None:
        _check(isinstance(self.laps, int) and self.laps >= 1, f"laps must be an int >= 1, got {self.laps!r}")
        _check(
            math.isfinite(self.base_lap_time_s) and self.base_lap_time_s > 0,
            f"base_lap_time_s must be > 0, got {self.base_lap_time_s!r}",
        )
        for name in (
            "fuel_per_lap_l",
            "tank_capacity_l",
            "start_fuel_l",
            "fuel_effect_s_per_l",
            "tyre_deg_s_per_lap",
            "tyre_deg_s_per_lap2",
            "tyre_deg_sd_frac",
            "lap_time_sd_s",
            "pit_loss_under_sc_factor",
            "traffic_loss_s",
            "fuel_reserve_l",
            "field_time_sd_s",
        ):
            _finite_nonneg(name, float(getattr(self, name)))
        _check(self.start_fuel_l <= self.tank_capacity_l, "start_fuel_l must not exceed tank_capacity_l")
        for name in ("safety_car_prob_per_lap", "traffic_prob"):
            value = float(getattr(self, name))
            _check(0.0 <= value <= 1.0, f"{name} must be within [0, 1], got {value!r}")
        _check(
            isinstance(self.safety_car_laps, int) and self.safety_car_laps >= 1,
            f"safety_car_laps must be an int >= 1, got {self.safety_car_laps!r}",
        )
        _check(
            math.isfinite(self.safety_car_lap_time_factor) and self.safety_car_lap_time_factor >= 1.0,
            "safety_car_lap_time_factor must be >= 1",
        )
        _check(
            all(math.isfinite(t) and t > 0 for t in self.field_race_times_s),
            "field_race_times_s must be positive and finite",
        )

    @property
    def range_laps(self) -> int:
        """Laps a full tank lasts (keeping the reserve); huge if no fuel is burnt."""
        if self.fuel_per_lap_l == 0.0:
            return self.laps
        return int((self.tank_capacity_l - self.fuel_reserve_l) / self.fuel_per_lap_l + 1e-9)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "pit"}
        out["pit"] = self.pit.to_dict()
        out["field_race_times_s"] = list(self.field_race_times_s)
        return out


@dataclass(frozen=True, slots=True)
class Strategy:
    """A candidate plan: stop at the end of each lap in `stop_laps`.

    `fuel_adds_l`: litres to add at each stop, or None for "just enough for the next stint" (capped
    by the tank). `tyre_changes`: whether each stop changes tyres, or None for "every stop".
    """

    name: str
    stop_laps: tuple[int, ...] = ()
    fuel_adds_l: tuple[float, ...] | None = None
    tyre_changes: tuple[bool, ...] | None = None

    def __post_init__(self) -> None:
        _check(bool(self.name), "strategy name must not be empty")
        _check(
            all(isinstance(lap, int) and lap >= 1 for lap in self.stop_laps),
            f"{self.name}: stop laps must be ints >= 1",
        )
        _check(
            all(a < b for a, b in zip(self.stop_laps, self.stop_laps[1:], strict=False)),
            f"{self.name}: stop laps must be strictly increasing",
        )
        if self.fuel_adds_l is not None:
            _check(len(self.fuel_adds_l) == len(self.stop_laps), f"{self.name}: one fuel add per stop")
            for fuel in self.fuel_adds_l:
                _finite_nonneg("fuel_adds_l", fuel)
        if self.tyre_changes is not None:
            _check(len(self.tyre_changes) == len(self.stop_laps), f"{self.name}: one tyre flag per stop")

    @property
    def stops(self) -> int:
        return len(self.stop_laps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "stop_laps": list(self.stop_laps),
            "fuel_adds_l": None if self.fuel_adds_l is None else list(self.fuel_adds_l),
            "tyre_changes": None if self.tyre_changes is None else list(self.tyre_changes),
        }


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """The simulated outcome of one strategy. Results of one `simulate` call are ranked (1 = best).

    Race-time statistics are in seconds; `ci95_s` is the 95% confidence interval of the mean.
    `position_probs[k]` is the probability of finishing in position k + 1. `prob_best` is the share
    of races in which this strategy was the quickest feasible one. `sc_stop_saving_s` is how much
    quicker the race is, on average, when a stop falls under a safety car than when none does
    (0 when it cannot be estimated). An infeasible strategy runs out of fuel `fuel_short_laps` laps
    from the end; it is ranked after every feasible one and never best.
    """

    strategy: Strategy
    rank: int
    feasible: bool
    infeasible_reason: str
    fuel_short_laps: int
    fuel_adds_l: tuple[float, ...]
    mean_s: float
    sd_s: float
    ci95_s: tuple[float, float]
    p10_s: float
    p50_s: float
    p90_s: float
    position_mean: float
    position_p10: int
    position_p50: int
    position_p90: int
    position_probs: tuple[float, ...]
    prob_best: float
    sc_stop_saving_s: float
    iterations: int
    race_times_s: FloatArray = field(compare=False, repr=False)
    """Per-race times (not serialised)."""

    @property
    def name(self) -> str:
        return self.strategy.name

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy.to_dict(),
            "rank": self.rank,
            "feasible": self.feasible,
            "infeasible_reason": self.infeasible_reason,
            "fuel_short_laps": self.fuel_short_laps,
            "fuel_adds_l": [round(f, 3) for f in self.fuel_adds_l],
            "mean_s": self.mean_s,
            "sd_s": self.sd_s,
            "ci95_s": list(self.ci95_s),
            "p10_s": self.p10_s,
            "p50_s": self.p50_s,
            "p90_s": self.p90_s,
            "position_mean": self.position_mean,
            "position_p10": self.position_p10,
            "position_p50": self.position_p50,
            "position_p90": self.position_p90,
            "position_probs": list(self.position_probs),
            "prob_best": self.prob_best,
            "sc_stop_saving_s": self.sc_stop_saving_s,
            "iterations": self.iterations,
        }


@dataclass(frozen=True, slots=True)
class PitWindow:
    """The recommended strategy: its stop laps, the window of first-stop laps within `tolerance_s`
    of it (same number of stops), and the confidence (share of races in which it was best)."""

    strategy: str
    stop_laps: tuple[int, ...]
    window_laps: tuple[int, int] | None
    confidence: float
    mean_s: float
    gain_vs_next_s: float
    next_best: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "stop_laps": list(self.stop_laps),
            "window_laps": None if self.window_laps is None else list(self.window_laps),
            "confidence": self.confidence,
            "mean_s": self.mean_s,
            "gain_vs_next_s": self.gain_vs_next_s,
            "next_best": self.next_best,
        }


# --------------------------------------------------------------------------------------------------
# Deterministic part: fuel, tyre age and stop service per strategy


@dataclass(frozen=True, slots=True)
class _Plan:
    fuel_start_l: tuple[float, ...]  # fuel at the start of each lap
    tyre_age: tuple[int, ...]  # laps completed on the set at the start of each lap
    stop_index: tuple[int, ...]  # 0-based lap index of each stop lap
    service_s: tuple[float, ...]
    fuel_adds_l: tuple[float, ...]
    feasible: bool
    short_laps: int
    reason: str


def _plan(model: RaceModel, strategy: Strategy) -> _Plan:
    _check(
        all(lap < model.laps for lap in strategy.stop_laps),
        f"{strategy.name}: stop laps must be before the last lap ({model.laps})",
    )
    tyres = strategy.tyre_changes if strategy.tyre_changes is not None else (True,) * strategy.stops
    bounds = (0, *strategy.stop_laps, model.laps)
    fuel = model.start_fuel_l
    age = 0
    fuel_start: list[float] = []
    ages: list[int] = []
    service: list[float] = []
    adds: list[float] = []
    first_dry: int | None = None
    for stint in range(len(bounds) - 1):
        if stint > 0:
            room = model.tank_capacity_l - fuel
            if strategy.fuel_adds_l is None:
                need = (bounds[stint + 1] - bounds[stint]) * model.fuel_per_lap_l + model.fuel_reserve_l
                add = min(room, max(0.0, need - fuel))
            else:
                add = min(room, strategy.fuel_adds_l[stint - 1])
            add = max(0.0, add)
            fuel += add
            adds.append(add)
            service.append(model.pit.service_time_s(add, tyres[stint - 1]))
            if tyres[stint - 1]:
                age = 0
        for lap_index in range(bounds[stint], bounds[stint + 1]):
            fuel_start.append(fuel)
            ages.append(age)
            fuel -= model.fuel_per_lap_l
            age += 1
            if first_dry is None and fuel < -_FUEL_EPS_L:
                first_dry = lap_index
    short = 0 if first_dry is None else model.laps - first_dry
    reason = ""
    if first_dry is not None:
        reason = f"runs out of fuel on lap {first_dry + 1}, {short} laps from the end"
    return _Plan(
        fuel_start_l=tuple(fuel_start),
        tyre_age=tuple(ages),
        stop_index=tuple(lap - 1 for lap in strategy.stop_laps),
        service_s=tuple(service),
        fuel_adds_l=tuple(adds),
        feasible=first_dry is None,
        short_laps=short,
        reason=reason,
    )


# --------------------------------------------------------------------------------------------------
# Candidates


def candidate_strategies(
    model: RaceModel,
    window: tuple[int, int] | None = None,
    *,
    two_stops: bool = True,
    max_two_stop: int = 12,
    include_infeasible_no_stop: bool = True,
) -> list[Strategy]:
    """No stop, one stop at each lap of `window` (inclusive first/last stop lap), and two-stop plans.

    The default window is every lap from which one full tank reaches the flag up to the last lap the
    start fuel reaches. The no-stop plan is included when the fuel allows it, or (by default) anyway,
    so the results can say how far short it falls. Two-stop plans are pruned to stints a tank can
    cover, closest to even thirds first, at most `max_two_stop` of them.
    """
    laps = model.laps
    _check(laps >= 2, "a race needs at least 2 laps to stop")
    range_laps = model.range_laps
    start_range = (
        laps
        if model.fuel_per_lap_l == 0.0
        else int((model.start_fuel_l - model.fuel_reserve_l) / model.fuel_per_lap_l + 1e-9)
    )
    if window is None:
        window = (max(1, laps - range_laps), min(laps - 1, max(1, start_range)))
    first, last = window
    _check(1 <= first <= last <= laps - 1, f"window must satisfy 1 <= first <= last <= {laps - 1}, got {window}")

    out: list[Strategy] = []
    if include_infeasible_no_stop or start_range >= laps:
        out.append(Strategy("no stop"))
    out.extend(Strategy(f"box lap {lap}", (lap,)) for lap in range(first, last + 1))
    if two_stops and laps >= 3:
        pairs: list[tuple[float, int, int]] = []
        third = laps / 3.0
        for a in range(1, laps - 1):
            if a > start_range:
                break
            for b in range(a + 1, laps):
                if b - a > range_laps or laps - b > range_laps:
                    continue
                spread = abs(a - third) + abs(b - a - third) + abs(laps - b - third)
                pairs.append((spread, a, b))
        pairs.sort()
        out.extend(Strategy(f"box laps {a} and {b}", (a, b)) for _, a, b in pairs[:max_two_stop])
    return out


# --------------------------------------------------------------------------------------------------
# Simulation


@dataclass(frozen=True, slots=True)
class _Draws:
    sc: npt.NDArray[np.bool_]  # (n, laps) lap under safety car
    green_noise_s: FloatArray  # (n,) sum of the lap-time noise over the green laps
    traffic: dict[int, npt.NDArray[np.bool_]]  # out-lap index -> (n,) rejoined in traffic
    deg_mult: FloatArray  # (n,)
    sc_shift_s: FloatArray  # (n,) time every car loses to the safety cars
    field_s: FloatArray  # (n, k) opponents' race times


def _validate_run(model: RaceModel, strategies: Sequence[Strategy], iterations: int) -> None:
    _check(isinstance(iterations, int) and iterations >= 2, f"iterations must be an int >= 2, got {iterations!r}")
    _check(len(strategies) >= 1, "at least one strategy is needed")
    names = [s.name for s in strategies]
    _check(len(set(names)) == len(names), "strategy names must be unique")


def _draw(model: RaceModel, iterations: int, seed: int | None, out_laps: Sequence[int]) -> _Draws:
    rng = np.random.default_rng(seed)
    n, laps = iterations, model.laps
    starts = rng.random((n, laps), dtype=np.float32) < np.float32(model.safety_car_prob_per_lap)
    # A safety car covers `safety_car_laps` laps from its start: lap j is under SC if any start in
    # (j - safety_car_laps, j]; a running count of starts gives that without a loop.
    count = np.cumsum(starts, axis=1, dtype=np.int32)
    shifted = np.zeros_like(count)
    k = model.safety_car_laps
    if k < laps:
        shifted[:, k:] = count[:, :-k]
    sc = (count - shifted) > 0
    # Lap noise only ever enters a race time as its sum over the green laps, and a sum of m
    # independent N(0, sd^2) is N(0, m sd^2): one draw per race instead of one per lap.
    n_green = laps - sc.sum(axis=1)
    green_noise = model.lap_time_sd_s * np.sqrt(n_green) * rng.standard_normal(n)
    # Traffic only matters on out-laps: one draw per race for each out-lap any strategy uses.
    uniforms = rng.random((n, len(out_laps)), dtype=np.float32)
    traffic = {lap: uniforms[:, c] < np.float32(model.traffic_prob) for c, lap in enumerate(out_laps)}
    deg_mult = np.maximum(0.0, 1.0 + model.tyre_deg_sd_frac * rng.standard_normal(n))
    field_n = len(model.field_race_times_s)
    sc_lap_s = model.base_lap_time_s * model.safety_car_lap_time_factor
    sc_shift = (laps - n_green) * (sc_lap_s - model.base_lap_time_s)
    field = np.asarray(model.field_race_times_s, dtype=np.float64)[None, :] + sc_shift[:, None]
    if field_n:
        field = field + model.field_time_sd_s * rng.standard_normal((n, field_n))
    return _Draws(
        sc=sc, green_noise_s=green_noise, traffic=traffic, deg_mult=deg_mult, sc_shift_s=sc_shift, field_s=field
    )


def simulate(
    model: RaceModel, strategies: Sequence[Strategy], iterations: int = 10_000, seed: int | None = None
) -> list[StrategyResult]:
    """Simulate every strategy over `iterations` shared random races; results ranked best first.

    Vectorised over races and laps; the same races (common random numbers) are used for every
    strategy. The ranking is feasible strategies first, then by mean race time, then fewer stops,
    less fuel added, and input order.
    """
    _validate_run(model, strategies, iterations)
    plans = [_plan(model, s) for s in strategies]
    out_laps = sorted({idx + 1 for plan in plans for idx in plan.stop_index if idx + 1 < model.laps})
    draws = _draw(model, iterations, seed, out_laps)
    sc = draws.sc
    green = ~sc
    green_f = green.astype(np.float64)
    sc_lap_s = model.base_lap_time_s * model.safety_car_lap_time_factor
    # Shared by every strategy: base pace and noise on green laps, safety-car laps.
    n_green = green_f.sum(axis=1)
    shared = n_green * model.base_lap_time_s + draws.green_noise_s + (model.laps - n_green) * sc_lap_s
    # Per strategy the deterministic fuel and tyre terms are vectors over laps: one matrix product
    # gives their green-lap sums for every race and strategy at once.
    columns = np.empty((model.laps, 2 * len(plans)), dtype=np.float64)
    for i, plan in enumerate(plans):
        age = np.asarray(plan.tyre_age, dtype=np.float64)
        columns[:, 2 * i] = model.fuel_effect_s_per_l * np.asarray(plan.fuel_start_l, dtype=np.float64)
        columns[:, 2 * i + 1] = model.tyre_deg_s_per_lap * age + model.tyre_deg_s_per_lap2 * age * age
    sums = green_f @ columns
    times = np.empty((iterations, len(plans)), dtype=np.float64)
    sc_saving: list[float] = []
    lane = model.pit.pit_lane_loss_s
    lane_sc = lane * model.pit_loss_under_sc_factor
    for i, plan in enumerate(plans):
        t = shared + sums[:, 2 * i] + draws.deg_mult * sums[:, 2 * i + 1]
        any_sc_stop = np.zeros(iterations, dtype=np.bool_)
        for idx, service in zip(plan.stop_index, plan.service_s, strict=True):
            under = sc[:, idx]
            any_sc_stop |= under
            t += np.where(under, lane_sc, lane) + service
            out_lap = idx + 1
            if model.traffic_loss_s > 0.0 and out_lap < model.laps:
                t += model.traffic_loss_s * (draws.traffic[out_lap] & green[:, out_lap])
        times[:, i] = t
        sc_saving.append(_sc_saving(t - draws.sc_shift_s, any_sc_stop))
    return _summarise(model, strategies, plans, times, draws.field_s, sc_saving)


def _sc_saving(times: FloatArray, any_sc_stop: npt.NDArray[np.bool_]) -> float:
    """Mean gain, relative to the field, of races where a stop fell under a safety car."""
    hits = int(any_sc_stop.sum())
    if hits < 2 or hits > times.shape[0] - 2:
        return 0.0
    return float(times[~any_sc_stop].mean() - times[any_sc_stop].mean())


def _summarise(
    model: RaceModel,
    strategies: Sequence[Strategy],
    plans: Sequence[_Plan],
    times: FloatArray,
    field_s: FloatArray,
    sc_saving: Sequence[float],
) -> list[StrategyResult]:
    n, count = times.shape
    feasible = np.array([p.feasible for p in plans], dtype=np.bool_)
    best_counts = np.zeros(count, dtype=np.int64)
    if feasible.any():
        masked = np.where(feasible[None, :], times, np.inf)
        best_counts = np.bincount(np.argmin(masked, axis=1), minlength=count)
    field_n = field_s.shape[1]
    # positions (n, count): 1 + opponents faster than us in that race.
    if field_n:
        ordered = np.sort(field_s, axis=1)
        positions = 1 + (ordered[:, None, :] < times[:, :, None]).sum(axis=2)
    else:
        positions = np.ones((n, count), dtype=np.int64)
    means = times.mean(axis=0)
    sds = times.std(axis=0, ddof=1)
    pct = np.percentile(times, [10.0, 50.0, 90.0], axis=0)
    pos_pct = np.percentile(positions, [10.0, 50.0, 90.0], axis=0, method="nearest")
    order = sorted(
        range(count),
        key=lambda i: (not plans[i].feasible, float(means[i]), strategies[i].stops, sum(plans[i].fuel_adds_l), i),
    )
    results: list[StrategyResult] = []
    for rank, i in enumerate(order, start=1):
        half = _Z95 * float(sds[i]) / math.sqrt(n)
        probs = np.bincount(positions[:, i], minlength=field_n + 2)[1:] / n
        results.append(
            StrategyResult(
                strategy=strategies[i],
                rank=rank,
                feasible=plans[i].feasible,
                infeasible_reason=plans[i].reason,
                fuel_short_laps=plans[i].short_laps,
                fuel_adds_l=plans[i].fuel_adds_l,
                mean_s=float(means[i]),
                sd_s=float(sds[i]),
                ci95_s=(float(means[i]) - half, float(means[i]) + half),
                p10_s=float(pct[0, i]),
                p50_s=float(pct[1, i]),
                p90_s=float(pct[2, i]),
                position_mean=float(positions[:, i].mean()),
                position_p10=int(pos_pct[0, i]),
                position_p50=int(pos_pct[1, i]),
                position_p90=int(pos_pct[2, i]),
                position_probs=tuple(float(p) for p in probs),
                prob_best=float(best_counts[i]) / n,
                sc_stop_saving_s=float(sc_saving[i]),
                iterations=n,
                race_times_s=times[:, i].copy(),
            )
        )
    return results


def simulate_reference(
    model: RaceModel, strategies: Sequence[Strategy], iterations: int = 10_000, seed: int | None = None
) -> list[StrategyResult]:
    """The same model as `simulate`, written as a plain Python loop over races, laps and strategies.

    Slow on purpose: the baseline of the benchmark and an independent check of `simulate` (its
    random numbers come from `random.Random`, so results agree statistically, not exactly).
    """
    _validate_run(model, strategies, iterations)
    plans = [_plan(model, s) for s in strategies]
    rng = random.Random(seed)
    laps = model.laps
    sc_lap_s = model.base_lap_time_s * model.safety_car_lap_time_factor
    lane = model.pit.pit_lane_loss_s
    field_n = len(model.field_race_times_s)
    times = np.empty((iterations, len(plans)), dtype=np.float64)
    field = np.empty((iterations, field_n), dtype=np.float64)
    sc_hit = [[False] * iterations for _ in plans]
    sc_shift: list[float] = []
    for it in range(iterations):
        sc: list[bool] = []
        sc_left = 0
        noise: list[float] = []
        traffic: list[bool] = []
        for _ in range(laps):
            if rng.random() < model.safety_car_prob_per_lap:
                sc_left = model.safety_car_laps
            sc.append(sc_left > 0)
            sc_left = max(0, sc_left - 1)
            noise.append(rng.gauss(0.0, 1.0) * model.lap_time_sd_s)
            traffic.append(rng.random() < model.traffic_prob)
        deg_mult = max(0.0, 1.0 + model.tyre_deg_sd_frac * rng.gauss(0.0, 1.0))
        n_sc = sum(sc)
        sc_shift.append(n_sc * (sc_lap_s - model.base_lap_time_s))
        for k, expected in enumerate(model.field_race_times_s):
            field[it, k] = (
                expected + n_sc * (sc_lap_s - model.base_lap_time_s) + model.field_time_sd_s * rng.gauss(0.0, 1.0)
            )
        for s, plan in enumerate(plans):
            total = 0.0
            for j in range(laps):
                if sc[j]:
                    total += sc_lap_s
                else:
                    age = plan.tyre_age[j]
                    total += (
                        model.base_lap_time_s
                        + model.fuel_effect_s_per_l * plan.fuel_start_l[j]
                        + deg_mult * (model.tyre_deg_s_per_lap * age + model.tyre_deg_s_per_lap2 * age * age)
                        + noise[j]
                    )
            for idx, service in zip(plan.stop_index, plan.service_s, strict=True):
                if sc[idx]:
                    total += lane * model.pit_loss_under_sc_factor + service
                    sc_hit[s][it] = True
                else:
                    total += lane + service
                out_lap = idx + 1
                if out_lap < laps and traffic[out_lap] and not sc[out_lap]:
                    total += model.traffic_loss_s
            times[it, s] = total
    shift = np.asarray(sc_shift, dtype=np.float64)
    saving = [_sc_saving(times[:, s] - shift, np.asarray(sc_hit[s], dtype=np.bool_)) for s in range(len(plans))]
    return _summarise(model, strategies, plans, times, field, saving)


# --------------------------------------------------------------------------------------------------
# Decisions and words


def best_window(results: Sequence[StrategyResult], tolerance_s: float = 1.0) -> PitWindow:
    """The best feasible strategy of ranked `results`, with its confidence and window of first stops.

    Raises StrategyError if no strategy is feasible.
    """
    _finite_nonneg("tolerance_s", tolerance_s)
    feasible = sorted((r for r in results if r.feasible), key=lambda r: r.rank)
    if not feasible:
        raise StrategyError("no feasible strategy: every candidate runs out of fuel")
    best = feasible[0]
    window: tuple[int, int] | None = None
    if best.strategy.stops:
        firsts = [
            r.strategy.stop_laps[0]
            for r in feasible
            if r.strategy.stops == best.strategy.stops and r.mean_s - best.mean_s <= tolerance_s
        ]
        window = (min(firsts), max(firsts))
    nxt = feasible[1] if len(feasible) > 1 else None
    return PitWindow(
        strategy=best.name,
        stop_laps=best.strategy.stop_laps,
        window_laps=window,
        confidence=best.prob_best,
        mean_s=best.mean_s,
        gain_vs_next_s=0.0 if nxt is None else nxt.mean_s - best.mean_s,
        next_best=None if nxt is None else nxt.name,
    )


def _call(strategy: Strategy) -> str:
    if not strategy.stop_laps:
        return "Stay out, no stop"
    if len(strategy.stop_laps) == 1:
        return f"Box on lap {strategy.stop_laps[0]}"
    laps = ", ".join(str(lap) for lap in strategy.stop_laps[:-1])
    return f"Box on laps {laps} and {strategy.stop_laps[-1]}"


def _alternative(strategy: Strategy) -> str:
    if not strategy.stop_laps:
        return "not stopping"
    if len(strategy.stop_laps) == 1:
        return f"lap {strategy.stop_laps[0]}"
    return "stopping on laps " + " and ".join(str(lap) for lap in strategy.stop_laps)


def reasons(results: Sequence[StrategyResult], count: int = 3) -> tuple[str, ...]:
    """The `count` most important reasons for the recommended strategy, as short radio sentences."""
    _check(count >= 1, "count must be >= 1")
    window = best_window(results)
    best = next(r for r in results if r.name == window.strategy)
    scored: list[tuple[float, str]] = []
    for r in results:
        if not r.feasible and not r.strategy.stop_laps:
            laps_word = "lap" if r.fuel_short_laps == 1 else "laps"
            scored.append((1e6, f"No-stop runs out of fuel {r.fuel_short_laps} {laps_word} from the end"))
    nxt = next((r for r in results if r.feasible and r.name == window.next_best), None)
    if nxt is not None:
        scored.append(
            (
                max(window.gain_vs_next_s, 0.0) + 1.0,
                f"{_call(best.strategy)}: it is {window.gain_vs_next_s:.1f} seconds quicker on average "
                f"than {_alternative(nxt.strategy)}",
            )
        )
    else:
        scored.append((1.0, f"{_call(best.strategy)}: it is the only plan that makes the finish"))
    if best.strategy.stop_laps and best.sc_stop_saving_s >= 1.0:
        scored.append(
            (best.sc_stop_saving_s, f"A safety car in the window saves about {best.sc_stop_saving_s:.0f} seconds")
        )
    scored.append(
        (
            0.5 + window.confidence,
            f"{_call(best.strategy).removeprefix('Stay out, ')} is the quickest call in "
            f"{100 * window.confidence:.0f} percent of races",
        )
    )
    if len(best.position_probs) > 1:
        scored.append((0.25, f"Expect to finish P{best.position_p50}, P{best.position_p10} to P{best.position_p90}"))
    scored.sort(key=lambda item: -item[0])
    return tuple(text for _, text in scored[:count])

"""Endurance stint plans: fuel stints, driver rotation, tyre sets, handoff laps, and replanning.

Sans-I/O: times are race-clock seconds passed in, never read from a clock.

Model (SI units throughout, times in seconds of race clock):

- A **stint** is one fuel stint: the laps between two fuel stops. Every driver change happens at a fuel
  stop (a handoff is always a fuel stop); a driver may stay in for several consecutive stints (a
  "double stint") while the rules allow it.
- The race is **timed**: it ends when the car crosses the line at or after `race_s`. The last stint is
  the one whose last lap ends at or after `race_s`.
- Lap time is `CarParams.lap_time_s` plus the fatigue loss `StintRules.fatigue_s_per_hour` per hour the
  driver has been in the car in the current continuous spell (stops inside the spell count: the driver
  stays in the seat).
- A pit stop costs `pit_loss_s + max(refuel time, tyre change time) + driver_change_s` (refuelling and
  tyres run in parallel; the driver change only when the driver changes). The car arrives empty and
  takes the fuel for the next stint; the first stint starts with the fuel it needs.
- Continuous driving time of a spell = end of its last stint - start of its first stint. Rest between
  two spells of one driver = start of the later spell - end of the earlier one. A driver's share =
  their driving time (sum of their stints' durations) / the plan's total driving time.

Rules that cannot be met are not hidden: `plan_stints` always returns a plan and lists every rule the
plan breaks in `StintPlan.violations` (`feasible` is False then). `validate_plan` checks a plan against
the rules on its own, independently of how it was built. Rule names are the field names in
`StintRules` / `CarParams` (plus `race_s`, `unavailable_drivers`, `plan_consistency`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from strategy.errors import InvalidInputError, RuleViolationError, StrategyError

__all__ = [
    "CarParams",
    "DriverTotal",
    "DrivenStint",
    "Handoff",
    "LiveState",
    "Stint",
    "StintPlan",
    "StintRules",
    "Violation",
    "check_plan",
    "plan_stints",
    "replan",
    "validate_plan",
]

EPS_S = 1e-6
"""Tolerance on times (s) when checking rules, so float rounding never flips a verdict."""

EPS_SHARE = 1e-9
"""Tolerance on shares (fractions)."""

MAX_STINTS = 20_000
"""Safety limit on the number of stints in one plan (a 24 h race with 1-lap stints is ~1,500)."""

# Rule names (field names of StintRules / CarParams, plus plan-level checks).
RULE_MAX_CONTINUOUS = "max_continuous_driving_s"
RULE_MIN_SHARE = "min_driver_share"
RULE_MAX_SHARE = "max_driver_share"
RULE_MIN_REST = "min_rest_between_stints_s"
RULE_TYRES = "tyre_stints_per_set"
RULE_TANK = "tank_l"
RULE_RACE = "race_s"
RULE_UNAVAILABLE = "unavailable_drivers"
RULE_CONSISTENCY = "plan_consistency"


def _finite(name: str, value: float, *, minimum: float = 0.0, strict: bool = False) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    if value < minimum or (strict and value == minimum):
        relation = "greater than" if strict else "at least"
        raise InvalidInputError(f"{name} must be {relation} {minimum:g}, got {value!r}")


@dataclass(frozen=True, slots=True)
class StintRules:
    """The team's and the series' rules for a stint plan (fair-share rules are settings).

    `max_continuous_driving_s`: longest spell one driver may stay in the car (stops inside count).
    `min_driver_share`: fraction of the total driving time each driver must drive (fair share, e.g.
    `1 / (2 * n_drivers)`); 0 for none. `max_driver_share`: fraction no driver may exceed, or None.
    `min_rest_between_stints_s`: shortest rest between two spells of one driver.
    `tyre_stints_per_set`: fuel stints one tyre set may run (1 = new tyres every stop, 2 = double stint).
    `fatigue_s_per_hour`: lap-time loss (s) per hour in the car in the current spell.
    """

    max_continuous_driving_s: float = 4 * 3600.0
    min_driver_share: float = 0.0
    max_driver_share: float | None = None
    min_rest_between_stints_s: float = 0.0
    tyre_stints_per_set: int = 1
    fatigue_s_per_hour: float = 0.0

    def __post_init__(self) -> None:
        _finite("max_continuous_driving_s", self.max_continuous_driving_s, strict=True)
        _finite("min_driver_share", self.min_driver_share)
        if self.min_driver_share > 1.0:
            raise InvalidInputError(f"min_driver_share must be at most 1, got {self.min_driver_share!r}")
        if self.max_driver_share is not None:
            _finite("max_driver_share", self.max_driver_share, strict=True)
            if self.max_driver_share > 1.0:
                raise InvalidInputError(f"max_driver_share must be at most 1, got {self.max_driver_share!r}")
        _finite("min_rest_between_stints_s", self.min_rest_between_stints_s)
        if not isinstance(self.tyre_stints_per_set, int) or self.tyre_stints_per_set < 1:
            raise InvalidInputError(f"tyre_stints_per_set must be an integer >= 1, got {self.tyre_stints_per_set!r}")
        _finite("fatigue_s_per_hour", self.fatigue_s_per_hour)

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_continuous_driving_s": self.max_continuous_driving_s,
            "min_driver_share": self.min_driver_share,
            "max_driver_share": self.max_driver_share,
            "min_rest_between_stints_s": self.min_rest_between_stints_s,
            "tyre_stints_per_set": self.tyre_stints_per_set,
            "fatigue_s_per_hour": self.fatigue_s_per_hour,
        }


@dataclass(frozen=True, slots=True)
class CarParams:
    """The car as the plan sees it: pace (s/lap), fuel use (l/lap), tank (l) and pit stop costs (s, l/s)."""

    lap_time_s: float = 120.0
    fuel_per_lap_l: float = 3.0
    tank_l: float = 100.0
    pit_loss_s: float = 30.0
    fuel_flow_lps: float = 2.5
    tyre_change_s: float = 20.0
    driver_change_s: float = 0.0

    def __post_init__(self) -> None:
        _finite("lap_time_s", self.lap_time_s, strict=True)
        _finite("fuel_per_lap_l", self.fuel_per_lap_l, strict=True)
        _finite("tank_l", self.tank_l, strict=True)
        _finite("pit_loss_s", self.pit_loss_s)
        _finite("fuel_flow_lps", self.fuel_flow_lps, strict=True)
        _finite("tyre_change_s", self.tyre_change_s)
        _finite("driver_change_s", self.driver_change_s)
        if self.tank_l < self.fuel_per_lap_l:
            raise InvalidInputError(
                f"tank_l ({self.tank_l:g} l) holds less than one lap of fuel ({self.fuel_per_lap_l:g} l/lap)"
            )

    @property
    def laps_per_tank(self) -> int:
        """Whole laps a full tank allows (>= 1)."""
        return max(1, math.floor(self.tank_l / self.fuel_per_lap_l + 1e-9))

    def stop_s(self, fuel_l: float, *, new_tyres: bool, driver_change: bool) -> float:
        """Time lost in one stop that takes `fuel_l` litres."""
        service = max(fuel_l / self.fuel_flow_lps, self.tyre_change_s if new_tyres else 0.0)
        return self.pit_loss_s + service + (self.driver_change_s if driver_change else 0.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lap_time_s": self.lap_time_s,
            "fuel_per_lap_l": self.fuel_per_lap_l,
            "tank_l": self.tank_l,
            "pit_loss_s": self.pit_loss_s,
            "fuel_flow_lps": self.fuel_flow_lps,
            "tyre_change_s": self.tyre_change_s,
            "driver_change_s": self.driver_change_s,
        }


@dataclass(frozen=True, slots=True)
class Stint:
    """One fuel stint. `start_lap` is the number of laps completed before it; it runs laps
    `start_lap + 1 .. end_lap`. `stop_s` is the pit stop before it (0 for the first stint of the race),
    `start_s`/`end_s` race-clock times leaving the pits / entering them. `completed` marks a stint
    already driven (kept by `replan`)."""

    index: int
    driver: str
    start_lap: int
    laps: int
    start_s: float
    end_s: float
    fuel_l: float
    new_tyres: bool
    tyre_set: int
    stop_s: float
    completed: bool = False

    @property
    def end_lap(self) -> int:
        return self.start_lap + self.laps

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "driver": self.driver,
            "start_lap": self.start_lap,
            "end_lap": self.end_lap,
            "laps": self.laps,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "duration_s": self.duration_s,
            "fuel_l": self.fuel_l,
            "new_tyres": self.new_tyres,
            "tyre_set": self.tyre_set,
            "stop_s": self.stop_s,
            "completed": self.completed,
        }


@dataclass(frozen=True, slots=True)
class Handoff:
    """A proposed driver change: the car pits at the end of lap `lap` (at `at_s`) and `to_driver` takes over."""

    lap: int
    at_s: float
    from_driver: str
    to_driver: str

    def to_dict(self) -> dict[str, Any]:
        return {"lap": self.lap, "at_s": self.at_s, "from_driver": self.from_driver, "to_driver": self.to_driver}


@dataclass(frozen=True, slots=True)
class DriverTotal:
    """One driver's part of a plan."""

    driver: str
    driving_s: float
    laps: int
    stints: int
    share: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "driving_s": self.driving_s,
            "laps": self.laps,
            "stints": self.stints,
            "share": self.share,
        }


@dataclass(frozen=True, slots=True)
class Violation:
    """One rule a plan breaks: `rule` is its name, `message` says where and by how much."""

    rule: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "message": self.message}


@dataclass(frozen=True, slots=True)
class StintPlan:
    """A complete plan for the race: every stint (driven and planned), and every rule it breaks."""

    race_s: float
    drivers: tuple[str, ...]
    rules: StintRules
    car: CarParams
    stints: tuple[Stint, ...]
    violations: tuple[Violation, ...] = ()
    unavailable: tuple[str, ...] = ()

    @property
    def feasible(self) -> bool:
        return not self.violations

    @property
    def unmet_rules(self) -> tuple[str, ...]:
        """Names of the rules the plan breaks, sorted, each once."""
        return tuple(sorted({v.rule for v in self.violations}))

    @property
    def total_laps(self) -> int:
        return self.stints[-1].end_lap if self.stints else 0

    @property
    def total_driving_s(self) -> float:
        return sum(s.duration_s for s in self.stints)

    @property
    def handoffs(self) -> tuple[Handoff, ...]:
        """Driver changes (each at a fuel stop), in order."""
        return tuple(
            Handoff(prev.end_lap, prev.end_s, prev.driver, nxt.driver)
            for prev, nxt in zip(self.stints, self.stints[1:], strict=False)
            if prev.driver != nxt.driver
        )

    @property
    def handoff_laps(self) -> tuple[int, ...]:
        """Laps at whose end the car pits for a driver change."""
        return tuple(h.lap for h in self.handoffs)

    def driver_totals(self) -> tuple[DriverTotal, ...]:
        """Per-driver driving time, laps, stints and share, in lineup order."""
        total = self.total_driving_s
        result = []
        for driver in self.drivers:
            mine = [s for s in self.stints if s.driver == driver]
            driving = sum(s.duration_s for s in mine)
            result.append(
                DriverTotal(
                    driver, driving, sum(s.laps for s in mine), len(mine), driving / total if total > 0 else 0.0
                )
            )
        return tuple(result)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready document (no NaN, no infinities) for the relay (`stint_plan`) and dashboards."""
        return {
            "race_s": self.race_s,
            "drivers": list(self.drivers),
            "unavailable": list(self.unavailable),
            "rules": self.rules.to_dict(),
            "car": self.car.to_dict(),
            "feasible": self.feasible,
            "unmet_rules": list(self.unmet_rules),
            "violations": [v.to_dict() for v in self.violations],
            "total_laps": self.total_laps,
            "total_driving_s": self.total_driving_s,
            "stints": [s.to_dict() for s in self.stints],
            "handoffs": [h.to_dict() for h in self.handoffs],
            "handoff_laps": list(self.handoff_laps),
            "driver_totals": [t.to_dict() for t in self.driver_totals()],
        }


@dataclass(frozen=True, slots=True)
class DrivenStint:
    """A stint actually driven: who, how many laps, when it started and how long it took (s)."""

    driver: str
    laps: int
    start_s: float
    duration_s: float
    new_tyres: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "laps": self.laps,
            "start_s": self.start_s,
            "duration_s": self.duration_s,
            "new_tyres": self.new_tyres,
        }


@dataclass(frozen=True, slots=True)
class LiveState:
    """Where the race stands when replanning, at a stop: the car has just entered the pits.

    `laps_done` and `elapsed_s` are the laps completed and the race clock now; `driven` the stints
    completed so far, in order; `delay_s` extra time lost at this stop (repair, penalty, a slow
    driver change); `unavailable` drivers who cannot drive any more.
    """

    laps_done: int
    elapsed_s: float
    driven: tuple[DrivenStint, ...]
    delay_s: float = 0.0
    unavailable: frozenset[str] = field(default_factory=frozenset)

    def to_dict(self) -> dict[str, Any]:
        return {
            "laps_done": self.laps_done,
            "elapsed_s": self.elapsed_s,
            "driven": [d.to_dict() for d in self.driven],
            "delay_s": self.delay_s,
            "unavailable": sorted(self.unavailable),
        }


# --------------------------------------------------------------------------- incremental rule tracking


class _Tracker:
    """Running state of a plan as stints are appended, recording each rule the plan breaks."""

    def __init__(self, rules: StintRules, car: CarParams, drivers: Sequence[str]) -> None:
        self.rules = rules
        self.car = car
        self.total_s = dict.fromkeys(drivers, 0.0)
        self.last_end_s: dict[str, float | None] = dict.fromkeys(drivers, None)
        self.current: str | None = None
        self.spell_start_s = 0.0
        self.on_set = 0
        self.violations: list[Violation] = []

    def push(self, stint: Stint) -> None:
        rules = self.rules
        if stint.driver != self.current:
            last = self.last_end_s[stint.driver]
            if last is not None and stint.start_s - last < rules.min_rest_between_stints_s - EPS_S:
                self.violations.append(
                    Violation(
                        RULE_MIN_REST,
                        f"{stint.driver} rests {(stint.start_s - last) / 60:.1f} min before stint {stint.index + 1}, "
                        f"rule {rules.min_rest_between_stints_s / 60:.1f} min",
                    )
                )
            self.current = stint.driver
            self.spell_start_s = stint.start_s
        spell = stint.end_s - self.spell_start_s
        if spell > rules.max_continuous_driving_s + EPS_S:
            self.violations.append(
                Violation(
                    RULE_MAX_CONTINUOUS,
                    f"{stint.driver} drives {spell / 60:.1f} min without a break up to stint {stint.index + 1}, "
                    f"rule {rules.max_continuous_driving_s / 60:.1f} min",
                )
            )
        self.on_set = 1 if stint.new_tyres else self.on_set + 1
        if self.on_set > rules.tyre_stints_per_set:
            self.violations.append(
                Violation(RULE_TYRES, f"stint {stint.index + 1} is stint {self.on_set} on one tyre set")
            )
        if stint.fuel_l > self.car.tank_l + 1e-9:
            self.violations.append(
                Violation(RULE_TANK, f"stint {stint.index + 1} needs {stint.fuel_l:.1f} l, tank {self.car.tank_l:g} l")
            )
        self.total_s[stint.driver] += stint.duration_s
        self.last_end_s[stint.driver] = stint.end_s


def _share_violations(totals: dict[str, float], rules: StintRules, *, label: str = "drives") -> list[Violation]:
    total = sum(totals.values())
    found = []
    for driver, driving in totals.items():
        share = driving / total if total > 0 else 0.0
        if share < rules.min_driver_share - EPS_SHARE:
            found.append(
                Violation(RULE_MIN_SHARE, f"{driver} {label} {share:.1%}, rule at least {rules.min_driver_share:.1%}")
            )
        if rules.max_driver_share is not None and share > rules.max_driver_share + EPS_SHARE:
            found.append(
                Violation(RULE_MAX_SHARE, f"{driver} {label} {share:.1%}, rule at most {rules.max_driver_share:.1%}")
            )
    return found


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True, slots=True)
class _Option:
    driver: str
    laps: int
    start_s: float
    end_s: float
    stop_s: float


def _run_laps(
    start_s: float,
    in_car_s: float,
    *,
    race_s: float,
    car: CarParams,
    rules: StintRules,
    max_laps: int,
    max_drive_s: float,
) -> tuple[int, float]:
    """Laps a driver can run from `start_s` having been `in_car_s` in the car: stops at the flag, at
    `max_laps`, before the spell would pass `max_continuous_driving_s`, or before driving `max_drive_s`.
    A car leaving the pits after `race_s` still runs one lap to take the flag."""
    t = start_s
    in_car = in_car_s
    laps = 0
    while laps < max_laps and (t < race_s or laps == 0):
        lap_s = car.lap_time_s + rules.fatigue_s_per_hour * in_car / 3600.0
        if in_car + lap_s > rules.max_continuous_driving_s + EPS_S or (t - start_s) + lap_s > max_drive_s + EPS_S:
            break
        t += lap_s
        in_car += lap_s
        laps += 1
    return laps, t


class _Planner:
    def __init__(
        self,
        race_s: float,
        drivers: tuple[str, ...],
        unavailable: frozenset[str],
        rules: StintRules,
        car: CarParams,
    ) -> None:
        self.race_s = race_s
        self.drivers = drivers
        self.active = tuple(d for d in drivers if d not in unavailable)
        self.rules = rules
        self.car = car
        self.tracker = _Tracker(rules, car, drivers)
        self.stints: list[Stint] = []

    # -- helpers

    def _estimate_total_driving_s(self, clock_s: float) -> float:
        car, rules = self.car, self.rules
        stint_s = min(car.laps_per_tank * car.lap_time_s, max(rules.max_continuous_driving_s, car.lap_time_s))
        stint_laps = max(1.0, stint_s / car.lap_time_s)
        typical_stop = car.stop_s(
            stint_laps * car.fuel_per_lap_l, new_tyres=rules.tyre_stints_per_set == 1, driver_change=True
        )
        fraction = stint_s / (stint_s + typical_stop)
        driven = sum(self.tracker.total_s.values())
        return driven + max(0.0, self.race_s - clock_s) * fraction

    def _option(
        self, driver: str, clock_s: float, delay_s: float, *, share_caps: bool, est_total_s: float
    ) -> _Option | None:
        """The stint `driver` would drive from the stop at `clock_s`, or None if they cannot drive one lap."""
        car, rules, tracker = self.car, self.rules, self.tracker
        first = not self.stints
        continuing = driver == tracker.current
        new_tyres = first or tracker.on_set >= rules.tyre_stints_per_set
        max_drive = math.inf
        if share_caps:
            if rules.max_driver_share is not None:
                max_drive = rules.max_driver_share * est_total_s - tracker.total_s[driver] - car.lap_time_s
            if rules.min_driver_share > 0:
                reserve = 0.0
                for other in self.active:
                    deficit = rules.min_driver_share * est_total_s - tracker.total_s[other]
                    if other != driver and deficit > 0:
                        reserve += deficit + car.lap_time_s + car.stop_s(car.tank_l, new_tyres=True, driver_change=True)
                if reserve > 0:
                    max_drive = min(max_drive, self.race_s - clock_s - reserve)
        guess = car.laps_per_tank
        laps, end_s, start_s, stop_s = 0, clock_s, clock_s, 0.0
        for _ in range(4):
            stop_s = (
                0.0
                if first
                else car.stop_s(guess * car.fuel_per_lap_l, new_tyres=new_tyres, driver_change=not continuing)
            )
            start_s = clock_s + delay_s + stop_s
            in_car = start_s - tracker.spell_start_s if continuing else 0.0
            laps, end_s = _run_laps(
                start_s,
                in_car,
                race_s=self.race_s,
                car=car,
                rules=rules,
                max_laps=car.laps_per_tank,
                max_drive_s=max_drive,
            )
            if laps == guess or laps == 0:
                break
            guess = laps
        if laps == 0:
            return None
        # Make stop, start and end consistent with the laps finally chosen.
        stop_s = (
            0.0 if first else car.stop_s(laps * car.fuel_per_lap_l, new_tyres=new_tyres, driver_change=not continuing)
        )
        start_s = clock_s + delay_s + stop_s
        in_car = start_s - tracker.spell_start_s if continuing else 0.0
        laps, end_s = _run_laps(
            start_s, in_car, race_s=self.race_s, car=car, rules=rules, max_laps=laps, max_drive_s=math.inf
        )
        return _Option(driver, laps, start_s, end_s, stop_s)

    def _forced(self, driver: str, clock_s: float, delay_s: float) -> _Option:
        """A stint that breaks `max_continuous_driving_s` because no one else may drive: a full tank,
        or one lap when not even one lap fits in the rule."""
        car, rules, tracker = self.car, self.rules, self.tracker
        first = not self.stints
        continuing = driver == tracker.current
        new_tyres = first or tracker.on_set >= rules.tyre_stints_per_set
        relaxed = replace(rules, max_continuous_driving_s=1e300)
        max_laps = car.laps_per_tank if continuing else 1
        stop_s = (
            0.0
            if first
            else car.stop_s(max_laps * car.fuel_per_lap_l, new_tyres=new_tyres, driver_change=not continuing)
        )
        start_s = clock_s + delay_s + stop_s
        in_car = start_s - tracker.spell_start_s if continuing else 0.0
        laps, end_s = _run_laps(
            start_s, in_car, race_s=self.race_s, car=car, rules=relaxed, max_laps=max_laps, max_drive_s=math.inf
        )
        laps = max(laps, 1)
        if laps < max_laps and not first:
            stop_s = car.stop_s(laps * car.fuel_per_lap_l, new_tyres=new_tyres, driver_change=not continuing)
            start_s = clock_s + delay_s + stop_s
            in_car = start_s - tracker.spell_start_s if continuing else 0.0
            laps, end_s = _run_laps(
                start_s, in_car, race_s=self.race_s, car=car, rules=relaxed, max_laps=laps, max_drive_s=math.inf
            )
            laps = max(laps, 1)
            if end_s <= start_s:
                end_s = start_s + car.lap_time_s
        return _Option(driver, laps, start_s, end_s, stop_s)

    def _rested(self, driver: str, start_s: float) -> bool:
        last = self.tracker.last_end_s[driver]
        return last is None or start_s - last >= self.rules.min_rest_between_stints_s - EPS_S

    def _last_end(self, driver: str) -> float:
        last = self.tracker.last_end_s[driver]
        return -math.inf if last is None else last

    def _rank(self, option: _Option) -> tuple[float, float, int]:
        last = self.tracker.last_end_s[option.driver]
        return (
            self.tracker.total_s[option.driver],
            -math.inf if last is None else last,
            self.drivers.index(option.driver),
        )

    def _choose(self, clock_s: float, delay_s: float) -> _Option:
        est_total = self._estimate_total_driving_s(clock_s)
        current = self.tracker.current
        for share_caps in (True, False):
            options = [
                o
                for d in self.active
                if (o := self._option(d, clock_s, delay_s, share_caps=share_caps, est_total_s=est_total)) is not None
                and (d == current or self._rested(d, o.start_s))
            ]
            if options:
                return min(options, key=self._rank)
        # Nobody fully rested may drive: the driver who rested longest takes over (breaks the rest rule).
        others = [
            o
            for d in self.active
            if d != current
            and (o := self._option(d, clock_s, delay_s, share_caps=False, est_total_s=est_total)) is not None
        ]
        if others:
            return min(others, key=lambda o: (self._last_end(o.driver), self._rank(o)))
        # Nobody may drive even one lap within the continuous-driving rule.
        if current is not None and current in self.active:
            return self._forced(current, clock_s, delay_s)
        return self._forced(min(self.active, key=self._last_end), clock_s, delay_s)

    def push(self, stint: Stint) -> None:
        self.tracker.push(stint)
        self.stints.append(stint)

    def run(self, clock_s: float, delay_s: float) -> None:
        car = self.car
        while not self.stints or self.stints[-1].end_s < self.race_s:
            if len(self.stints) >= MAX_STINTS:
                raise StrategyError(f"plan needs more than {MAX_STINTS} stints; check lap time and race length")
            option = self._choose(clock_s, delay_s)
            first = not self.stints
            new_tyres = first or self.tracker.on_set >= self.rules.tyre_stints_per_set
            tyre_set = 1 if first else self.stints[-1].tyre_set + (1 if new_tyres else 0)
            start_lap = self.stints[-1].end_lap if self.stints else 0
            self.push(
                Stint(
                    index=len(self.stints),
                    driver=option.driver,
                    start_lap=start_lap,
                    laps=option.laps,
                    start_s=option.start_s,
                    end_s=option.end_s,
                    fuel_l=option.laps * car.fuel_per_lap_l,
                    new_tyres=new_tyres,
                    tyre_set=tyre_set,
                    stop_s=option.stop_s,
                )
            )
            clock_s, delay_s = option.end_s, 0.0

    def plan(self) -> StintPlan:
        violations = list(self.tracker.violations) + _share_violations(self.tracker.total_s, self.rules)
        unavailable = tuple(d for d in self.drivers if d not in self.active)
        return StintPlan(
            self.race_s, self.drivers, self.rules, self.car, tuple(self.stints), tuple(violations), unavailable
        )


def _check_drivers(drivers: Iterable[str]) -> tuple[str, ...]:
    lineup = tuple(drivers)
    if not lineup:
        raise InvalidInputError("at least one driver is needed")
    for name in lineup:
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(f"driver names must be non-empty text, got {name!r}")
    if len(set(lineup)) != len(lineup):
        raise InvalidInputError(f"driver names must be unique, got {', '.join(lineup)}")
    return lineup


def plan_stints(race_s: float, drivers: Sequence[str], rules: StintRules, car: CarParams) -> StintPlan:
    """Plan a timed race of `race_s` seconds for `drivers` (in preferred order) under `rules`.

    Each stint is as long as the tank, the driver's continuous-driving allowance and the share rules
    allow; the next driver is the rested one with the least driving so far (the current driver stays in
    for a double stint when that is the best choice). Rules that cannot be met are named in
    `violations`; the plan is still complete (it covers the whole race).

    Raises InvalidInputError for a non-positive race or a bad lineup.
    """
    _finite("race_s", race_s, strict=True)
    lineup = _check_drivers(drivers)
    planner = _Planner(float(race_s), lineup, frozenset(), rules, car)
    planner.run(0.0, 0.0)
    return planner.plan()


def replan(plan: StintPlan, live: LiveState) -> StintPlan:
    """A new plan for the rest of the race from `live`: the driven stints are kept (as `completed`),
    `live.delay_s` is added to the next stop, and unavailable drivers get no more stints.

    Raises InvalidInputError when the live state does not add up (laps, times, unknown drivers), and
    RuleViolationError("unavailable_drivers", ...) when no driver is left.
    """
    _finite("elapsed_s", live.elapsed_s)
    _finite("delay_s", live.delay_s)
    unknown = (set(live.unavailable) | {d.driver for d in live.driven}) - set(plan.drivers)
    if unknown:
        raise InvalidInputError(f"unknown drivers in live state: {', '.join(sorted(unknown))}")
    unavailable = frozenset(live.unavailable) | frozenset(plan.unavailable)
    if all(d in unavailable for d in plan.drivers):
        raise RuleViolationError(RULE_UNAVAILABLE, "no driver is left to drive the rest of the race")
    if sum(d.laps for d in live.driven) != live.laps_done:
        raise InvalidInputError(
            f"laps_done is {live.laps_done} but the driven stints add up to {sum(d.laps for d in live.driven)} laps"
        )
    car = plan.car
    planner = _Planner(plan.race_s, plan.drivers, unavailable, plan.rules, car)
    previous_end = 0.0
    tyre_set = 0
    for driven in live.driven:
        if driven.laps < 1:
            raise InvalidInputError(f"a driven stint has {driven.laps} laps; at least 1 expected")
        _finite("start_s", driven.start_s)
        _finite("duration_s", driven.duration_s, strict=True)
        if driven.start_s < previous_end - EPS_S:
            raise InvalidInputError("driven stints overlap or are out of order")
        first = not planner.stints
        new_tyres = first or driven.new_tyres
        tyre_set += 1 if new_tyres else 0
        planner.push(
            Stint(
                index=len(planner.stints),
                driver=driven.driver,
                start_lap=planner.stints[-1].end_lap if planner.stints else 0,
                laps=driven.laps,
                start_s=driven.start_s,
                end_s=driven.start_s + driven.duration_s,
                fuel_l=driven.laps * car.fuel_per_lap_l,
                new_tyres=new_tyres,
                tyre_set=tyre_set,
                stop_s=driven.start_s - previous_end if not first else 0.0,
                completed=True,
            )
        )
        previous_end = driven.start_s + driven.duration_s
    if live.elapsed_s < previous_end - EPS_S:
        raise InvalidInputError(f"elapsed_s {live.elapsed_s:g} is before the end of the last driven stint")
    planner.run(max(live.elapsed_s, previous_end), live.delay_s)
    return planner.plan()


# --------------------------------------------------------------------------- independent checks


def check_plan(plan: StintPlan, rules: StintRules | None = None) -> list[Violation]:
    """Every rule `plan` breaks, checked from its stints alone (not from how it was built)."""
    rules = plan.rules if rules is None else rules
    stints = plan.stints
    found: list[Violation] = []
    if not stints:
        return [Violation(RULE_RACE, "the plan has no stints")]

    # Shape: laps contiguous, times ordered, at least one lap per stint.
    for prev, nxt in zip(stints, stints[1:], strict=False):
        if nxt.start_lap != prev.end_lap or nxt.start_s < prev.end_s - EPS_S:
            found.append(Violation(RULE_CONSISTENCY, f"stint {nxt.index + 1} does not follow stint {prev.index + 1}"))
    if any(s.laps < 1 or s.end_s <= s.start_s for s in stints):
        found.append(Violation(RULE_CONSISTENCY, "a stint has no laps or no duration"))

    # The race is covered: the last stint takes the flag, no stint before it does.
    if stints[-1].end_s < plan.race_s - EPS_S:
        found.append(Violation(RULE_RACE, f"the plan ends at {stints[-1].end_s:.0f} s, before {plan.race_s:.0f} s"))
    if any(s.end_s >= plan.race_s for s in stints[:-1]):
        found.append(Violation(RULE_RACE, "a stint before the last one already reaches the end of the race"))

    # Fuel.
    for s in stints:
        if s.laps * plan.car.fuel_per_lap_l > plan.car.tank_l + 1e-9 or s.fuel_l > plan.car.tank_l + 1e-9:
            found.append(Violation(RULE_TANK, f"stint {s.index + 1} needs more fuel than the tank holds"))

    # Tyres: a set runs at most `tyre_stints_per_set` consecutive stints.
    run = 0
    for s in stints:
        run = 1 if (s.new_tyres or s.index == 0) else run + 1
        if run > rules.tyre_stints_per_set:
            found.append(Violation(RULE_TYRES, f"stint {s.index + 1} is stint {run} on one tyre set"))

    # Spells (consecutive stints of one driver): length, and rest before the next spell of that driver.
    spells: list[tuple[str, float, float]] = []
    for s in stints:
        if spells and spells[-1][0] == s.driver:
            spells[-1] = (s.driver, spells[-1][1], s.end_s)
        else:
            spells.append((s.driver, s.start_s, s.end_s))
    last_end: dict[str, float] = {}
    for driver, start, end in spells:
        if end - start > rules.max_continuous_driving_s + EPS_S:
            found.append(Violation(RULE_MAX_CONTINUOUS, f"{driver} drives a spell of {(end - start) / 60:.1f} min"))
        if driver in last_end and start - last_end[driver] < rules.min_rest_between_stints_s - EPS_S:
            found.append(Violation(RULE_MIN_REST, f"{driver} rests {(start - last_end[driver]) / 60:.1f} min"))
        last_end[driver] = end

    # Shares, over the whole lineup (an unavailable driver's missing time still counts).
    totals = dict.fromkeys(plan.drivers, 0.0)
    for s in stints:
        if s.driver not in totals:
            found.append(Violation(RULE_CONSISTENCY, f"stint {s.index + 1} driver {s.driver} is not in the lineup"))
            continue
        totals[s.driver] += s.duration_s
    found.extend(_share_violations(totals, rules))

    # Unavailable drivers drive no planned stint.
    for s in stints:
        if not s.completed and s.driver in plan.unavailable:
            found.append(Violation(RULE_UNAVAILABLE, f"stint {s.index + 1} is planned for unavailable {s.driver}"))
    return found


def validate_plan(plan: StintPlan, rules: StintRules | None = None) -> list[str]:
    """Names of the rules `plan` breaks (sorted, each once), checked independently; [] when it meets them all."""
    return sorted({v.rule for v in check_plan(plan, rules)})

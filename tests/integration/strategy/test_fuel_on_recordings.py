"""Fuel estimates checked against real and simulated races: what the tank actually did."""

from __future__ import annotations

import numpy as np
import pytest

from adapters.demo import DemoSim
from adapters.ibt import IbtFile
from adapters.laps import split_laps
from adapters.model import SessionFlag
from strategy.fuel import estimate_fuel_per_lap, fuel_plan, laps_remaining_by_laps
from tests.support.reference import reference_path

pytestmark = pytest.mark.integration


def test_martinsville_fuel_per_lap_equals_measured_drop_of_complete_laps() -> None:
    with IbtFile(reference_path("ibt", "skmodtour_martinsville_laps_2015.ibt")) as ibt:
        block = ibt.read_block()
    laps = split_laps(block)
    complete = [lap for lap in laps if lap.time_s is not None]
    assert len(complete) == 2
    measured = np.mean(
        [float(block.fuel_level_l[lap.start_index] - block.fuel_level_l[lap.end_index]) for lap in complete]
    )
    estimate = estimate_fuel_per_lap(laps)
    assert estimate.fuel_per_lap_l == pytest.approx(measured, rel=0.02)


def _race_outcome(seed: int) -> tuple[float, float]:
    """Fuel left at the flag (l) when the half-distance fuel-to-finish is followed, and the lap's burn."""
    rng = np.random.default_rng(seed)
    race_laps = int(rng.integers(8, 17))
    sim = DemoSim(seed=seed, laps=race_laps)
    block = sim.generate_block(int((race_laps + 1) * 120 * 60), cars=False)
    completed = block.lap_completed.astype(np.int64)
    half = int(np.flatnonzero(completed >= race_laps // 2)[0]) + 30  # a moment after the line
    laps_so_far = split_laps(block.slice(0, half))
    estimate = estimate_fuel_per_lap(laps_so_far)
    remaining = laps_remaining_by_laps(race_laps, int(completed[half]), float(block.lap_dist_frac[half]))
    plan = fuel_plan(0.0, estimate.fuel_per_lap_l, remaining)
    # "Followed": the tank holds exactly fuel_to_finish at half distance. What the car then burns
    # up to the chequered flag is what it really used (drops only; the demo does not refuel here).
    flag = int(np.flatnonzero((block.session_flags & np.uint32(SessionFlag.CHECKERED)) != 0)[0])
    fuel = block.fuel_level_l[half : flag + 1].astype(np.float64)
    burnt = float(np.clip(-np.diff(fuel), 0, None).sum())
    return plan.fuel_to_finish_l - burnt, estimate.fuel_per_lap_l


@pytest.mark.slow
def test_half_distance_fuel_to_finish_leaves_zero_to_one_lap_at_the_flag() -> None:
    outcomes = [_race_outcome(seed) for seed in range(100)]
    within = [0.0 <= left <= per_lap for left, per_lap in outcomes]
    left_laps = [left / per_lap for left, per_lap in outcomes]
    assert sum(within) >= 95, f"only {sum(within)}/100 within [0, 1] lap; laps left: {sorted(left_laps)[:5]}"

"""Fuel: consumption from representative laps only, laps left, fuel to finish by laps and by time."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.model import Lap, LapKind
from strategy.errors import InvalidInputError, NotEnoughDataError
from strategy.fuel import (
    estimate_fuel_per_lap,
    fuel_plan,
    green_flag_laps,
    laps_of_fuel_left,
    laps_remaining_by_laps,
    laps_remaining_by_time,
)


def lap(number: int, fuel: float | None, kind: LapKind = LapKind.FLYING, caution: bool = False) -> Lap:
    return Lap(number, kind, 0, 1, 0.0, 90.0, 90.0, 90.0, fuel, 60.0, (), caution)


def test_consumption_ignores_out_in_invalid_caution_laps_and_outliers() -> None:
    laps = [
        lap(1, 1.2, LapKind.OUT),
        lap(2, 3.0),
        lap(3, 3.1),
        lap(4, 1.0, caution=True),
        lap(5, 2.9),
        lap(6, 0.4, LapKind.INVALID),
        lap(7, 3.0),
        lap(8, 6.5),  # a tow counted as driving would look like this
        lap(9, 2.8, LapKind.IN),
    ]
    assert [x.number for x in green_flag_laps(laps)] == [2, 3, 5, 7, 8]
    estimate = estimate_fuel_per_lap(laps)
    assert estimate.fuel_per_lap_l == pytest.approx(3.0, abs=1e-9)
    assert estimate.laps_used == 4


def test_consumption_uses_recent_laps() -> None:
    laps = [lap(n, 3.0) for n in range(1, 11)] + [lap(n, 2.5) for n in range(11, 16)]
    assert estimate_fuel_per_lap(laps, recent=5).fuel_per_lap_l == pytest.approx(2.5)


def test_no_usable_lap_is_a_typed_error() -> None:
    with pytest.raises(NotEnoughDataError, match="at least one"):
        estimate_fuel_per_lap([lap(1, 2.0, LapKind.OUT)])


def test_laps_of_fuel_left() -> None:
    assert laps_of_fuel_left(30.0, 3.0) == pytest.approx(10.0)
    assert laps_of_fuel_left(-1.0, 3.0) == 0.0
    with pytest.raises(InvalidInputError):
        laps_of_fuel_left(10.0, 0.0)


def test_race_by_laps_remaining_counts_the_current_lap() -> None:
    assert laps_remaining_by_laps(30, 10, 0.25) == pytest.approx(19.75)
    assert laps_remaining_by_laps(30, 30, 0.1) == 0.0
    with pytest.raises(InvalidInputError):
        laps_remaining_by_laps(0, 0, 0.0)


def test_timed_race_includes_the_lap_after_the_clock() -> None:
    # 10 minutes left, leader and player at the line on 100 s laps: the leader crosses at
    # 100, 200, ..., 600 s; 600 is when the clock ends, so the race ends there: 6 laps.
    assert laps_remaining_by_time(600.0, 100.0, 0.0, 100.0, 0.0) == pytest.approx(6.0)
    # One second more on the clock: the leader must start another lap.
    assert laps_remaining_by_time(601.0, 100.0, 0.0, 100.0, 0.0) == pytest.approx(7.0)
    # Player half a lap behind the leader at the same pace: finishes at the crossing after the leader.
    assert laps_remaining_by_time(600.0, 100.0, 0.5, 100.0, 0.0) == pytest.approx(7.0)
    # A slower player (110 s laps) drives fewer laps than the leader.
    assert laps_remaining_by_time(600.0, 100.0, 0.0, 110.0, 0.0) == pytest.approx(6.0)
    assert laps_remaining_by_time(1200.0, 100.0, 0.0, 120.0, 0.0) == pytest.approx(10.0)


@given(st.floats(0, 7200), st.floats(60, 200), st.floats(0, 0.999), st.floats(1.0, 1.1), st.floats(0, 0.999))
def test_timed_race_player_always_finishes_at_a_line(
    time_left: float, leader_lap: float, leader_frac: float, slower: float, player_frac: float
) -> None:
    remaining = laps_remaining_by_time(time_left, leader_lap, leader_frac, leader_lap * slower, player_frac)
    assert remaining >= 0
    assert (remaining + player_frac) == pytest.approx(round(remaining + player_frac), abs=1e-6)
    # The player drives at least until the clock ends.
    assert (remaining + 1) * leader_lap * slower >= time_left - 1e-6


def test_fuel_plan_to_finish_and_to_add() -> None:
    plan = fuel_plan(20.0, 3.0, 10.0, tank_capacity_l=60.0, margin_laps=0.5)
    assert plan.fuel_to_finish_l == pytest.approx(31.5)
    assert plan.fuel_to_add_l == pytest.approx(11.5)
    assert plan.stops_needed == 1
    assert plan.laps_of_fuel_left == pytest.approx(20.0 / 3.0)
    assert plan.save_target_l_per_lap is None  # 1.85 l/lap instead of 3.0 is no lift-and-coast
    close = fuel_plan(29.0, 3.0, 10.0, tank_capacity_l=60.0, margin_laps=0.5)
    assert close.save_target_l_per_lap == pytest.approx((29.0 - 1.5) / 10.0)


def test_fuel_plan_when_the_tank_reaches_the_flag() -> None:
    plan = fuel_plan(40.0, 3.0, 10.0, tank_capacity_l=60.0)
    assert plan.fuel_to_add_l == 0.0 and plan.stops_needed == 0 and plan.save_target_l_per_lap is None


def test_fuel_plan_limited_by_the_tank_needs_more_stops() -> None:
    plan = fuel_plan(10.0, 3.0, 60.0, tank_capacity_l=60.0)
    assert plan.fuel_to_add_l == pytest.approx(50.0)
    assert plan.stops_needed == math.ceil((181.5 - 10.0) / 60.0)
    assert plan.save_target_l_per_lap is None  # saving cannot reach the flag from here


def test_fuel_plan_save_target_to_the_next_window() -> None:
    plan = fuel_plan(20.0, 3.0, 30.0, tank_capacity_l=100.0, laps_to_next_window=7.0)
    assert plan.save_target_l_per_lap == pytest.approx((20.0 - 1.5) / 7.0)
    assert plan.save_target_l_per_lap < 3.0


def test_fuel_plan_rejects_nonsense() -> None:
    with pytest.raises(InvalidInputError):
        fuel_plan(10.0, -1.0, 5.0)
    with pytest.raises(InvalidInputError):
        fuel_plan(10.0, 2.0, -5.0)
    with pytest.raises(InvalidInputError):
        fuel_plan(10.0, 2.0, 5.0, tank_capacity_l=0.0)
    assert set(fuel_plan(10.0, 2.0, 5.0).to_dict()) >= {"fuel_to_finish_l", "fuel_to_add_l", "save_target_l_per_lap"}
